import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { holdersOf, identifiersOf, type Holder, type Identifier, type IdentifierField } from './identifiers.js';
import { originsOf, usersFromDjango, type Origin } from './origin.js';

/**
 * The first pass of an import: before anything is written, every Django user is matched against
 * portcullis (its recorded origin, its id, its identifiers) and against the other Django users, and
 * every case where it would take something it did not create is decided and written down. The
 * writing pass then only follows the decisions (and checks again, in its transaction).
 */

type Executor = Kysely<Database> | Transaction<Database>;

export type ConflictKind =
  /** The Django id belongs to a portcullis user that did not come from this Django user. */
  | 'id_taken'
  /** A username, email or phone names a portcullis account that did not come from this Django user. */
  | 'identifier_taken'
  /** Two users of the Django database share an identifier in portcullis's normal form (Alice and alice). */
  | 'django_duplicate'
  /** Portcullis changed between the check and the write (another process), or refused a row. */
  | 'changed';

export interface ImportConflict {
  djangoId: number;
  username: string;
  kind: ConflictKind;
  /** refused: the whole import stops; remapped: imported under `newId`; skipped: not imported (or not updated); cleared: imported without `field`. */
  action: 'refused' | 'remapped' | 'skipped' | 'cleared';
  field?: string;
  newId?: number;
  message: string;
}

export interface DjangoUserValues {
  id: number;
  values: Record<string, unknown>;
}

/** Visits the Django users in id order, a batch at a time. */
export type DjangoUserReader = (visit: (batch: DjangoUserValues[]) => Promise<void>) => Promise<void>;

export interface Survey {
  conflicts: ImportConflict[];
  /** Django ids whose id is taken and who would need --remap-ids. */
  idTaken: number;
  /** Django ids not to import (or, for users imported before, not to update). */
  skip: Set<number>;
  /** Django id → the identifier fields it is imported without. */
  clear: Map<number, string[]>;
  /** Django id → the new portcullis id (--remap-ids). */
  newIds: Map<number, number>;
}

export interface SurveyOptions {
  source: string;
  fields: IdentifierField[];
  remapIds: boolean;
}

/** A number from 52 bits of a key: the cheap first sieve for identifiers two Django users share. */
function sieve(identifier: Identifier): number {
  // A login key is a SHA-256 in hex already; another unique column's key is its text.
  return parseInt(identifier.login ? identifier.key.slice(0, 13) : hashText(identifier.key), 16);
}

function hashText(text: string): string {
  // Non-login keys are readable text, not hashes: FNV-1a over it, twice, as 13 hex digits.
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    a = Math.imul(a ^ text.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ text.charCodeAt(i), 0x811c9dc5) >>> 0;
  }
  return (a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0')).slice(0, 13);
}

interface Candidate {
  djangoId: number;
  username: string;
  identifier: Identifier;
  /** Its position among the user's identifiers (the username is 0). */
  order: number;
  /** The portcullis account it would go to already has this identifier. */
  own: boolean;
}

export async function surveyDjangoUsers(db: Executor, read: DjangoUserReader, options: SurveyOptions): Promise<Survey> {
  const survey: Survey = { conflicts: [], idTaken: 0, skip: new Set(), clear: new Map(), newIds: new Map() };

  // Pass 1: which identifiers appear more than once in the Django data (a sieve of numbers, so the
  // memory stays small whatever the size; a shared number is only a candidate, checked by its key).
  let sieves = new Float64Array(1 << 14);
  let count = 0;
  let maxDjangoId = 0;
  await read(async (batch) => {
    for (const user of batch) {
      maxDjangoId = Math.max(maxDjangoId, user.id);
      for (const identifier of identifiersOf(user.values, options.fields)) {
        if (count === sieves.length) {
          const grown = new Float64Array(sieves.length * 2);
          grown.set(sieves);
          sieves = grown;
        }
        sieves[count++] = sieve(identifier);
      }
    }
  });
  const sorted = sieves.subarray(0, count).sort();
  const shared = new Set<number>();
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) shared.add(sorted[i]!);
  sieves = new Float64Array(0);

  const maxOwn = await db.selectFrom('auth_user').select((eb) => eb.fn.max('id').as('m')).executeTakeFirst();
  let nextId = Math.max(maxDjangoId, Number(maxOwn?.m ?? 0)) + 1;

  // Pass 2: against portcullis, a batch at a time.
  const candidates = new Map<string, Candidate[]>();
  await read(async (batch) => {
    const ids = batch.map((u) => u.id);
    const own = await usersFromDjango(db, options.source, ids);
    const identifiers = new Map(batch.map((u) => [u.id, identifiersOf(u.values, options.fields)]));
    const holders = await holdersOf(db, [...identifiers.values()].flat());
    const lookup = [...new Set([...ids, ...own.values(), ...[...holders.values()].map((h) => h.userId)])];
    const present = await usernamesOf(db, lookup);
    const origins = await originsOf(db, lookup);
    const describe = (userId: number, as = '') => describeUser(userId, present.get(userId), origins.get(userId), options.source, as);

    for (const user of batch) {
      const username = String(user.values.username ?? '');
      const note = (c: Omit<ImportConflict, 'djangoId' | 'username'>) => survey.conflicts.push({ djangoId: user.id, username, ...c });
      let target: number | undefined = own.get(user.id);
      if (target !== undefined && !present.has(target)) target = undefined;
      if (target === undefined && present.has(user.id)) {
        survey.idTaken++;
        const message = `id ${user.id} belongs to ${describe(user.id)}`;
        if (options.remapIds) {
          const newId = nextId++;
          survey.newIds.set(user.id, newId);
          note({ kind: 'id_taken', action: 'remapped', newId, message: `${message}; imported as #${newId}` });
        } else note({ kind: 'id_taken', action: 'refused', message });
      } else target ??= user.id;

      let order = 0;
      for (const identifier of identifiers.get(user.id)!) {
        const holder = holders.get(identifier.key);
        const isOwn = holder !== undefined && holder.userId === target;
        if (holder && !isOwn) {
          const message = `${identifier.field} ${identifier.value} already belongs to ${describe(holder.userId, asField(holder, identifier))}`;
          if (identifier.field === 'username') {
            survey.skip.add(user.id);
            note({ kind: 'identifier_taken', action: 'skipped', field: 'username', message });
            break;
          }
          clearField(survey, user.id, identifier.field);
          note({ kind: 'identifier_taken', action: 'cleared', field: identifier.field, message });
        } else if (shared.has(sieve(identifier))) {
          const list = candidates.get(identifier.key) ?? [];
          list.push({ djangoId: user.id, username, identifier, order, own: isOwn });
          candidates.set(identifier.key, list);
        }
        order++;
      }
    }
  });

  // Identifiers Django users share: a username goes before any other field (a user cannot do without
  // it, and can without an email); then the one portcullis already gives it to, then the lowest id.
  const rank = (a: Candidate, b: Candidate) => Number(b.own) - Number(a.own) || a.djangoId - b.djangoId || a.order - b.order;
  const winners = new Map<string, Candidate>();
  for (const [key, list] of candidates) {
    const usernames = list.filter((c) => c.identifier.field === 'username' && !survey.skip.has(c.djangoId)).sort(rank);
    if (!usernames.length) continue;
    winners.set(key, usernames[0]!);
    for (const loser of usernames.slice(1)) {
      survey.skip.add(loser.djangoId);
      pushDuplicate(survey, loser, usernames[0]!, 'skipped');
    }
  }
  for (const [key, list] of candidates) {
    const rest = list.filter((c) => c.identifier.field !== 'username' && !survey.skip.has(c.djangoId)).sort(rank);
    const winner = winners.get(key) ?? rest[0];
    for (const loser of rest) {
      if (loser === winner || loser.djangoId === winner!.djangoId) continue;
      clearField(survey, loser.djangoId, loser.identifier.field);
      pushDuplicate(survey, loser, winner!, 'cleared');
    }
  }
  survey.conflicts.sort((a, b) => a.djangoId - b.djangoId);
  return survey;
}

function pushDuplicate(survey: Survey, loser: Candidate, winner: Candidate, action: 'skipped' | 'cleared'): void {
  const { field, value } = loser.identifier;
  const as = winner.identifier.field === field ? '' : ` as its ${winner.identifier.field}`;
  survey.conflicts.push({
    djangoId: loser.djangoId,
    username: loser.username,
    kind: 'django_duplicate',
    action,
    field,
    message: `${field} ${value} already belongs to user #${winner.djangoId} (${winner.username}) of this Django database${as}`,
  });
}

function clearField(survey: Survey, djangoId: number, field: string): void {
  const list = survey.clear.get(djangoId) ?? [];
  if (!list.includes(field)) list.push(field);
  survey.clear.set(djangoId, list);
}

function asField(holder: Holder, identifier: Identifier): string {
  return holder.field === identifier.field ? '' : ` as its ${holder.field}`;
}

/** "portcullis user #4 (bob)", what it has the value as, and where it came from. */
export function describeUser(userId: number, username: string | undefined, origin: Origin | undefined, source: string, as = ''): string {
  const name = `portcullis user #${userId}${username === undefined ? '' : ` (${username})`}${as}`;
  if (!origin) return `${name}, not imported from Django`;
  if (origin.source === source) return `${name}, imported from user #${origin.djangoId} of this Django database`;
  return `${name}, imported from another Django database`;
}

const CHUNK = 5000;

export async function usernamesOf(db: Executor, ids: number[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    for (const r of await db.selectFrom('auth_user').select(['id', 'username']).where('id', 'in', ids.slice(i, i + CHUNK)).execute()) out.set(Number(r.id), r.username);
  }
  return out;
}
