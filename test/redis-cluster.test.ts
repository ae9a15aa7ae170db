import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Client, json, PASSWORD, startServer, type ErrorBody, type TestServer } from './helpers.js';
import { freePort, OwnRedisCluster, waitFor } from './instances.js';
import { connectRedis, parseClusterUrl } from '../src/redis.js';
import { ConfigError } from '../src/config.js';
import { StoreUnavailableError } from '../src/errors.js';
import type { RedisSessionStore } from '../src/sessions/redis.js';

/**
 * The Redis store on a real Redis Cluster of the test's own (three primaries on spare ports), driven
 * over HTTP: every script and transaction must keep its keys in one slot, or the cluster refuses it
 * with CROSSSLOT, and the users' keys must really spread over the nodes.
 */
const PREFIX = 'pc-cluster:';
const cluster = new OwnRedisCluster();
let server: TestServer;
let nodes: Map<number, Redis>;

before(async () => {
  await cluster.start();
  nodes = new Map(cluster.ports.map((port) => [port, new Redis({ host: '127.0.0.1', port, lazyConnect: true }).on('error', () => {})]));
  server = await startServer({
    sessionStore: cluster.url,
    redisPrefix: PREFIX,
    trustedProxies: ['127.0.0.1'],
    throttle: { perClient: 3 },
  });
  await server.portcullis.users.createSuperuser({ username: 'root', password: PASSWORD, email: 'root@example.com' });
});

after(async () => {
  await server?.close();
  for (const node of nodes?.values() ?? []) node.disconnect();
  await cluster.stop();
});

async function register(username: string): Promise<void> {
  const res = await new Client(server.url).post('/api/auth/register', { username, password: PASSWORD });
  assert.equal(res.status, 201, await res.clone().text());
}

async function loggedIn(username: string, password = PASSWORD): Promise<Client> {
  const client = new Client(server.url);
  const res = await client.post('/api/auth/login', { username, password });
  assert.equal(res.status, 200, await res.clone().text());
  return client;
}

/** Every key under the prefix, by the node that holds it (SCAN on each node directly). */
async function keysByNode(): Promise<Map<number, string[]>> {
  const found = new Map<number, string[]>();
  for (const [port, node] of nodes) {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    found.set(port, keys);
  }
  return found;
}

describe('Redis Cluster URL', () => {
  test('redis-cluster:// names seed nodes, with optional credentials', () => {
    assert.deepEqual(parseClusterUrl('redis-cluster://10.0.0.1:7000,10.0.0.2:7001,cache.internal'), {
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: 'cache.internal', port: 6379 },
      ],
    });
    assert.deepEqual(parseClusterUrl('redis-cluster://app:s%40cret@[::1]:7000'), { nodes: [{ host: '::1', port: 7000 }], username: 'app', password: 's@cret' });
    for (const bad of ['redis-cluster://', 'redis-cluster://a:7000,,b:7001', 'redis-cluster://a:7000/2', 'redis-cluster://a:notaport']) {
      assert.throws(() => parseClusterUrl(bad), ConfigError, bad);
    }
  });

  test('a prefix with braces is refused on a cluster: it would replace the per-user hash tag', async () => {
    await assert.rejects(connectRedis(cluster.url, '{app}:'), ConfigError);
  });

  test('no node answering is a StoreUnavailableError at start-up', async () => {
    await assert.rejects(connectRedis(`redis-cluster://127.0.0.1:${await freePort()}`, PREFIX), StoreUnavailableError);
  });
});

describe('sessions on a Redis Cluster', () => {
  test('register, login, /me, logout kills the session everywhere', async () => {
    await register('alice');
    const alice = await loggedIn('alice');
    const me = await alice.get('/api/auth/me');
    assert.equal(me.status, 200);
    assert.equal((await json<{ user: { username: string } }>(me)).user.username, 'alice');
    const key = alice.cookies.get('sessionid')!;
    assert.equal((await alice.post('/api/auth/logout')).status, 204);
    const replay = new Client(server.url);
    replay.cookies.set('sessionid', key);
    assert.equal((await replay.get('/api/auth/me')).status, 401);
  });

  test('a password change ends the other sessions; revoke-others and per-session delete work', async () => {
    await register('bob');
    const a = await loggedIn('bob');
    const b = await loggedIn('bob');
    const c = await loggedIn('bob');
    const sessions = await json<{ sessions: { id: string; current: boolean }[] }>(await a.get('/api/auth/sessions'));
    assert.equal(sessions.sessions.length, 3);
    const cId = (await json<{ sessions: { id: string; current: boolean }[] }>(await c.get('/api/auth/sessions'))).sessions.find((s) => s.current)!.id;
    assert.equal((await a.delete(`/api/auth/sessions/${cId}`)).status, 204);
    assert.equal((await c.get('/api/auth/me')).status, 401);

    const change = await a.post('/api/auth/password', { old_password: PASSWORD, new_password: 'a brand new passphrase' });
    assert.equal(change.status, 200, await change.clone().text());
    assert.equal((await a.get('/api/auth/me')).status, 200, 'the current session goes on');
    assert.equal((await b.get('/api/auth/me')).status, 401, 'the other one ended');

    const d = await loggedIn('bob', 'a brand new passphrase');
    const revoked = await a.post('/api/auth/sessions/revoke-others');
    assert.deepEqual(await json(revoked), { revoked: 1 });
    assert.equal((await d.get('/api/auth/me')).status, 401);
    assert.equal((await a.get('/api/auth/me')).status, 200);
  });

  test('a deactivated user is refused at once: sessions, login and refresh tokens', async () => {
    await register('carol');
    const carol = await loggedIn('carol');
    const pair = await json<{ refresh_token: string }>(await new Client(server.url).post('/api/auth/token', { username: 'carol', password: PASSWORD }));
    const root = await loggedIn('root');
    const id = (await server.portcullis.users.getByUsername('carol'))!.id;
    const res = await root.request('PATCH', `/api/admin/users/${id}`, { is_active: false });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await carol.get('/api/auth/me')).status, 401);
    assert.equal((await new Client(server.url).post('/api/auth/login', { username: 'carol', password: PASSWORD })).status, 401);
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: pair.refresh_token })).status, 401);
  });

  test('many users: keys spread over the nodes, and each user\'s keys share one slot', async () => {
    const clients: Client[] = [];
    for (let i = 0; i < 24; i++) {
      await register(`spread${i}`);
      clients.push(await loggedIn(`spread${i}`), await loggedIn(`spread${i}`));
      assert.equal((await new Client(server.url).post('/api/auth/token', { username: `spread${i}`, password: PASSWORD })).status, 200);
    }
    for (const client of clients) assert.equal((await client.get('/api/auth/me')).status, 200);

    const byNode = await keysByNode();
    const nodesWithSessions = [...byNode.values()].filter((keys) => keys.some((k) => k.includes(':s:')));
    assert.ok(nodesWithSessions.length >= 2, `sessions on ${nodesWithSessions.length} node(s)`);

    // Every key of one hash tag (a user's sessions and index; a user's refresh tokens and families) sits in one slot.
    const slotsByTag = new Map<string, Set<number>>();
    for (const [port, keys] of byNode) {
      for (const key of keys) {
        assert.ok(key.startsWith(PREFIX));
        const tag = /^[^{]*\{([^}]+)\}/.exec(key)?.[1];
        if (!tag) continue;
        const slot = Number(await nodes.get(port)!.cluster('KEYSLOT', key));
        slotsByTag.set(tag, (slotsByTag.get(tag) ?? new Set()).add(slot));
      }
    }
    assert.ok(slotsByTag.size >= 24);
    for (const [tag, slots] of slotsByTag) assert.equal(slots.size, 1, `tag ${tag}`);

    // Ending every session (and token) of a user is one script on that user's node.
    const user = (await server.portcullis.users.getByUsername('spread7'))!;
    const revoked = await (await loggedIn('root')).post(`/api/admin/users/${user.id}/revoke-sessions`);
    assert.deepEqual(await json(revoked), { revoked: 2 });
    assert.equal((await clients[14]!.get('/api/auth/me')).status, 401);
    assert.equal((await clients[15]!.get('/api/auth/me')).status, 401);
    assert.equal((await clients[16]!.get('/api/auth/me')).status, 200, 'another user is untouched');
  });

  test('a password-hash upgrade rewrites every session of the user in one script', async () => {
    const store = server.portcullis.sessions.store as RedisSessionStore;
    const user = (await server.portcullis.users.getByUsername('spread9'))!;
    const before = await store.listForUser(user.id, Date.now());
    assert.equal(before.length, 2);
    await store.updateAuthHash(user.id, before[0]!.authHash!, 'upgraded');
    assert.deepEqual((await store.listForUser(user.id, Date.now())).map((r) => r.authHash), ['upgraded', 'upgraded']);
  });

  test('clearsessions walks every primary', async () => {
    const store = server.portcullis.sessions.store as RedisSessionStore;
    const client = server.portcullis.redis!.client;
    const indexKeys: string[] = [];
    for (let i = 0; i < 24; i++) {
      const user = (await server.portcullis.users.getByUsername(`spread${i}`))!;
      const key = `${PREFIX}{${store.keyScheme.tagFor(user.id)}}:u:${user.id}`;
      // An index entry whose session is long gone.
      await client.zadd(key, 1, `stale-${i}`);
      indexKeys.push(key);
    }
    const holders = [...(await keysByNode())].filter(([, keys]) => keys.some((k) => indexKeys.includes(k)));
    assert.ok(holders.length >= 2, 'the stale entries are on several nodes');
    assert.ok((await server.portcullis.sessions.clearExpired()) >= 24);
    for (let i = 0; i < 24; i++) assert.equal(await client.zscore(indexKeys[i]!, `stale-${i}`), null);
  });
});

describe('throttling and tokens on a Redis Cluster', () => {
  test('failed logins are counted in the cluster and answered with 429', async () => {
    await register('victim');
    const attacker = new Client(server.url, { 'x-forwarded-for': '198.51.100.7' });
    for (let i = 0; i < 3; i++) assert.equal((await attacker.post('/api/auth/login', { username: 'victim', password: 'wrong' })).status, 401);
    const blocked = await attacker.post('/api/auth/login', { username: 'victim', password: PASSWORD });
    assert.equal(blocked.status, 429);
    assert.equal((await json<ErrorBody>(blocked)).error.code, 'throttled');
    const elsewhere = new Client(server.url, { 'x-forwarded-for': '198.51.100.8' });
    assert.equal((await elsewhere.post('/api/auth/login', { username: 'victim', password: PASSWORD })).status, 200);
    const counters = [...(await keysByNode()).values()].flat().filter((k) => k.startsWith(`${PREFIX}throttle:`));
    assert.ok(counters.length >= 1, 'the counters live in the cluster');
  });

  test('refresh tokens rotate; a spent one revokes its family; a password change revokes the rest', async () => {
    await register('dora');
    const obtain = async () => json<{ access_token: string; refresh_token: string }>(await new Client(server.url).post('/api/auth/token', { username: 'dora', password: PASSWORD }));
    const first = await obtain();
    assert.equal((await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${first.access_token}` } })).status, 200);
    const rotated = await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: first.refresh_token });
    assert.equal(rotated.status, 200);
    const second = await json<{ refresh_token: string }>(rotated);
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: first.refresh_token })).status, 401, 'reuse is refused');
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: second.refresh_token })).status, 401, 'and its family is revoked');

    const other = await obtain();
    const dora = await loggedIn('dora');
    assert.equal((await dora.post('/api/auth/password', { old_password: PASSWORD, new_password: 'a brand new passphrase' })).status, 200);
    assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: other.refresh_token })).status, 401);
  });
});

describe('a cluster node that goes away', () => {
  test('its users get 503 (never 500, never anonymous), the others are served, and it comes back', async () => {
    await register('erin');
    await register('frank');
    const erin = await loggedIn('erin');
    const frank = await loggedIn('frank');
    const holderOf = async (client: Client) => {
      const storageId = server.portcullis.sessions.keys.storageId(client.cookies.get('sessionid')!);
      return [...(await keysByNode())].find(([, keys]) => keys.some((k) => k.endsWith(`:s:${storageId}`)))![0];
    };
    const holder = await holderOf(erin);
    let other = frank;
    for (let i = 0; (await holderOf(other)) === holder; i++) {
      await register(`other${i}`);
      other = await loggedIn(`other${i}`);
    }

    await cluster.stopNode(holder);
    const me = await erin.get('/api/auth/me');
    assert.equal(me.status, 503);
    assert.equal((await json<ErrorBody>(me)).error.code, 'service_unavailable');
    const login = await new Client(server.url).post('/api/auth/login', { username: 'erin', password: PASSWORD });
    assert.equal(login.status, 503);
    assert.equal(login.headers.getSetCookie().length, 0, 'no cookie for a session that was never written');
    assert.equal((await other.get('/api/auth/me')).status, 200, 'users on the other nodes are served meanwhile');

    await cluster.startNode(holder);
    let status = 503;
    await waitFor(async () => (status = (await erin.get('/api/auth/me')).status) !== 503, 20_000, 'the node to serve again');
    // The node came back empty (this cluster keeps nothing on disk): the session is gone, not half there.
    assert.equal(status, 401);
    const again = await loggedIn('erin');
    assert.equal((await again.get('/api/auth/me')).status, 200);
  });
});
