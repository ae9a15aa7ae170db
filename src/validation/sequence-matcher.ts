/**
 * A port of the parts of Python's difflib.SequenceMatcher that Django's
 * UserAttributeSimilarityValidator depends on. Similarity scores decide whether a password is
 * rejected, so the arithmetic follows CPython step by step (including autojunk and the order in
 * which matching blocks are found) to give the same floats as Django for the same inputs.
 *
 * Strings are compared by Unicode code point, as Python does, not by UTF-16 code unit.
 */

export interface Match {
  readonly a: number;
  readonly b: number;
  readonly size: number;
}

export interface SequenceMatcherOptions<T> {
  a?: string | readonly T[];
  b?: string | readonly T[];
  /** Elements of `b` to ignore; Django passes none. */
  isjunk?: (element: T) => boolean;
  /** Python's default: in a `b` of 200+ elements, elements making up more than 1% + 1 are "popular". */
  autojunk?: boolean;
}

function toSequence<T>(value: string | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  // Array.from walks code points, matching Python's str indexing.
  return typeof value === 'string' ? (Array.from(value) as unknown as T[]) : value;
}

function calculateRatio(matches: number, length: number): number {
  return length ? (2.0 * matches) / length : 1.0;
}

export class SequenceMatcher<T = string> {
  private readonly a: readonly T[];
  private readonly b: readonly T[];
  private readonly b2j = new Map<T, number[]>();
  private readonly bjunk = new Set<T>();
  private readonly bpopular = new Set<T>();
  private matchingBlocks: Match[] | undefined;
  private fullbcount: Map<T, number> | undefined;

  constructor(options: SequenceMatcherOptions<T> = {}) {
    this.a = toSequence(options.a);
    this.b = toSequence(options.b);
    this.chainB(options.isjunk, options.autojunk ?? true);
  }

  private chainB(isjunk: ((element: T) => boolean) | undefined, autojunk: boolean): void {
    const { b, b2j } = this;
    b.forEach((elt, i) => {
      const indices = b2j.get(elt);
      if (indices) indices.push(i);
      else b2j.set(elt, [i]);
    });

    if (isjunk) {
      for (const elt of b2j.keys()) if (isjunk(elt)) this.bjunk.add(elt);
      for (const elt of this.bjunk) b2j.delete(elt);
    }

    const n = b.length;
    if (autojunk && n >= 200) {
      const ntest = Math.floor(n / 100) + 1;
      for (const [elt, idxs] of b2j) if (idxs.length > ntest) this.bpopular.add(elt);
      for (const elt of this.bpopular) b2j.delete(elt);
    }
  }

  findLongestMatch(alo = 0, ahi = this.a.length, blo = 0, bhi = this.b.length): Match {
    const { a, b, b2j, bjunk } = this;
    const at = (seq: readonly T[], i: number): T => seq[i] as T;
    let besti = alo;
    let bestj = blo;
    let bestsize = 0;
    let j2len = new Map<number, number>();
    for (let i = alo; i < ahi; i++) {
      const newj2len = new Map<number, number>();
      for (const j of b2j.get(at(a, i)) ?? []) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) ?? 0) + 1;
        newj2len.set(j, k);
        if (k > bestsize) {
          besti = i - k + 1;
          bestj = j - k + 1;
          bestsize = k;
        }
      }
      j2len = newj2len;
    }

    // Popular elements are absent from b2j, so the best match is widened over them here, exactly
    // as CPython does; skipping this would change ratios for long values.
    while (besti > alo && bestj > blo && !bjunk.has(at(b, bestj - 1)) && at(a, besti - 1) === at(b, bestj - 1)) {
      besti--;
      bestj--;
      bestsize++;
    }
    while (
      besti + bestsize < ahi &&
      bestj + bestsize < bhi &&
      !bjunk.has(at(b, bestj + bestsize)) &&
      at(a, besti + bestsize) === at(b, bestj + bestsize)
    ) {
      bestsize++;
    }
    while (besti > alo && bestj > blo && bjunk.has(at(b, bestj - 1)) && at(a, besti - 1) === at(b, bestj - 1)) {
      besti--;
      bestj--;
      bestsize++;
    }
    while (
      besti + bestsize < ahi &&
      bestj + bestsize < bhi &&
      bjunk.has(at(b, bestj + bestsize)) &&
      at(a, besti + bestsize) === at(b, bestj + bestsize)
    ) {
      bestsize++;
    }
    return { a: besti, b: bestj, size: bestsize };
  }

  getMatchingBlocks(): Match[] {
    if (this.matchingBlocks) return this.matchingBlocks;
    const la = this.a.length;
    const lb = this.b.length;
    // A LIFO queue, as in CPython: the order blocks are discovered in can change which of several
    // equally long matches wins, and with it the final ratio.
    const queue: Array<[number, number, number, number]> = [[0, la, 0, lb]];
    const found: Match[] = [];
    while (queue.length) {
      const [alo, ahi, blo, bhi] = queue.pop()!;
      const x = this.findLongestMatch(alo, ahi, blo, bhi);
      const { a: i, b: j, size: k } = x;
      if (k) {
        found.push(x);
        if (alo < i && blo < j) queue.push([alo, i, blo, j]);
        if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
      }
    }
    found.sort((x, y) => x.a - y.a || x.b - y.b || x.size - y.size);

    let i1 = 0;
    let j1 = 0;
    let k1 = 0;
    const nonAdjacent: Match[] = [];
    for (const { a: i2, b: j2, size: k2 } of found) {
      if (i1 + k1 === i2 && j1 + k1 === j2) {
        k1 += k2;
      } else {
        if (k1) nonAdjacent.push({ a: i1, b: j1, size: k1 });
        i1 = i2;
        j1 = j2;
        k1 = k2;
      }
    }
    if (k1) nonAdjacent.push({ a: i1, b: j1, size: k1 });
    nonAdjacent.push({ a: la, b: lb, size: 0 });
    this.matchingBlocks = nonAdjacent;
    return nonAdjacent;
  }

  ratio(): number {
    const matches = this.getMatchingBlocks().reduce((sum, block) => sum + block.size, 0);
    return calculateRatio(matches, this.a.length + this.b.length);
  }

  /** An upper bound on ratio(); what Django's similarity check actually compares against. */
  quickRatio(): number {
    if (!this.fullbcount) {
      this.fullbcount = new Map();
      for (const elt of this.b) this.fullbcount.set(elt, (this.fullbcount.get(elt) ?? 0) + 1);
    }
    const fullbcount = this.fullbcount;
    const avail = new Map<T, number>();
    let matches = 0;
    for (const elt of this.a) {
      const numb = avail.has(elt) ? avail.get(elt)! : (fullbcount.get(elt) ?? 0);
      avail.set(elt, numb - 1);
      if (numb > 0) matches++;
    }
    return calculateRatio(matches, this.a.length + this.b.length);
  }

  realQuickRatio(): number {
    const la = this.a.length;
    const lb = this.b.length;
    return calculateRatio(Math.min(la, lb), la + lb);
  }
}
