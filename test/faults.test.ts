import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPortcullis, type Portcullis } from '../src/portcullis.js';
import { buildServer } from '../src/http/server.js';
import type { FastifyInstance } from 'fastify';
import { Client, json, PASSWORD, type ErrorBody } from './helpers.js';
import { createPgDatabase, freePort, OwnRedis, Relay, waitFor, type ThrowawayPg } from './instances.js';

/**
 * Stores that go away: a Redis and a PostgreSQL connection of the test's own are cut and restored
 * under a running server, which must answer 503 meanwhile and recover with no restart.
 */
let database: ThrowawayPg;
let redis: OwnRedis;
let relay: Relay;
let portcullis: Portcullis;
let app: FastifyInstance;
let url: string;

before(async () => {
  database = await createPgDatabase();
  redis = new OwnRedis(await freePort());
  await redis.start();
  const pgTarget = new URL(database.url);
  relay = new Relay(await freePort(), { host: pgTarget.hostname, port: Number(pgTarget.port || 5432) });
  await relay.open();
  const viaRelay = new URL(database.url);
  viaRelay.port = String(relay.port);
  portcullis = await createPortcullis({ databaseUrl: viaRelay.toString(), sessionStore: redis.url, secretKey: 'fault-secret-0123456789abcdef', env: {}, dataDir: '/tmp' });
  await portcullis.users.createUser({ username: 'steady', password: PASSWORD });
  app = await buildServer(portcullis, { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

after(async () => {
  await app?.close();
  await portcullis?.close();
  await relay?.close();
  await redis?.stop();
  await database?.drop();
});

const ready = async () => (await fetch(url + '/readyz')).status === 200;

describe('a store that goes away', () => {
  test('Redis down: 503 (never 500, never anonymous), no half-made login, recovery without restart', async () => {
    const browser = new Client(url);
    assert.equal((await browser.post('/api/auth/login', { username: 'steady', password: PASSWORD })).status, 200);
    await redis.stop();
    const me = await browser.get('/api/auth/me');
    assert.equal(me.status, 503);
    assert.equal((await json<ErrorBody>(me)).error.code, 'service_unavailable');
    assert.equal((await fetch(url + '/readyz')).status, 503);
    const login = await new Client(url).post('/api/auth/login', { username: 'steady', password: PASSWORD });
    assert.equal(login.status, 503);
    assert.equal(login.headers.getSetCookie().length, 0, 'no cookie for a session that was never written');
    await redis.start();
    await waitFor(ready, 15_000, 'readiness after Redis returned');
    const again = new Client(url);
    assert.equal((await again.post('/api/auth/login', { username: 'steady', password: PASSWORD })).status, 200);
    assert.equal((await again.get('/api/auth/me')).status, 200);
  });

  test('PostgreSQL connection cut: 503, then recovery without restart', async () => {
    const browser = new Client(url);
    assert.equal((await browser.post('/api/auth/login', { username: 'steady', password: PASSWORD })).status, 200);
    await relay.close();
    const me = await browser.get('/api/auth/me');
    assert.equal(me.status, 503);
    assert.equal((await json<ErrorBody>(me)).error.code, 'service_unavailable');
    assert.equal((await new Client(url).post('/api/auth/login', { username: 'steady', password: PASSWORD })).status, 503);
    assert.equal((await fetch(url + '/readyz')).status, 503);
    await relay.open();
    await waitFor(ready, 15_000, 'readiness after PostgreSQL returned');
    assert.equal((await browser.get('/api/auth/me')).status, 200, 'the session survived the outage');
  });
});
