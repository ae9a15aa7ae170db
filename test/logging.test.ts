import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPortcullis, type CreateOptions } from '../src/portcullis.js';
import { buildServer, REDACT } from '../src/http/server.js';
import { Client, PASSWORD } from './helpers.js';

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  [field: string]: unknown;
}

/** A server with its own logger settings (level info, the REDACT list), writing to a stream we read. */
async function loggedServer(options: CreateOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-log-'));
  let raw = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      raw += chunk.toString();
      done();
    },
  });
  const portcullis = await createPortcullis({ cwd: dir, env: {}, dataDir: dir, secretKey: 'log-secret-0123456789abcdef0123456789', ...options });
  const app = await buildServer(portcullis, { logger: { level: 'info', redact: REDACT, stream } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  await portcullis.users.createUser({ username: 'quiet', password: PASSWORD });
  return {
    url,
    portcullis,
    get raw() {
      return raw;
    },
    /** Lines written since the last call (pino writes synchronously, so a finished request is in). */
    take(): LogLine[] {
      const lines = raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);
      raw = '';
      return lines.filter((l) => !/^Server listening/.test(l.msg));
    },
    async close() {
      await app.close();
      await portcullis.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const WARN = 40;

test('by default a successful request writes no line; a failed login, a 429 and a CSRF refusal write one warning each', async () => {
  const server = await loggedServer({ throttle: { perClient: 2 } });
  try {
    const client = new Client(server.url);
    assert.equal((await client.post('/api/auth/login', { username: 'quiet', password: PASSWORD })).status, 200);
    server.take();
    assert.equal((await client.get('/api/auth/me')).status, 200);
    assert.deepEqual(server.take(), [], 'no access line for a 200 /me');

    const stranger = new Client(server.url);
    assert.equal((await stranger.post('/api/auth/login', { username: 'quiet', password: 'WRONG-SECRET-PASSWORD' })).status, 401);
    const failed = server.take();
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]!.level, WARN);
    assert.equal(failed[0]!.event, 'login_failed');
    assert.deepEqual(failed[0]!.credentials, { username: 'quiet' }, 'the identifier tried, never the password');

    await stranger.post('/api/auth/login', { username: 'quiet', password: 'WRONG-SECRET-PASSWORD' });
    server.take();
    assert.equal((await stranger.post('/api/auth/login', { username: 'quiet', password: 'WRONG-SECRET-PASSWORD' })).status, 429);
    const throttled = server.take();
    assert.deepEqual(
      throttled.map((l) => [l.level, l.event]),
      [[WARN, 'throttled']],
    );
    // The request's logger is made only when it logs (lazy-logger.ts); its lines still name the request.
    assert.match(throttled[0]!.reqId ?? '', /^req-/);
    assert.notEqual(throttled[0]!.reqId, failed[0]!.reqId);

    const forged = await client.post('/api/auth/logout', {}, { origin: 'https://evil.example' });
    assert.equal(forged.status, 403);
    assert.deepEqual(
      server.take().map((l) => [l.level, l.event, l.url]),
      [[WARN, 'csrf_failed', '/api/auth/logout']],
    );
  } finally {
    await server.close();
  }
});

test('a refresh token presented twice is logged as a theft warning', async () => {
  const server = await loggedServer();
  try {
    const res = await new Client(server.url).post('/api/auth/token', { username: 'quiet', password: PASSWORD });
    const { refresh_token } = (await res.json()) as { refresh_token: string };
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token })).status, 200);
    server.take();
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token })).status, 401);
    assert.deepEqual(
      server.take().map((l) => [l.level, l.event]),
      [[WARN, 'refresh_token_reused']],
    );
    assert.ok(!server.raw.includes(refresh_token));
  } finally {
    await server.close();
  }
});

test('with the access log on, exactly one line per request, without cookies, authorization, passwords or query strings', async () => {
  const server = await loggedServer({ accessLog: true });
  try {
    const client = new Client(server.url);
    await client.post('/api/auth/login', { username: 'quiet', password: 'WRONG-SECRET-PASSWORD' });
    await client.post('/api/auth/login', { username: 'quiet', password: PASSWORD });
    await client.get('/api/auth/me?next=/secret-place');
    const tokens = (await (await new Client(server.url).post('/api/auth/token', { username: 'quiet', password: PASSWORD })).json()) as { access_token: string; refresh_token: string };
    await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${tokens.access_token}` } });

    const access = server.take().filter((l) => l.msg === 'request');
    assert.deepEqual(
      access.map((l) => [l.method, l.url, l.status]),
      [
        ['POST', '/api/auth/login', 401],
        ['POST', '/api/auth/login', 200],
        ['GET', '/api/auth/me', 200],
        ['POST', '/api/auth/token', 200],
        ['GET', '/api/auth/me', 200],
      ],
    );
    const ids = new Set(access.map((l) => l.reqId));
    assert.equal(ids.size, access.length, 'each line carries its own request id');
    for (const line of access) {
      assert.equal(line.route !== undefined && typeof line.ms === 'number', true, JSON.stringify(line));
      assert.deepEqual(Object.keys(line).filter((k) => /cookie|authorization|password|headers|body/i.test(k)), []);
    }
  } finally {
    await server.close();
  }
});

test('logs never carry passwords, session keys, cookies or tokens', async () => {
  const server = await loggedServer({ accessLog: true });
  try {
    const client = new Client(server.url);
    await client.post('/api/auth/login', { username: 'quiet', password: 'WRONG-SECRET-PASSWORD' });
    await client.post('/api/auth/login', { username: 'quiet', password: PASSWORD });
    const key = client.cookies.get('sessionid')!;
    await client.get('/api/auth/me?next=/secret-place');
    const tokens = (await (await new Client(server.url).post('/api/auth/token', { username: 'quiet', password: PASSWORD })).json()) as { access_token: string; refresh_token: string };
    await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${tokens.access_token}` } });
    await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: tokens.refresh_token });
    await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: tokens.refresh_token });
    const log = server.raw;
    assert.match(log, /"msg":"request"/, 'the log is written');
    for (const secret of ['WRONG-SECRET-PASSWORD', PASSWORD, key, tokens.access_token, tokens.refresh_token, 'secret-place']) {
      assert.ok(!log.includes(secret), `a secret leaked into the log: ${secret.slice(0, 8)}…`);
    }
  } finally {
    await server.close();
  }
});

test('a browser preflight from an untrusted origin is logged once, with the setting that lets it in', async () => {
  const server = await loggedServer({ trustedOrigins: ['http://localhost:5173'] });
  try {
    server.take();
    const preflight = (origin: string) =>
      fetch(server.url + '/api/auth/login', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    assert.equal((await preflight('http://localhost:3000')).status, 404);
    assert.equal((await preflight('http://localhost:3000')).status, 404);
    assert.equal((await preflight('http://localhost:5173')).status, 204, 'a trusted origin is answered, and not logged');
    const lines = server.take().filter((l) => l.event === 'cors_refused');
    assert.equal(lines.length, 1, 'once per origin in a while');
    assert.equal(lines[0]!.level, WARN);
    assert.equal(lines[0]!.origin, 'http://localhost:3000');
    assert.match(lines[0]!.msg, /PORTCULLIS_TRUSTED_ORIGINS=http:\/\/localhost:5173,http:\/\/localhost:3000/);
    assert.equal((await preflight('http://evil.example/<script>')).status, 404);
    assert.ok(!server.raw.includes('evil'), 'a malformed origin is not echoed into the log');
  } finally {
    await server.close();
  }
});
