/**
 * `npm run bench`: each figure is a throughput ratio of portcullis against a baseline measured in the
 * same run on the same machine, so the targets mean the same thing on a laptop and on a CI box.
 * Servers, load generator and hasher baseline each run in a child process of their own.
 * Writes bench/results/latest.json and latest.svg; the exit code is 1 when any figure fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { barChart } from './chart.js';
import { BENCH_USER, median, type Sample } from './common.js';
import type { LoadSpec } from './load.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CORES = availableParallelism();
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
// Overridable for quick trial runs. Five short rounds rather than three long ones: on a shared
// 2-core box other work comes and goes in bursts, and a median of five shrugs off two bad rounds.
// The defaults keep the whole bench around two minutes.
const WARMUP = num('BENCH_WARMUP', 2);
const DURATION = num('BENCH_DURATION', 4);
const ROUNDS = num('BENCH_ROUNDS', 5);
/** Enough keep-alive connections to keep a 2-core server busy without measuring queueing. */
const HTTP_CONNECTIONS = num('BENCH_CONNECTIONS', 10);

// ---------------------------------------------------------------- child processes

/**
 * Inherited PORTCULLIS_* settings are dropped so a developer's shell can never point the bench at a
 * real database; a figure adds back exactly what it wants.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PORTCULLIS_')));
  return { ...env, ...extra };
}

/** Every child still running, so an interrupted bench does not leave servers listening behind it. */
const children = new Set<ChildProcess>();

function nodeTs(script: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', script), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Runs load.ts or hasher.ts once and returns the Sample it prints. */
function runSample(script: string, arg: unknown, env = childEnv()): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = nodeTs(script, [JSON.stringify(arg)], env);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${script} exited with ${code}`));
      try {
        resolve(JSON.parse(line) as Sample);
      } catch {
        reject(new Error(`${script} printed no result: ${out.slice(0, 200)}`));
      }
    });
  });
}

interface RunningServer {
  origin: string;
  close(): Promise<void>;
}

/** Spawns server.ts and waits for its `READY <port>` line. */
function startServer(mode: 'portcullis' | 'bare', args: string[], env: NodeJS.ProcessEnv): Promise<RunningServer> {
  const child = nodeTs('server.ts', [mode, '0', ...args], env);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void close().then(() => reject(new Error(`${mode} server not ready in 60 s`))), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${mode} server exited with ${code} before it was ready`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const port = /^READY (\d+)$/.exec(line)?.[1];
      if (!port) return;
      clearTimeout(timer);
      resolve({ origin: `http://127.0.0.1:${port}`, close });
    });
  });
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  tempDirs.push(dir);
  return dir;
}
function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    removeTempDirs();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

// ---------------------------------------------------------------- figures

/** One side of a figure: a warm-up (discarded but checked for failures) and a measured round. */
interface Side {
  label: string;
  warmup?(): Promise<Sample>;
  round(): Promise<Sample>;
}

interface Figure {
  id: string;
  title: string;
  target: number;
  /** Starts what the figure needs; `defer` registers clean-up that runs however the figure ends. */
  prepare(defer: (fn: () => Promise<void>) => void): Promise<{ subject: Side; baseline: Side }>;
}

function httpSide(label: string, spec: Omit<LoadSpec, 'duration'>): Side {
  return {
    label,
    warmup: () => runSample('load.ts', { ...spec, duration: WARMUP }),
    round: () => runSample('load.ts', { ...spec, duration: DURATION }),
  };
}

/** A portcullis server on a fresh SQLite file; `env` lets later figures pick other stores. */
async function portcullisServer(defer: (fn: () => Promise<void>) => void, env: Record<string, string> = {}): Promise<RunningServer> {
  const server = await startServer('portcullis', [], childEnv({ PORTCULLIS_DATA_DIR: tempDir(), ...env }));
  defer(server.close);
  return server;
}

const LOGIN_BODY = JSON.stringify(BENCH_USER);

/** Logs in as a client would (JSON, no Origin header) and returns the `Cookie` header to send. */
async function sessionCookie(origin: string): Promise<string> {
  const res = await fetch(`${origin}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: LOGIN_BODY });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sessionid='));
  if (!cookie) throw new Error('login set no sessionid cookie');
  return cookie.split(';')[0]!;
}

const FIGURES: Figure[] = [
  {
    id: 'me-sqlite',
    title: 'GET /api/auth/me (cookie, SQLite sessions) vs bare Fastify',
    target: 0.6,
    async prepare(defer) {
      const server = await portcullisServer(defer);
      const cookie = await sessionCookie(server.origin);
      const me = await fetch(`${server.origin}/api/auth/me`, { headers: { cookie } });
      if (me.status !== 200) throw new Error(`/me answered ${me.status}`);
      // The baseline serves the very body /me gave, so both sides send the same bytes of JSON.
      const bare = await startServer('bare', [await me.text()], childEnv());
      defer(bare.close);
      return {
        subject: httpSide('portcullis /me', { url: `${server.origin}/api/auth/me`, headers: { cookie }, connections: HTTP_CONNECTIONS }),
        baseline: httpSide('bare route', { url: `${bare.origin}/api/auth/me`, connections: HTTP_CONNECTIONS }),
      };
    },
  },
  {
    id: 'login-sqlite',
    title: 'POST /api/auth/login (argon2id, SQLite) vs raw checkPassword',
    target: 0.9,
    async prepare(defer) {
      const server = await portcullisServer(defer);
      // Both sides get the same parallelism: twice the cores, as a busy login endpoint would see.
      const parallel = CORES * 2;
      return {
        subject: httpSide('portcullis login', {
          url: `${server.origin}/api/auth/login`,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: LOGIN_BODY,
          connections: parallel,
        }),
        baseline: {
          label: 'hashers.checkPassword',
          // hasher.ts warms up inside its own process each round: a warm-up in another process is useless.
          round: () => runSample('hasher.ts', { concurrency: parallel, duration: DURATION, warmup: 1 }),
        },
      };
    },
  },
];

// ---------------------------------------------------------------- running and reporting

interface SideResult {
  label: string;
  rounds: Sample[];
  rps: number;
  p50: number;
  p99: number;
}

interface FigureResult {
  id: string;
  title: string;
  target: number;
  ratio: number;
  roundRatios: number[];
  /** Non-2xx answers plus connection errors, warm-ups included; any one fails the figure. */
  failures: number;
  pass: boolean;
  subject?: SideResult;
  baseline?: SideResult;
  error?: string;
}

const log = (msg: string) => process.stderr.write(msg + '\n');

function summarise(side: Side, rounds: Sample[]): SideResult {
  return {
    label: side.label,
    rounds,
    rps: median(rounds.map((r) => r.rps)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
  };
}

async function runFigure(figure: Figure): Promise<FigureResult> {
  const cleanups: Array<() => Promise<void>> = [];
  const result: FigureResult = { id: figure.id, title: figure.title, target: figure.target, ratio: 0, roundRatios: [], failures: 0, pass: false };
  try {
    const { subject, baseline } = await figure.prepare((fn) => cleanups.push(fn));
    const count = (s: Sample) => (result.failures += s.non2xx + s.errors);
    for (const side of [subject, baseline]) if (side.warmup) count(await side.warmup());
    const samples = new Map<Side, Sample[]>([[subject, []], [baseline, []]]);
    for (let r = 0; r < ROUNDS; r++) {
      // Alternating which side goes first keeps slow drift (thermal, other tenants) from favouring one.
      for (const side of r % 2 ? [baseline, subject] : [subject, baseline]) {
        const s = await side.round();
        count(s);
        samples.get(side)!.push(s);
        log(`  ${figure.id} round ${r + 1}/${ROUNDS} ${side.label}: ${s.rps.toFixed(1)}/s non-2xx ${s.non2xx} errors ${s.errors}`);
      }
      result.roundRatios.push(samples.get(subject)![r]!.rps / samples.get(baseline)![r]!.rps);
    }
    result.subject = summarise(subject, samples.get(subject)!);
    result.baseline = summarise(baseline, samples.get(baseline)!);
    result.ratio = result.subject.rps / result.baseline.rps;
    result.pass = result.ratio >= figure.target && result.failures === 0;
  } catch (err) {
    result.error = (err as Error).message;
    log(`  ${figure.id} failed: ${result.error}`);
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
  }
  return result;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const side = (s?: SideResult) => (s ? `${s.rps.toFixed(1)}/s (p50 ${s.p50.toFixed(1)} p99 ${s.p99.toFixed(1)} ms)` : '-');

const host = { nproc: CORES, node: process.version, platform: `${process.platform}-${process.arch}`, cpu: cpus()[0]?.model ?? 'unknown' };
const settings = { warmupSeconds: WARMUP, roundSeconds: DURATION, rounds: ROUNDS, httpConnections: HTTP_CONNECTIONS };
log(`portcullis bench: nproc ${host.nproc}, node ${host.node}, ${host.cpu}; ${ROUNDS} rounds of ${DURATION} s after ${WARMUP} s warm-up`);

// BENCH_ONLY=id,id runs a subset, e.g. while working on one code path.
const only = process.env.BENCH_ONLY?.split(',');
const results: FigureResult[] = [];
try {
  for (const figure of FIGURES) if (!only || only.includes(figure.id)) results.push(await runFigure(figure));
} finally {
  removeTempDirs();
}

// The spread of per-round ratios shows how far to trust the median on a noisy or shared machine.
const spread = (r: FigureResult) => (r.roundRatios.length ? `${Math.min(...r.roundRatios).toFixed(2)}-${Math.max(...r.roundRatios).toFixed(2)}` : '-');
const rows = [['figure', 'portcullis', 'baseline', 'ratio', 'rounds', 'target', 'failures', 'result']];
for (const r of results) {
  const verdict = r.error ? 'ERROR' : r.pass ? 'pass' : 'FAIL';
  rows.push([r.id, side(r.subject), side(r.baseline), r.ratio.toFixed(3), spread(r), `>= ${r.target}`, String(r.failures), verdict]);
}
console.log(`\nnproc ${host.nproc}  node ${host.node}  ${host.platform}  ${host.cpu}`);
console.log(`median of ${ROUNDS} rounds x ${DURATION} s (warm-up ${WARMUP} s); ratio = median portcullis / median baseline\n`);
console.log(table(rows));
console.log('');
for (const r of results) console.log(`${r.id}: ${r.title}`);
for (const r of results) {
  if (r.error) console.log(`\n${r.id}: ${r.error}`);
  else if (r.failures) console.log(`\n${r.id}: ${r.failures} non-2xx responses or errors (counted as a failure)`);
}

const dir = join(ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const report = { date: new Date().toISOString(), ...host, settings, figures: results };
writeFileSync(join(dir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
const subtitle = `nproc ${host.nproc}, node ${host.node}, ${report.date.slice(0, 16)}Z; bar = ratio, dashed = target`;
writeFileSync(
  join(dir, 'latest.svg'),
  barChart('portcullis vs same-machine baselines', subtitle, results.map((r) => ({ label: r.id, ratio: r.ratio, target: r.target, pass: r.pass }))),
);
console.log(`\nwrote bench/results/latest.json and latest.svg`);
if (results.some((r) => !r.pass)) process.exitCode = 1;
