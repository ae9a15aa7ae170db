/**
 * Login timing harness (`npm run bench:timing`): many logins for an unknown user, an inactive user
 * and a wrong password, interleaved at random over one keep-alive connection, then the three latency
 * distributions side by side with a Mann-Whitney U test per pair. The medians must stay within 5% of
 * each other, or a stopwatch tells an attacker which accounts exist.
 *
 * TIMING_N (default 400) requests per case; the real default hasher (argon2id) is used.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPortcullis } from '../src/portcullis.js';
import { buildServer } from '../src/http/server.js';

const N = Number(process.env.TIMING_N ?? 400);
const WARMUP = 40;
const PASSWORD = 'correct horse battery staple';

/** Mann-Whitney U with the normal approximation and tie correction; two-sided p-value. */
export function mannWhitneyU(a: number[], b: number[]): { u: number; z: number; p: number } {
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(all.length);
  let tieTerm = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[k] = rank;
    const t = j - i + 1;
    tieTerm += t ** 3 - t;
    i = j + 1;
  }
  const n1 = a.length;
  const n2 = b.length;
  const r1 = all.reduce((sum, x, i) => (x.g === 0 ? sum + ranks[i]! : sum), 0);
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u = Math.min(u1, n1 * n2 - u1);
  const n = n1 + n2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  const z = sigma === 0 ? 0 : (u1 - (n1 * n2) / 2) / sigma;
  return { u, z, p: Math.min(1, 2 * (1 - normalCdf(Math.abs(z)))) };
}

/** Φ(x) via the Abramowitz–Stegun erf approximation (error < 1.5e-7). */
function normalCdf(x: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(x)) / Math.SQRT2);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-timing-'));
  const portcullis = await createPortcullis({
    databaseUrl: `sqlite:${join(dir, 'timing.sqlite3')}`,
    dataDir: dir,
    cwd: dir,
    env: {},
    secretKey: 'timing-harness-secret-key-0123456789abcdef',
    // Measure the login path itself, not the throttle's answers.
    throttle: { perClient: 1e9, perIp: 1e9, perAccount: 1e9, hardCeiling: 1e9 },
  });
  const app = await buildServer(portcullis, { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  const url = `http://127.0.0.1:${address.port}/api/auth/login`;
  await portcullis.users.createUser({ username: 'timing-active', password: PASSWORD, email: 'active@example.com' });
  const inactive = await portcullis.users.createUser({ username: 'timing-inactive', password: PASSWORD, email: 'inactive@example.com' });
  await portcullis.users.update(inactive.id, { is_active: false });

  const cases = {
    'unknown user': { username: 'timing-nobody', password: PASSWORD },
    'inactive user': { username: 'timing-inactive', password: PASSWORD },
    'wrong password': { username: 'timing-active', password: 'not the right password' },
  } as const;
  type Case = keyof typeof cases;
  const names = Object.keys(cases) as Case[];
  const samples: Record<Case, number[]> = { 'unknown user': [], 'inactive user': [], 'wrong password': [] };

  const order: Case[] = [];
  for (let i = 0; i < N + WARMUP; i++) order.push(...names);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const seen: Record<Case, number> = { 'unknown user': 0, 'inactive user': 0, 'wrong password': 0 };
  for (const name of order) {
    const body = JSON.stringify(cases[name]);
    const start = process.hrtime.bigint();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (res.status !== 401) throw new Error(`${name}: expected 401, got ${res.status}`);
    if (seen[name]++ >= WARMUP) samples[name].push(ms);
  }
  await app.close();
  await portcullis.close();
  rmSync(dir, { recursive: true, force: true });

  const fmt = (v: number) => v.toFixed(2).padStart(8);
  console.log(`login latency, ms (${N} requests per case after ${WARMUP} warm-up each, interleaved at random)\n`);
  console.log(`${'case'.padEnd(16)}${'p10'.padStart(8)}${'median'.padStart(8)}${'mean'.padStart(8)}${'p90'.padStart(8)}`);
  const medians = {} as Record<Case, number>;
  for (const name of names) {
    const sorted = [...samples[name]].sort((a, b) => a - b);
    medians[name] = quantile(sorted, 0.5);
    const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
    console.log(`${name.padEnd(16)}${fmt(quantile(sorted, 0.1))}${fmt(medians[name])}${fmt(mean)}${fmt(quantile(sorted, 0.9))}`);
  }
  console.log('\nMann-Whitney U (two-sided, normal approximation); median difference relative to the smaller median');
  let worst = 0;
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const a = names[i]!;
      const b = names[j]!;
      const { u, z, p } = mannWhitneyU(samples[a], samples[b]);
      const diff = Math.abs(medians[a] - medians[b]) / Math.min(medians[a], medians[b]);
      worst = Math.max(worst, diff);
      console.log(`  ${a} vs ${b}: U=${u.toFixed(0)} z=${z.toFixed(2)} p=${p.toFixed(3)} median diff ${(diff * 100).toFixed(2)}%`);
    }
  }
  const ok = worst <= 0.05;
  console.log(`\nlargest median difference ${(worst * 100).toFixed(2)}% — ${ok ? 'within' : 'OVER'} the 5% bound`);
  if (!ok) process.exitCode = 1;
}

await main();
