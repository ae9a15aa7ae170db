import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { register as globalRegistry } from 'prom-client';
import { Metrics } from '../src/metrics/metrics.js';
import { startMetricsServer } from '../src/metrics/listener.js';
import { Client, PASSWORD, startServer } from './helpers.js';

const TOKEN = 'scraper-token-0123456789abcdef';

/** One sample of the text format: `name{labels} value`, summed over the lines whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total = (total ?? 0) + Number(m[3]);
  }
  return total;
}

async function scrape(url: string, token?: string): Promise<Response> {
  return fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
}

describe('metrics on, behind a token on the public port', () => {
  test('a scrape shows logins by outcome, the 429, sessions, hash time, request latency and auth-cache lookups', async () => {
    // A long auth-cache TTL keeps the hit/miss pattern below independent of the machine's speed.
    const server = await startServer({ metricsToken: TOKEN, metricsProcess: false, authCacheMs: 60_000, throttle: { perClient: 2 } });
    try {
      await server.portcullis.users.createUser({ username: 'alice', password: PASSWORD });
      const alice = new Client(server.url);
      assert.equal((await alice.post('/api/auth/login', { username: 'alice', password: PASSWORD })).status, 200);
      for (let i = 0; i < 4; i++) assert.equal((await alice.get('/api/auth/me')).status, 200);
      assert.equal((await alice.post('/api/auth/logout')).status, 204);

      const guesser = new Client(server.url);
      const statuses: number[] = [];
      for (let i = 0; i < 5 && !statuses.includes(429); i++) {
        statuses.push((await guesser.post('/api/auth/login', { username: 'alice', password: 'not the password at all' })).status);
      }
      const refused = statuses.filter((s) => s === 401).length;
      assert.ok(refused >= 1 && statuses.at(-1) === 429, statuses.join());
      assert.equal((await guesser.get('/no/such/page')).status, 404);

      const res = await scrape(`${server.url}/metrics`, TOKEN);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await res.text();

      assert.equal(sample(text, 'portcullis_logins_total', { outcome: 'success' }), 1);
      assert.equal(sample(text, 'portcullis_logins_total', { outcome: 'invalid_credentials' }), refused);
      assert.equal(sample(text, 'portcullis_logins_total', { outcome: 'throttled' }), 1);
      assert.equal(sample(text, 'portcullis_logins_total', { outcome: 'step_required' }), 0);
      assert.equal(sample(text, 'portcullis_throttled_total', { kind: 'login' }), 1);

      assert.equal(sample(text, 'portcullis_sessions_started_total', { kind: 'user' }), 1);
      assert.equal(sample(text, 'portcullis_sessions_ended_total', { kind: 'user' }), 1);

      // Creating alice hashed once; each login that reached a check verified once (the 429 did not).
      assert.equal(sample(text, 'portcullis_password_hash_seconds_count', { operation: 'hash', algorithm: 'argon2' }), 1);
      assert.equal(sample(text, 'portcullis_password_hash_seconds_count', { operation: 'verify', algorithm: 'argon2' }), 1 + refused);
      assert.ok(sample(text, 'portcullis_password_hash_seconds_sum', { operation: 'verify' })! > 0);

      const me = { method: 'GET', route: '/api/auth/me', status: '2xx' };
      assert.equal(sample(text, 'portcullis_http_request_duration_seconds_count', me), 4);
      assert.ok(sample(text, 'portcullis_http_request_duration_seconds_sum', me)! > 0);
      assert.equal(sample(text, 'portcullis_http_request_duration_seconds_bucket', { ...me, le: '+Inf' }), 4);
      assert.equal(sample(text, 'portcullis_http_request_duration_seconds_count', { method: 'POST', route: '/api/auth/login', status: '4xx' }), statuses.length);
      assert.equal(sample(text, 'portcullis_http_request_duration_seconds_count', { route: 'unmatched', status: '4xx' }), 1);

      // A key is remembered the second time it is checked: miss, miss, hit, hit.
      assert.equal(sample(text, 'portcullis_auth_cache_lookups_total', { cache: 'session', result: 'miss' }), 2);
      assert.equal(sample(text, 'portcullis_auth_cache_lookups_total', { cache: 'session', result: 'hit' }), 2);

      // SQLite has no change channel: the gauge is absent rather than a misleading 0.
      assert.equal(sample(text, 'portcullis_change_channel_up'), undefined);
      assert.ok(!text.includes('alice') && !text.includes('/no/such/page'), 'no username or raw URL becomes a label');
      assert.equal(sample(text, 'process_cpu_seconds_total'), undefined, 'process metrics were turned off');
      assert.equal(globalRegistry.getMetricsAsArray().length, 0, "prom-client's global registry is left to the application");
    } finally {
      await server.close();
    }
  });

  test('without the token, or with another, /metrics is the public 404', async () => {
    const server = await startServer({ metricsToken: TOKEN, metricsProcess: false });
    try {
      const nothing = await scrape(`${server.url}/nothing-here`);
      const unknown = await nothing.text();
      // Headers that say something about the answer; Date and the connection's own vary anyway.
      const headersOf = (res: Response) => [...res.headers].filter(([name]) => !['date', 'connection', 'keep-alive'].includes(name));
      for (const token of [undefined, 'wrong-token-0123456789abcdef', `${TOKEN}x`, '']) {
        const res = await scrape(`${server.url}/metrics`, token);
        assert.equal(res.status, 404, String(token));
        assert.deepEqual(headersOf(res), headersOf(nothing), 'the same headers as any unknown path');
        assert.equal(await res.text(), unknown, 'the same answer as any unknown path');
      }
      const scraped = await scrape(`${server.url}/metrics`, TOKEN);
      assert.equal(scraped.status, 200);
      assert.equal(scraped.headers.get('x-content-type-options'), 'nosniff', 'the metrics answer has the security headers too');
      assert.equal(scraped.headers.get('cache-control'), 'no-store');
      await scraped.body?.cancel();
      assert.equal((await fetch(`${server.url}/metrics`, { headers: { authorization: TOKEN } })).status, 404, 'the Bearer scheme is required');
      assert.equal((await scrape(`${server.url}/metrics`, TOKEN)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('process metrics come along unless turned off', async () => {
    const server = await startServer({ metricsToken: TOKEN });
    try {
      const text = await (await scrape(`${server.url}/metrics`, TOKEN)).text();
      assert.ok(sample(text, 'process_cpu_seconds_total')! >= 0);
      assert.ok(sample(text, 'nodejs_heap_size_used_bytes')! > 0);
    } finally {
      await server.close();
    }
  });
});

describe('metrics off (the default)', () => {
  test('/metrics is 404 and no hook is set anywhere', async () => {
    const server = await startServer();
    try {
      const { portcullis } = server;
      assert.equal(portcullis.metrics, null);
      assert.equal(portcullis.hashers.timer, null);
      assert.equal(portcullis.sessions.observer, null);
      assert.equal(portcullis.throttle.observer, null);
      assert.equal(server.app.hasRoute({ method: 'GET', url: '/metrics' }), false);
      assert.equal((await scrape(`${server.url}/metrics`)).status, 404);
      assert.equal((await scrape(`${server.url}/metrics`, TOKEN)).status, 404);
    } finally {
      await server.close();
    }
  });

  test('settings that cannot work stop the start', async () => {
    await assert.rejects(startServer({ metricsToken: 'short' }), /PORTCULLIS_METRICS_TOKEN must be at least 16 characters/);
    await assert.rejects(startServer({ metricsPort: 70000 }), /PORTCULLIS_METRICS_PORT must be a port/);
  });
});

describe('the change channel gauge', () => {
  test('reads the channel at each scrape: 1 while it listens, 0 while it cannot', async () => {
    const metrics = new Metrics();
    let listening = true;
    metrics.watchChangeChannel(() => listening);
    assert.equal(sample(await metrics.text(), 'portcullis_change_channel_up'), 1);
    listening = false;
    assert.equal(sample(await metrics.text(), 'portcullis_change_channel_up'), 0);
  });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as { port: number };
  await new Promise((done) => probe.close(done));
  return port;
}

describe('metrics on a port of their own', () => {
  test('startMetricsServer answers /metrics and nothing else, and closes with a scraper still connected', async () => {
    const server = await startServer({ metricsPort: 9464, metricsProcess: false });
    try {
      assert.equal((await scrape(`${server.url}/metrics`)).status, 404, 'nothing on the public port without a token');
      const listener = await startMetricsServer(server.portcullis.metrics!, { port: 0, host: '127.0.0.1' });
      assert.match(listener.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      await new Client(server.url).get('/api/auth/me');
      const text = await (await scrape(listener.url)).text();
      assert.equal(sample(text, 'portcullis_http_request_duration_seconds_count', { route: '/api/auth/me', status: '4xx' }), 1);
      assert.equal((await fetch(listener.url.replace('/metrics', '/'))).status, 404);
      assert.equal((await fetch(listener.url, { method: 'POST' })).status, 404);
      await listener.close();
      await assert.rejects(fetch(listener.url));
    } finally {
      await server.close();
    }
  });

  test('`portcullis serve` starts it on PORTCULLIS_METRICS_HOST:PORTCULLIS_METRICS_PORT and stops it on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-metrics-'));
    const [port, metricsPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [resolve('dist/cli/main.js'), 'serve'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', PORTCULLIS_METRICS_PORT: String(metricsPort), PORTCULLIS_METRICS_PROCESS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let log = '';
      await new Promise<void>((ready, failed) => {
        const timer = setTimeout(() => failed(new Error(`no metrics line in time:\n${log}`)), 30_000);
        child.stdout.on('data', (chunk: Buffer) => {
          log += chunk.toString();
          if (log.includes(`metrics at http://127.0.0.1:${metricsPort}/metrics`)) {
            clearTimeout(timer);
            ready();
          }
        });
        child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
        child.on('exit', (code) => failed(new Error(`serve exited (${code}):\n${log}`)));
      });
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/auth/me`)).status, 401);
      assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 404, 'the public port shows nothing');
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assert.equal(sample(text, 'portcullis_http_request_duration_seconds_count', { route: '/api/auth/me', status: '4xx' }), 1);
      const exited = new Promise<number | null>((done) => child.on('exit', done));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      await assert.rejects(fetch(`http://127.0.0.1:${metricsPort}/metrics`));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
