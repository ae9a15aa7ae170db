import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';

/** Processes and servers the multi-instance and fault tests start for themselves. */

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface Instance {
  url: string;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** The real `portcullis serve` from the build, as an operator would run it. */
export async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-inst-'));
  const child = spawn(process.execPath, [resolve('dist/cli/main.js'), 'serve'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', PORTCULLIS_DATA_DIR: dataDir, PORTCULLIS_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(url + '/healthz')).ok, 30_000, `instance on ${port}: ${out}`);
  return {
    url,
    process: child,
    output: () => out,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ThrowawayPg {
  url: string;
  drop(): Promise<void>;
}

export async function createPgDatabase(): Promise<ThrowawayPg> {
  const admin = process.env.PORTCULLIS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `portcullis_it_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = '/' + name;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** PORTCULLIS_TEST_DATABASE=mysql: a throwaway database on the MySQL/MariaDB at PORTCULLIS_TEST_MYSQL_URL. */
export async function createMysqlDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = process.env.PORTCULLIS_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
  const name = `portcullis_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const mysql = await import('mysql2/promise');
  const run = async (statement: string) => {
    const conn = await mysql.createConnection({ uri: admin });
    await conn.query(statement);
    await conn.end();
  };
  await run(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const url = new URL(admin);
  url.pathname = '/' + name;
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name}`) };
}

/** Removes every key under a test's own prefix from the shared Redis. */
export async function dropRedisKeys(url: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

/** A redis-server of the test's own on a spare port, which the test may stop and start again. */
export class OwnRedis {
  private child: ChildProcess | null = null;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitFor(
      () =>
        new Promise((ok) => {
          const socket = createConnection(this.port);
          socket.on('connect', () => (socket.end(), ok(true)));
          socket.on('error', () => ok(false));
        }),
      10_000,
      'redis-server',
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }
}

/**
 * A TCP relay in front of the shared PostgreSQL: closing it cuts every connection portcullis has, as a
 * database outage would, without touching the shared server.
 */
export class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = createConnection(this.target);
      this.sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', () => r()));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise((r) => server.close(r));
  }
}

/** A port whose cluster bus port (port + 10000) is free as well. */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535) continue;
    const busFree = await new Promise<boolean>((ok) => {
      const srv = createServer();
      srv.once('error', () => ok(false));
      srv.listen(port + 10_000, '127.0.0.1', () => srv.close(() => ok(true)));
    });
    if (busFree) return port;
  }
}

const execFileAsync = promisify(execFile);

// Cluster nodes die with the test process, even one that ends without reaching its `after` hook.
const clusterNodes = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of clusterNodes) child.kill('SIGKILL');
});

/**
 * Three redis-server processes of the test's own, joined into a Redis Cluster with no replicas (every
 * node a primary owning a third of the slots). Starting it fails loudly: a machine without
 * redis-server must fail the test, not skip it.
 */
export class OwnRedisCluster {
  readonly ports: number[] = [];
  private readonly children: ChildProcess[] = [];
  private dir = '';

  /** Names two of the three nodes: the client learns the third from the cluster itself. */
  get url(): string {
    return `redis-cluster://${this.ports
      .slice(0, 2)
      .map((p) => `127.0.0.1:${p}`)
      .join(',')}`;
  }

  async start(size = 3): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'));
    for (let i = 0; i < size; i++) await this.startFreshNode();
    await execFileAsync('redis-cli', ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of this.ports) {
      await waitFor(async () => /cluster_state:ok/.test(await this.cli(port, 'cluster', 'info')), 20_000, `cluster_state:ok on node ${port}`);
    }
  }

  /**
   * A new node on a free port. Test files run in parallel, each with clusters of its own, so a port
   * (or its bus port, +10000) found free can be taken before redis-server binds it: then another one.
   */
  private async startFreshNode(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const port = await freeClusterPort();
      this.ports.push(port);
      try {
        return await this.startNode(port);
      } catch (err) {
        this.ports.pop();
        if (attempt >= 10 || !/Address already in use/.test((err as Error).message)) throw err;
      }
    }
  }

  /** Starts (or restarts, with its nodes file) the node on this port, and waits until it answers. */
  async startNode(port: number): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, `nodes-${port}.conf`)]
        .concat(['--save', '', '--appendonly', 'no', '--dir', this.dir, '--logfile', join(this.dir, `node-${port}.log`)]),
      { stdio: 'ignore' },
    );
    this.children[this.ports.indexOf(port)] = child;
    // A test that fails before its `after` hook must still end (the exit hook then kills the node).
    child.unref();
    clusterNodes.add(child);
    child.once('exit', () => clusterNodes.delete(child));
    let failure: Error | null = null;
    child.once('error', (err) => (failure = new Error(`cannot start redis-server: ${err.message}`)));
    const onExit = (code: number | null) => (failure ??= new Error(`redis-server on ${port} exited with ${code}: ${this.log(port)}`));
    child.once('exit', onExit);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (failure) throw failure;
      if (await this.cli(port, 'ping').then((out) => out.trim() === 'PONG', () => false)) break;
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} does not answer: ${this.log(port)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.off('exit', onExit);
  }

  async stopNode(port: number): Promise<void> {
    const child = this.children[this.ports.indexOf(port)];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.ref(); // keep the test process alive until the node is gone, so stop() can remove its folder
    child.kill('SIGKILL');
    await exited;
  }

  async cli(port: number, ...args: string[]): Promise<string> {
    return (await execFileAsync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout;
  }

  private log(port: number): string {
    try {
      return readFileSync(join(this.dir, `node-${port}.log`), 'utf8').trim().split('\n').slice(-5).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    for (const port of this.ports) await this.stopNode(port);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
