/**
 * `npm run bench`: each figure is a throughput ratio of portcullis against a baseline measured in the
 * same run on the same machine, so the targets mean the same thing on a laptop and on a CI box.
 *
 * What is measured is what ships: every server figure starts `node dist/cli/main.js serve` (the
 * built package, as `npm start` does) in a process and a fresh working directory of its own, with the
 * default configuration but for the database or session store and PORT=0; the app figures run a
 * small Fastify, Express and Hono app importing the built adapters (bench/apps.ts). Subject and
 * baseline alternate round by round under the same load; the ratio is the median of the per-round
 * ratios, a figure whose rounds disagree by more than BENCH_MAX_SPREAD (0.25) is measured again (up
 * to BENCH_RETRIES, 2, times) and otherwise fails as unsteady, and a ratio above 1 fails as a
 * measurement fault (except where both sides run the same server on different data: the scale
 * figures). Beside each ratio: the server process's CPU time per request (/proc/<pid>/stat).
 * Load generator and hasher baseline run in child processes of their own.
 * Writes bench/results/latest.json and latest.svg (BENCH_OUT=name for another name) and prints the
 * table as text and as markdown for the README; the exit code is 1 when any figure fails.
 *
 * Settings (environment): BENCH_ONLY=id,id runs a subset; BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP,
 * BENCH_CONNECTIONS shorten or lengthen rounds; BENCH_LOADGEN=wrk|autocannon picks the load generator
 * (default wrk, installed from Debian's packages when missing and this runs as root; see load.ts for
 * why); BENCH_SCALE=1 adds the 1,000,000-user figures
 * (BENCH_SCALE_USERS to try a smaller million); BENCH_MEMORY_SESSIONS (default 100,000);
 * BENCH_PG_URL and BENCH_REDIS_URL name the servers that throwaway databases and key prefixes go on.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { barChart } from './chart.js';
import { BENCH_USER, loadGenerator, median, seedSessionKey, seedUsername, type Sample, type SeedSpec } from './common.js';
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
/** Parallel logins: twice the cores, as a busy login endpoint would see (and the hasher baseline gets). */
const LOGIN_PARALLEL = CORES * 2;
/** The scale figures seed a million users and sessions per database: minutes, so off by default. */
const SCALE = process.env.BENCH_SCALE === '1';
const SCALE_USERS = num('BENCH_SCALE_USERS', 1_000_000);
const SCALE_BASE = 1_000;
/** How many distinct seeded sessions (and users) the scale figures spread their requests over. */
const SCALE_SAMPLE = 1_000;
const MEMORY_SESSIONS = num('BENCH_MEMORY_SESSIONS', 100_000);
const MEMORY_BASE = 1_000;
const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Largest max - min of the per-round ratios a figure may show; past it the rounds run again. */
const MAX_SPREAD = num('BENCH_MAX_SPREAD', 0.25);
/** How many times an unsteady figure is measured again before it is given up (and fails). */
const RETRIES = num('BENCH_RETRIES', 2);
const OUT = process.env.BENCH_OUT ?? 'latest';
if (!/^[A-Za-z0-9_.-]+$/.test(OUT)) throw new Error('BENCH_OUT: a file name without folder, e.g. quick');

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

/** tsx's loader by its URL: a child may run in a temporary folder, where `--import tsx` finds no tsx. */
const TSX = import.meta.resolve('tsx');

/** Runs a TypeScript file of this repo (`bench/load.ts`, `scripts/bench-seed.ts`) in a child process. */
function nodeTs(script: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT) {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, script), ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Runs a script once and returns the JSON line it prints last (a Sample for load.ts and hasher.ts). */
function runJson<T = Sample>(script: string, arg: unknown, env = childEnv()): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = nodeTs(script, [JSON.stringify(arg)], env);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${script} exited with ${code}`));
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`${script} printed no result: ${out.slice(0, 200)}`));
      }
    });
  });
}

interface RunningServer {
  origin: string;
  /** The server's own process, whose CPU time /proc/<pid>/stat gives. */
  pid: number;
  close(): Promise<void>;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. */
function closer(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
}

/** Spawns a bench server (bare.ts, apps.ts) and waits for its `READY <port> [extra]` line. */
function startReady(script: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<RunningServer & { extra: string }> {
  const child = nodeTs(script, args, env, cwd);
  const close = closer(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void close().then(() => reject(new Error(`${script} not ready in 60 s`))), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^READY (\d+) ?(.*)$/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      resolve({ origin: `http://127.0.0.1:${m[1]}`, pid: child.pid!, extra: m[2] ?? '', close });
    });
  });
}

/** The CLI of the built package, as `npm start` runs it. */
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** Runs `portcullis <args>` (not serve) in `cwd` and fails unless it exits 0. */
async function cli(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('exit', resolve));
  children.delete(child);
  if (code !== 0) throw new Error(`portcullis ${args[0]} exited with ${code}`);
}

/**
 * `node dist/cli/main.js serve` in `cwd`, a process of its own, exactly as the README starts it:
 * no PORTCULLIS_* setting but what `env` adds (a database or session store, PORT=0 for any free
 * port). Its stdout (the JSON log) goes to cwd/serve.log, as a log file would; the port is read
 * from Fastify's "Server listening at" line there.
 */
async function startServe(env: Record<string, string>, cwd: string): Promise<RunningServer> {
  const logFile = join(cwd, 'serve.log');
  // A seeded folder serves several figures in turn: only this start's lines name its port.
  const from = existsSync(logFile) ? statSync(logFile).size : 0;
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, [CLI, 'serve'], { cwd, env: childEnv({ PORT: '0', ...env }), stdio: ['ignore', out, 'inherit'] });
  closeSync(out);
  children.add(child);
  child.once('exit', () => children.delete(child));
  const close = closer(child);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`portcullis serve exited with ${child.exitCode}: ${readFileSync(logFile, 'utf8').slice(-500)}`);
    const port = /"msg":"Server listening at http:\/\/127\.0\.0\.1:(\d+)"/.exec(readFileSync(logFile).subarray(from).toString('utf8'))?.[1];
    if (port) return { origin: `http://127.0.0.1:${port}`, pid: child.pid!, close };
    await sleep(50);
  }
  await close();
  throw new Error('portcullis serve not listening in 60 s');
}

/** utime + stime of a process, in seconds (/proc/<pid>/stat, fields 14 and 15, in clock ticks). */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Peak resident set of a process in KiB (VmHWM of /proc/<pid>/status). */
function peakRssKiB(pid: number): number {
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kib) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kib);
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

/**
 * Throwaway PostgreSQL databases and Redis prefixes still to be removed. Each is removed when its
 * figure ends, and whatever is left (Ctrl-C, a crash) at exit; nothing else on those servers is touched.
 */
const resources = new Set<() => Promise<void>>();
function track(remove: () => Promise<void>): () => Promise<void> {
  const once = async () => {
    if (!resources.delete(once)) return;
    await remove();
  };
  resources.add(once);
  return once;
}
async function releaseAll(): Promise<void> {
  for (const remove of [...resources].reverse()) await remove().catch((err: Error) => log(`clean-up failed: ${err.message}`));
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    removeTempDirs();
    // Servers are gone, so the databases can be dropped; give it a few seconds at most.
    void Promise.race([releaseAll(), sleep(10_000)]).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

let resourceSeq = 0;

/** `CREATE DATABASE bench_<pid>_<n>` on the shared PostgreSQL; dropped when `defer`'s figure ends. */
async function pgDatabase(defer: (fn: () => Promise<void>) => void): Promise<string> {
  const name = `bench_${process.pid}_${++resourceSeq}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  // FORCE: a server killed mid-figure may leave a connection behind; the database is ours alone.
  defer(track(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.href;
}

/** A Redis key prefix `bench:<pid>:<n>:` of this run alone; its keys are deleted when the figure ends. */
function redisPrefix(defer: (fn: () => Promise<void>) => void): string {
  const prefix = `bench:${process.pid}:${++resourceSeq}:`;
  defer(
    track(async () => {
      const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length) await redis.unlink(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    }),
  );
  return prefix;
}

// ---------------------------------------------------------------- figures

/** One side of a figure: a warm-up (discarded but checked for failures) and a measured round. */
interface Side {
  label: string;
  warmup?(): Promise<Sample>;
  round(): Promise<Sample>;
  /** The process serving this side: its CPU time per request is read around each round. */
  pid?: number;
}

interface Figure {
  id: string;
  title: string;
  /** 0: shown for information only (no target, never fails the run unless requests fail). */
  target: number;
  /** What a side's `rps` holds when it is not requests per second (the memory figure: peak RSS in KiB). */
  unit?: 'KiB';
  /** The figure passes when the ratio is at most the target (memory), not at least. */
  lowerIsBetter?: boolean;
  /** Rounds for this figure when one round is long and barely noisy (BENCH_ROUNDS caps it). */
  rounds?: number;
  /** Off unless BENCH_SCALE=1 (or named in BENCH_ONLY). */
  scale?: boolean;
  /**
   * Both sides run the same server on different amounts of data (the scale figures): the baseline
   * does no less work per request, so a ratio a little above 1 is noise, not a measurement fault.
   */
  sameWork?: boolean;
  /**
   * Every round on processes started for it (prepare and warm-up again), not on one pair for the
   * whole figure. One process of a build can cost far more per request than another for its whole
   * life. One cause, seen with callgrind: in most `portcullis serve` processes (and rarely in a bare
   * Fastify one, whose start-up is short) the feedback of Node's own process.nextTick object literal
   * goes megamorphic during start-up, and from then on each of the ~11 nextTicks of an HTTP request
   * defines its properties through the V8 runtime, about a quarter of the server's instructions per
   * request (README, Benchmark). A figure on one pair reports that pair's luck;
   * rounds on fresh pairs sample it like any other noise, and the median sets it aside.
   */
  fresh?: boolean;
  /** Starts what the figure needs; `defer` registers clean-up that runs however the figure ends. */
  prepare(defer: (fn: () => Promise<void>) => void): Promise<{ subject: Side; baseline: Side }>;
}

function httpSide(label: string, spec: Omit<LoadSpec, 'duration'>, server?: RunningServer): Side {
  return {
    label,
    pid: server?.pid,
    warmup: () => runJson('bench/load.ts', { ...spec, duration: WARMUP }),
    round: () => runJson('bench/load.ts', { ...spec, duration: DURATION }),
  };
}

interface ServeOptions {
  /** PORTCULLIS_* settings: the database or session store, and nothing a user would not set. */
  env?: Record<string, string>;
  /** Its working directory (data in ./data); a fresh one unless a seeded one is given. */
  cwd?: string;
  /** Creates the bench user first (`portcullis createsuperuser --noinput`), as an operator would. */
  user?: boolean;
  /**
   * A portcullis.config.json raising the guessing limits, for the login figures only: many parallel
   * correct logins from 127.0.0.1 would otherwise be answered 429. The counters still run.
   */
  unthrottled?: boolean;
}

/** `portcullis serve` from the built package on a fresh SQLite file unless `env` picks another store. */
async function portcullisServer(defer: (fn: () => Promise<void>) => void, options: ServeOptions = {}): Promise<RunningServer> {
  const { env = {}, cwd = tempDir(), user = true, unthrottled = false } = options;
  if (unthrottled) {
    writeFileSync(join(cwd, 'portcullis.config.json'), JSON.stringify({ throttle: { perClient: 1e9, perIp: 1e9, perAccount: 1e9, hardCeiling: 1e9 } }));
  }
  if (user) {
    await cli(['createsuperuser', '--username', BENCH_USER.username, '--noinput'], childEnv({ ...env, PORTCULLIS_SUPERUSER_PASSWORD: BENCH_USER.password }), cwd);
  }
  const server = await startServe(env, cwd);
  defer(server.close);
  return server;
}

const LOGIN_BODY = JSON.stringify(BENCH_USER);
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Logs in as a client would (JSON, no Origin header) and returns the `Cookie` header to send. */
async function sessionCookie(origin: string): Promise<string> {
  const res = await fetch(`${origin}/api/auth/login`, { method: 'POST', headers: JSON_HEADERS, body: LOGIN_BODY });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sessionid='));
  if (!cookie) throw new Error('login set no sessionid cookie');
  return cookie.split(';')[0]!;
}

/** An access token from POST /api/auth/token, as a service would get one; returns the header to send. */
async function bearerHeader(origin: string): Promise<string> {
  const res = await fetch(`${origin}/api/auth/token`, { method: 'POST', headers: JSON_HEADERS, body: LOGIN_BODY });
  if (res.status !== 200) throw new Error(`/api/auth/token answered ${res.status}: ${await res.text()}`);
  const { access_token } = (await res.json()) as { access_token?: string };
  if (!access_token) throw new Error('/api/auth/token gave no access_token');
  return `Bearer ${access_token}`;
}

/** GET /me once with these headers; it must answer 200, and its body is what the bare baseline serves. */
async function meBody(origin: string, headers: Record<string, string>): Promise<string> {
  const me = await fetch(`${origin}/api/auth/me`, { headers });
  if (me.status !== 200) throw new Error(`/me answered ${me.status}: ${await me.text()}`);
  return me.text();
}

/**
 * GET /api/auth/me on a portcullis configured by `env`, against a bare Fastify route answering the same
 * JSON. `auth` turns a running server into the headers that authenticate (a session cookie by default).
 */
function meFigure(
  id: string,
  title: string,
  target: number,
  env: (defer: (fn: () => Promise<void>) => void) => Promise<Record<string, string>>,
  auth: (origin: string) => Promise<Record<string, string>> = async (origin) => ({ cookie: await sessionCookie(origin) }),
): Figure {
  return {
    id,
    title,
    target,
    // The information-only figures get three rounds: they are there to show an order of magnitude.
    ...(target === 0 ? { rounds: 3 } : {}),
    fresh: true,
    async prepare(defer) {
      const server = await portcullisServer(defer, { env: await env(defer) });
      const headers = await auth(server.origin);
      // The baseline serves the very body /me gave, so both sides send the same bytes of JSON.
      const bare = await startReady('bench/bare.ts', ['0', await meBody(server.origin, headers)], childEnv());
      defer(bare.close);
      return {
        subject: httpSide('portcullis serve /me', { url: `${server.origin}/api/auth/me`, headers, connections: HTTP_CONNECTIONS }, server),
        baseline: httpSide('bare Fastify route', { url: `${bare.origin}/api/auth/me`, connections: HTTP_CONNECTIONS }, bare),
      };
    },
  };
}

/**
 * An app of `framework` using the built adapter (bench/apps.ts): a route the adapter guards against
 * the same framework's bare route in the same process, answering the same JSON.
 */
function appFigure(framework: 'fastify' | 'express' | 'hono', adapter: string): Figure {
  return {
    id: `app-${framework}`,
    title: `${framework} app, GET route guarded by ${adapter} (cookie, SQLite) vs the same app's bare route`,
    target: 0.7,
    fresh: true,
    async prepare(defer) {
      const app = await startReady('bench/apps.ts', [framework], childEnv(), tempDir());
      defer(app.close);
      const headers = { cookie: app.extra };
      return {
        subject: httpSide(`${adapter} guarded route`, { url: `${app.origin}/guarded`, headers, connections: HTTP_CONNECTIONS }, app),
        baseline: httpSide(`bare ${framework} route`, { url: `${app.origin}/bare`, connections: HTTP_CONNECTIONS }, app),
      };
    },
  };
}

/**
 * The peers (bench/peers.ts): an Express app with express-session + passport, and one with
 * better-auth, each on SQLite, measured as the `app-*` figures are: a route their auth guards
 * against the same app's bare route in the same process, answering the same JSON. For information
 * (target 0, three rounds, as the other information-only figures): they compare the peers with
 * Express, not with portcullis; the README sets them beside `app-express`.
 */
function peerFigure(peer: 'passport' | 'better-auth', title: string, guard: string): Figure {
  return {
    id: `peer-${peer}`,
    title,
    target: 0,
    rounds: 3,
    async prepare(defer) {
      const app = await startReady('bench/peers.ts', [peer], childEnv(), tempDir());
      defer(app.close);
      const headers = { cookie: app.extra };
      return {
        subject: httpSide(`${guard} guarded route`, { url: `${app.origin}/guarded`, headers, connections: HTTP_CONNECTIONS }, app),
        baseline: httpSide('bare express route', { url: `${app.origin}/bare`, connections: HTTP_CONNECTIONS }, app),
      };
    },
  };
}
const PEER_FIGURES: Figure[] = [
  peerFigure(
    'passport',
    'peer: express app, GET route guarded by express-session + passport (passport-local login, better-sqlite3-session-store) vs the same app\'s bare route',
    'passport',
  ),
  peerFigure(
    'better-auth',
    'peer: express app, GET route guarded by better-auth getSession (email+password, better-sqlite3; session cookie cache off, its default with a database) vs the same app\'s bare route',
    'better-auth',
  ),
];

/** Fills a database through scripts/bench-seed.ts (before its server starts) and logs how long it took. */
async function seed(spec: SeedSpec, env: Record<string, string> = {}): Promise<void> {
  const t = performance.now();
  await runJson<{ seconds: number }>('scripts/bench-seed.ts', spec, childEnv(env));
  log(`  seeded ${spec.users.toLocaleString('en')} users and ${spec.sessions.toLocaleString('en')} sessions in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

/** Writes lines to a temporary file for load.ts `variants`. */
function linesFile(lines: string[]): string {
  const file = join(tempDir(), 'variants.txt');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** `count` indexes spread evenly over 1..n, each at a random spot in its stretch (the whole table is hit). */
function evenly(n: number, count: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i + 1);
  const step = n / count;
  return Array.from({ length: count }, (_, k) => 1 + Math.floor(k * step + Math.random() * step));
}

const newSalt = () => randomBytes(9).toString('base64url');
const cookieLines = (salt: string, indexes: number[]) => indexes.map((i) => `sessionid=${seedSessionKey(salt, i)}`);
const loginLines = (indexes: number[]) => indexes.map((i) => JSON.stringify({ username: seedUsername(i), password: BENCH_USER.password }));

/**
 * One database per size, seeded once and shared by the /me and login scale figures of that dialect
 * (seeding a million rows twice would double the longest part of the run).
 */
interface Seeded {
  env: Record<string, string>;
  /** The working directory of its servers; the data (secret key, SQLite file) is in cwd/data. */
  cwd: string;
  salt: string;
  size: number;
}
const seededCache = new Map<string, Promise<Seeded>>();
function seeded(dialect: 'sqlite' | 'postgres', size: number): Promise<Seeded> {
  const key = `${dialect}:${size}`;
  const cached = seededCache.get(key);
  if (cached) return cached;
  const pending = (async (): Promise<Seeded> => {
    // Kept to the end of the run: released by releaseAll() (PostgreSQL) and removeTempDirs() (SQLite).
    const env: Record<string, string> = dialect === 'postgres' ? { PORTCULLIS_DATABASE_URL: await pgDatabase(() => {}) } : {};
    const cwd = tempDir();
    const salt = newSalt();
    await seed({ dataDir: join(cwd, 'data'), users: size, sessions: size, salt }, env);
    return { env, cwd, salt, size };
  })();
  seededCache.set(key, pending);
  return pending;
}

/** Two servers on the same kind of database, a million rows against a thousand. */
async function scaleServers(dialect: 'sqlite' | 'postgres', defer: (fn: () => Promise<void>) => void) {
  const big = await seeded(dialect, SCALE_USERS);
  const small = await seeded(dialect, SCALE_BASE);
  return {
    big,
    small,
    // Unthrottled for the login figure: a thousand seeded accounts, all guessed from 127.0.0.1.
    bigServer: await portcullisServer(defer, { env: big.env, cwd: big.cwd, user: false, unthrottled: true }),
    smallServer: await portcullisServer(defer, { env: small.env, cwd: small.cwd, user: false, unthrottled: true }),
  };
}

function scaleMeFigure(dialect: 'sqlite' | 'postgres'): Figure {
  return {
    id: `scale-me-${dialect}`,
    title: `GET /api/auth/me with ${SCALE_USERS.toLocaleString('en')} users and sessions stored vs ${SCALE_BASE.toLocaleString('en')} (${dialect})`,
    target: 0.8,
    scale: true,
    sameWork: true,
    fresh: true,
    async prepare(defer) {
      const { big, small, bigServer, smallServer } = await scaleServers(dialect, defer);
      // Requests go round SCALE_SAMPLE distinct seeded sessions spread over the whole table, so the
      // big side cannot keep serving one cached row; the small side uses every session it has.
      const bigCookies = cookieLines(big.salt, evenly(big.size, SCALE_SAMPLE));
      const smallCookies = cookieLines(small.salt, evenly(small.size, SCALE_SAMPLE));
      for (const [server, cookie] of [[bigServer, bigCookies[0]!], [smallServer, smallCookies[0]!]] as const) await meBody(server.origin, { cookie });
      return {
        subject: httpSide(`/me, ${big.size.toLocaleString('en')} sessions`, {
          url: `${bigServer.origin}/api/auth/me`,
          connections: HTTP_CONNECTIONS,
          variants: { file: linesFile(bigCookies), as: 'cookie' },
        }, bigServer),
        baseline: httpSide(`/me, ${small.size.toLocaleString('en')} sessions`, {
          url: `${smallServer.origin}/api/auth/me`,
          connections: HTTP_CONNECTIONS,
          variants: { file: linesFile(smallCookies), as: 'cookie' },
        }, smallServer),
      };
    },
  };
}

function scaleLoginFigure(dialect: 'sqlite' | 'postgres'): Figure {
  return {
    id: `scale-login-${dialect}`,
    title: `POST /api/auth/login with ${SCALE_USERS.toLocaleString('en')} users and sessions stored vs ${SCALE_BASE.toLocaleString('en')} (${dialect})`,
    target: 0.8,
    scale: true,
    sameWork: true,
    fresh: true,
    async prepare(defer) {
      const { big, small, bigServer, smallServer } = await scaleServers(dialect, defer);
      const login = (server: RunningServer, size: number): Omit<LoadSpec, 'duration'> => ({
        url: `${server.origin}/api/auth/login`,
        method: 'POST',
        headers: JSON_HEADERS,
        connections: LOGIN_PARALLEL,
        variants: { file: linesFile(loginLines(evenly(size, SCALE_SAMPLE))), as: 'body' },
      });
      return {
        subject: httpSide(`login, ${big.size.toLocaleString('en')} users`, login(bigServer, big.size), bigServer),
        baseline: httpSide(`login, ${small.size.toLocaleString('en')} users`, login(smallServer, small.size), smallServer),
      };
    },
  };
}

/**
 * One memory side: a fresh server on a database seeded with `n` users each with one session, then
 * `requests` GET /me going round those sessions (each used requests / n times), then the server's
 * peak RSS. Both sides send the same number of requests, so the ratio shows what distinct sessions
 * cost, not what more traffic costs. `rps` of the Sample holds the peak RSS (KiB).
 */
function memorySide(label: string, n: number, requests: number): Side {
  return {
    label,
    async round() {
      const cleanups: Array<() => Promise<void>> = [];
      try {
        const cwd = tempDir();
        const salt = newSalt();
        await seed({ dataDir: join(cwd, 'data'), users: n, sessions: n, salt });
        const server = await portcullisServer((fn) => cleanups.push(fn), { cwd, user: false });
        const s = await runJson('bench/load.ts', {
          url: `${server.origin}/api/auth/me`,
          connections: HTTP_CONNECTIONS,
          duration: 3600,
          amount: requests,
          variants: { file: linesFile(cookieLines(salt, evenly(n, n))), as: 'cookie' },
        } satisfies LoadSpec);
        const maxRssKiB = peakRssKiB(server.pid);
        log(`    ${label}: ${s.total} requests at ${s.rps.toFixed(0)}/s, peak RSS ${(maxRssKiB / 1024).toFixed(1)} MiB`);
        return { ...s, rps: maxRssKiB };
      } finally {
        for (const fn of cleanups.reverse()) await fn().catch(() => {});
      }
    },
  };
}

const FIGURES: Figure[] = [
  meFigure('me-sqlite', 'portcullis serve: GET /api/auth/me (cookie, SQLite sessions) vs bare Fastify', 0.6, async () => ({})),
  meFigure('me-postgres', 'portcullis serve: GET /api/auth/me (cookie, PostgreSQL) vs bare Fastify', 0.5, async (defer) => ({
    PORTCULLIS_DATABASE_URL: await pgDatabase(defer),
  })),
  meFigure('me-redis', 'portcullis serve: GET /api/auth/me (cookie, Redis sessions, SQLite users) vs bare Fastify', 0.5, async (defer) => ({
    PORTCULLIS_SESSION_STORE: REDIS_URL,
    PORTCULLIS_REDIS_PREFIX: redisPrefix(defer),
  })),
  meFigure(
    'me-bearer',
    'portcullis serve: GET /api/auth/me (bearer access token, SQLite users) vs bare Fastify',
    0.75,
    // The default access token lives 300 s, less than a whole run of this figure.
    async () => ({ PORTCULLIS_ACCESS_TOKEN_AGE: '3600' }),
    async (origin) => ({ authorization: await bearerHeader(origin) }),
  ),
  // The same with the auth cache off (PORTCULLIS_AUTH_CACHE_MS=0): every request goes to the store,
  // as each one would if no client ever repeated a credential within a second. SQLite and bearer have
  // targets; PostgreSQL and Redis (a network round trip per request) are for information.
  meFigure('me-sqlite-nocache', 'the same, auth cache off: every request reads SQLite', 0.45, async () => ({ PORTCULLIS_AUTH_CACHE_MS: '0' })),
  meFigure('me-postgres-nocache', 'the same, auth cache off: every request reads PostgreSQL', 0, async (defer) => ({
    PORTCULLIS_DATABASE_URL: await pgDatabase(defer),
    PORTCULLIS_AUTH_CACHE_MS: '0',
  })),
  meFigure('me-redis-nocache', 'the same, auth cache off: every request reads Redis', 0, async (defer) => ({
    PORTCULLIS_SESSION_STORE: REDIS_URL,
    PORTCULLIS_REDIS_PREFIX: redisPrefix(defer),
    PORTCULLIS_AUTH_CACHE_MS: '0',
  })),
  meFigure(
    'me-bearer-nocache',
    'the same, auth cache off: every bearer request reads the user from SQLite',
    0.5,
    async () => ({ PORTCULLIS_ACCESS_TOKEN_AGE: '3600', PORTCULLIS_AUTH_CACHE_MS: '0' }),
    async (origin) => ({ authorization: await bearerHeader(origin) }),
  ),
  appFigure('fastify', 'portcullis/fastify'),
  appFigure('express', 'portcullis/express'),
  appFigure('hono', 'portcullis/fetch'),
  ...PEER_FIGURES,
  {
    id: 'login-sqlite',
    title: 'portcullis serve: POST /api/auth/login (argon2id, SQLite) vs raw checkPassword',
    target: 0.9,
    async prepare(defer) {
      const server = await portcullisServer(defer, { unthrottled: true });
      return {
        subject: httpSide('portcullis login', {
          url: `${server.origin}/api/auth/login`,
          method: 'POST',
          headers: JSON_HEADERS,
          body: LOGIN_BODY,
          connections: LOGIN_PARALLEL,
        }, server),
        baseline: {
          label: 'hashers.checkPassword',
          // hasher.ts warms up inside its own process each round: a warm-up in another process is useless.
          round: () => runJson('bench/hasher.ts', { concurrency: LOGIN_PARALLEL, duration: DURATION, warmup: 1 }),
        },
      };
    },
  },
  {
    id: 'me-during-logins',
    title: 'portcullis serve: GET /api/auth/me while logins saturate the hasher vs /me alone (SQLite)',
    target: 0.5,
    async prepare(defer) {
      const server = await portcullisServer(defer, { unthrottled: true });
      const headers = { cookie: await sessionCookie(server.origin) };
      const me: Omit<LoadSpec, 'duration'> = { url: `${server.origin}/api/auth/me`, headers, connections: HTTP_CONNECTIONS };
      const logins: Omit<LoadSpec, 'duration'> = {
        url: `${server.origin}/api/auth/login`,
        method: 'POST',
        headers: JSON_HEADERS,
        body: LOGIN_BODY,
        connections: LOGIN_PARALLEL,
      };
      // The login load starts first and ends last, so the whole /me measurement runs inside the storm.
      const storm = async (seconds: number): Promise<Sample> => {
        const loginRun = runJson('bench/load.ts', { ...logins, duration: seconds + 2 } satisfies LoadSpec);
        await sleep(1000);
        const meRun = await runJson('bench/load.ts', { ...me, duration: seconds } satisfies LoadSpec);
        const l = await loginRun;
        log(`    logins alongside: ${l.rps.toFixed(1)}/s non-2xx ${l.non2xx} errors ${l.errors}`);
        return { ...meRun, non2xx: meRun.non2xx + l.non2xx, errors: meRun.errors + l.errors, alongsideRps: l.rps };
      };
      return {
        subject: { label: '/me during logins', warmup: () => storm(WARMUP), round: () => storm(DURATION) },
        baseline: httpSide('/me alone', me, server),
      };
    },
  },
  {
    id: 'memory-sessions',
    title: `Peak RSS of the server after ${MEMORY_SESSIONS.toLocaleString('en')} requests over as many distinct sessions vs over ${MEMORY_BASE.toLocaleString('en')} (SQLite)`,
    target: 1.5,
    unit: 'KiB',
    lowerIsBetter: true,
    // Each round seeds and drives a fresh server; peak RSS barely moves from one round to the next.
    rounds: 1,
    async prepare() {
      return {
        subject: memorySide(`${MEMORY_SESSIONS.toLocaleString('en')} sessions`, MEMORY_SESSIONS, MEMORY_SESSIONS),
        baseline: memorySide(`${MEMORY_BASE.toLocaleString('en')} sessions`, MEMORY_BASE, MEMORY_SESSIONS),
      };
    },
  },
  scaleMeFigure('sqlite'),
  scaleLoginFigure('sqlite'),
  scaleMeFigure('postgres'),
  scaleLoginFigure('postgres'),
];

// ---------------------------------------------------------------- running and reporting

interface SideResult {
  label: string;
  rounds: Sample[];
  /** Median of the rounds: requests per second, or for a KiB figure the peak RSS. */
  rps: number;
  p50: number;
  p99: number;
  /** Median server CPU per request (µs) over the rounds, when the side's process is known. */
  cpuUs?: number;
}

interface FigureResult {
  id: string;
  title: string;
  target: number;
  /** Absent: requests per second. */
  unit?: 'KiB';
  /** Passes at ratio <= target rather than >=. */
  lowerIsBetter?: boolean;
  ratio: number;
  roundRatios: number[];
  /** Attempts made: a figure whose per-round ratios spread more than MAX_SPREAD is measured again. */
  attempts: number;
  /** The rounds of every attempt still disagreed: the ratio is not reported as a result. */
  unsteady?: boolean;
  /** A ratio above 1: the subject cannot do its work faster than the baseline does less of it. */
  fault?: boolean;
  /** Non-2xx answers plus connection errors, warm-ups included; any one fails the figure. */
  failures: number;
  pass: boolean;
  subject?: SideResult;
  baseline?: SideResult;
  error?: string;
}

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

function summarise(side: Side, rounds: Sample[]): SideResult {
  return {
    label: side.label,
    rounds,
    rps: median(rounds.map((r) => r.rps)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    cpuUs: rounds.every((r) => r.cpuUs !== undefined) ? median(rounds.map((r) => r.cpuUs!)) : undefined,
  };
}

/** One round of a side, with the server's CPU time per completed request read from /proc around it. */
async function measure(side: Side, run: () => Promise<Sample>): Promise<Sample> {
  if (side.pid === undefined) return run();
  const before = cpuSeconds(side.pid);
  const s = await run();
  const spent = cpuSeconds(side.pid) - before;
  return { ...s, cpuUs: s.total ? (spent * 1e6) / s.total : undefined };
}

const spreadOf = (ratios: number[]) => (ratios.length ? Math.max(...ratios) - Math.min(...ratios) : 0);

async function runFigure(figure: Figure): Promise<FigureResult> {
  const cleanups: Array<() => Promise<void>> = [];
  const result: FigureResult = {
    id: figure.id,
    title: figure.title,
    target: figure.target,
    unit: figure.unit,
    lowerIsBetter: figure.lowerIsBetter,
    ratio: 0,
    roundRatios: [],
    attempts: 0,
    failures: 0,
    pass: false,
  };
  const rounds = Math.min(figure.rounds ?? ROUNDS, ROUNDS);
  const unit = figure.unit === 'KiB' ? ' KiB' : '/s';
  const cpu = (s: Sample) => (s.cpuUs === undefined ? '' : `, server CPU ${s.cpuUs.toFixed(1)} µs/request`);
  log(`${figure.id}: ${figure.title}`);
  // A fresh figure's processes of the round before, stopped before the next round's start.
  const roundCleanups: Array<() => Promise<void>> = [];
  const release = async () => {
    for (const fn of roundCleanups.splice(0).reverse()) await fn().catch((err: Error) => log(`  ${figure.id} clean-up: ${err.message}`));
  };
  try {
    const count = (s: Sample) => (result.failures += s.non2xx + s.errors);
    const start = async () => {
      const sides = await figure.prepare((fn) => (figure.fresh ? roundCleanups : cleanups).push(fn));
      for (const side of [sides.subject, sides.baseline]) if (side.warmup) count(await side.warmup());
      return sides;
    };
    let sides = figure.fresh ? undefined : await start();
    let samples = { subject: [] as Sample[], baseline: [] as Sample[] };
    // Rounds that disagree wildly (another tenant's burst, a GC storm) say nothing: measure again.
    for (let attempt = 1; attempt <= 1 + RETRIES; attempt++) {
      result.attempts = attempt;
      result.roundRatios = [];
      samples = { subject: [], baseline: [] };
      for (let r = 0; r < rounds; r++) {
        if (figure.fresh) {
          await release();
          sides = await start();
        }
        const { subject, baseline } = sides!;
        // Alternating which side goes first keeps slow drift (thermal, other tenants) from favouring one.
        for (const role of r % 2 ? (['baseline', 'subject'] as const) : (['subject', 'baseline'] as const)) {
          const side = role === 'subject' ? subject : baseline;
          const s = await measure(side, () => side.round());
          count(s);
          samples[role].push(s);
          log(`  ${figure.id} round ${r + 1}/${rounds} ${side.label}: ${s.rps.toFixed(1)}${unit}${cpu(s)} non-2xx ${s.non2xx} errors ${s.errors}`);
        }
        result.roundRatios.push(samples.subject[r]!.rps / samples.baseline[r]!.rps);
      }
      if (spreadOf(result.roundRatios) <= MAX_SPREAD) break;
      log(`  ${figure.id}: round ratios ${result.roundRatios.map((x) => x.toFixed(2)).join(', ')} spread more than ${MAX_SPREAD}` + (attempt <= RETRIES ? '; measuring again' : '; giving up'));
    }
    result.unsteady = spreadOf(result.roundRatios) > MAX_SPREAD;
    result.subject = summarise(sides!.subject, samples.subject);
    result.baseline = summarise(sides!.baseline, samples.baseline);
    result.ratio = median(result.roundRatios);
    result.fault = !figure.lowerIsBetter && !figure.sameWork && result.ratio > 1;
    if (result.fault) log(`  ${figure.id}: MEASUREMENT FAULT: ratio ${result.ratio.toFixed(3)} above 1, the baseline was not measured under the subject's conditions`);
    const meets = figure.target === 0 || (figure.lowerIsBetter ? result.ratio <= figure.target : result.ratio >= figure.target);
    result.pass = meets && result.failures === 0 && !result.unsteady && !result.fault;
  } catch (err) {
    result.error = (err as Error).message;
    log(`  ${figure.id} failed: ${result.error}`);
  } finally {
    await release();
    for (const fn of cleanups.reverse()) await fn().catch((err: Error) => log(`  ${figure.id} clean-up: ${err.message}`));
  }
  return result;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function side(r: FigureResult, s?: SideResult): string {
  if (!s) return '-';
  if (r.unit === 'KiB') return `${(s.rps / 1024).toFixed(1)} MiB peak RSS`;
  return `${s.rps.toFixed(1)}/s (p50 ${s.p50.toFixed(1)} p99 ${s.p99.toFixed(1)} ms)`;
}
const short = (r: FigureResult, s?: SideResult) => (!s ? '-' : r.unit === 'KiB' ? `${(s.rps / 1024).toFixed(1)} MiB` : `${s.rps.toFixed(0)}/s`);
const targetText = (r: FigureResult) => (r.target === 0 ? '-' : `${r.lowerIsBetter ? '<=' : '>='} ${r.target}`);
const verdict = (r: FigureResult) =>
  r.error ? 'ERROR' : r.fault ? 'FAULT (ratio > 1)' : r.unsteady ? 'UNSTEADY' : !r.pass ? 'FAIL' : r.target === 0 ? 'info' : 'pass';
/** Server CPU per request, subject / baseline, in µs; '-' where the side's process is not known. */
const cpuText = (r: FigureResult) => {
  const us = (s?: SideResult) => (s?.cpuUs === undefined ? '-' : s.cpuUs.toFixed(0));
  return r.unit === 'KiB' ? '-' : `${us(r.subject)} / ${us(r.baseline)}`;
};

/**
 * wrk, installed on the spot when it is missing and apt-get can (as .ci/run does for Chromium);
 * otherwise autocannon, with a warning, since its own CPU depresses the figures that share two cores
 * with the hasher. The choice goes into the report.
 */
function chooseLoadGenerator(): 'wrk' | 'autocannon' {
  const found = loadGenerator();
  if (process.env.BENCH_LOADGEN || found === 'wrk') return found;
  if (process.getuid?.() === 0 && !spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).error) {
    log('wrk is not installed: installing it from Debian\'s packages (apt-get install wrk)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
    if (!install()) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
      install();
    }
    if (loadGenerator() === 'wrk') return 'wrk';
  }
  log(
    'warning: wrk is not installed, so autocannon generates the load. It spends as much CPU per request as ' +
      'the server does, which on a small machine lowers the figures (me-during-logins most). Install wrk ' +
      '(Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk) for the figures the README shows.',
  );
  return 'autocannon';
}
const LOADGEN = chooseLoadGenerator();
// The children (load.ts) inherit the choice, so they never disagree with the report.
process.env.BENCH_LOADGEN = LOADGEN;

const host = { nproc: CORES, node: process.version, platform: `${process.platform}-${process.arch}`, cpu: cpus()[0]?.model ?? 'unknown' };
const settings = { loadGenerator: LOADGEN, warmupSeconds: WARMUP, roundSeconds: DURATION, rounds: ROUNDS, httpConnections: HTTP_CONNECTIONS, scale: SCALE, scaleUsers: SCALE_USERS, memorySessions: MEMORY_SESSIONS };
log(`portcullis bench: nproc ${host.nproc}, node ${host.node}, ${host.cpu}; ${ROUNDS} rounds of ${DURATION} s after ${WARMUP} s warm-up; load from ${LOADGEN}`);

// BENCH_ONLY=id,id runs a subset, e.g. while working on one code path; it may name scale figures.
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const unknown = only?.filter((id) => !FIGURES.some((f) => f.id === id)) ?? [];
if (unknown.length) throw new Error(`BENCH_ONLY: no figure named ${unknown.join(', ')} (there are ${FIGURES.map((f) => f.id).join(', ')})`);
const chosen = FIGURES.filter((f) => (only ? only.includes(f.id) : SCALE || !f.scale));
const skipped = only ? [] : FIGURES.filter((f) => !chosen.includes(f));
if (skipped.length) {
  log(
    `note: the scale figures (${skipped.map((f) => f.id).join(', ')}) are off by default: they seed ` +
      `${SCALE_USERS.toLocaleString('en')} users and sessions in SQLite and PostgreSQL, several more minutes. Set BENCH_SCALE=1 to run them.`,
  );
}

const results: FigureResult[] = [];
try {
  for (const figure of chosen) results.push(await runFigure(figure));
} finally {
  await releaseAll();
  removeTempDirs();
}

// The spread of per-round ratios shows how far to trust the median on a noisy or shared machine.
const spread = (r: FigureResult) => (r.roundRatios.length ? `${Math.min(...r.roundRatios).toFixed(2)}-${Math.max(...r.roundRatios).toFixed(2)}` : '-');
const rows = [['figure', 'portcullis', 'baseline', 'ratio', 'rounds', 'CPU µs/req', 'target', 'failures', 'result']];
for (const r of results) {
  rows.push([r.id, side(r, r.subject), side(r, r.baseline), r.ratio.toFixed(3), spread(r), cpuText(r), targetText(r), String(r.failures), verdict(r)]);
}
console.log(`\nnproc ${host.nproc}  node ${host.node}  ${host.platform}  ${host.cpu}`);
console.log(
  `${ROUNDS} alternating rounds x ${DURATION} s (warm-up ${WARMUP} s), load from ${LOADGEN}; ratio = median of the per-round ratios, ` +
    `rounds = their min-max (measured again up to ${RETRIES} times past a spread of ${MAX_SPREAD}); CPU = server user+system time per request, subject / baseline\n`,
);
console.log(table(rows));
console.log('');
for (const r of results) console.log(`${r.id}: ${r.title}`);
for (const r of results) {
  if (r.error) console.log(`\n${r.id}: ${r.error}`);
  else if (r.failures) console.log(`\n${r.id}: ${r.failures} non-2xx responses or errors (counted as a failure)`);
  if (r.fault) console.log(`\n${r.id}: measurement fault: ratio ${r.ratio.toFixed(3)} > 1 (counted as a failure)`);
  if (r.unsteady) console.log(`\n${r.id}: rounds disagreed (${spread(r)}) in all ${r.attempts} attempts; not a result (counted as a failure)`);
}

// The same table for README.md's Benchmark section, pasted by hand after a run on a quiet machine.
const md = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
console.log(`\nMarkdown (nproc ${host.nproc}, node ${host.node}, ${ROUNDS} rounds x ${DURATION} s, ${LOADGEN}):\n`);
console.log(md(['figure', 'portcullis', 'baseline', 'ratio', 'rounds', 'server CPU µs/request', 'target', 'result']));
console.log(md(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---']));
for (const r of results) {
  const ratio = r.error || r.unsteady ? '-' : r.ratio.toFixed(2);
  console.log(md([`\`${r.id}\``, short(r, r.subject), short(r, r.baseline), ratio, spread(r), cpuText(r), targetText(r), verdict(r)]));
}

const dir = join(ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const report = { date: new Date().toISOString(), ...host, settings, figures: results };
writeFileSync(join(dir, `${OUT}.json`), JSON.stringify(report, null, 2) + '\n');
const subtitle = `nproc ${host.nproc}, node ${host.node}, ${LOADGEN}, ${report.date.slice(0, 16)}Z; bar = ratio, dashed = target`;
writeFileSync(
  join(dir, `${OUT}.svg`),
  barChart(
    'portcullis vs same-machine baselines',
    subtitle,
    results.map((r) => ({ label: r.lowerIsBetter ? `${r.id} (lower is better)` : r.id, ratio: r.ratio, target: r.target, pass: r.pass })),
  ),
);
console.log(`\nwrote bench/results/${OUT}.json and ${OUT}.svg`);
if (results.some((r) => !r.pass)) process.exitCode = 1;
