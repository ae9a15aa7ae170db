/**
 * Fills a bench database with many users and sessions, fast: `npm run bench` runs it before the
 * scale and memory figures. Usage:
 *
 *   PORTCULLIS_DATABASE_URL=... node --import tsx scripts/bench-seed.ts '{"dataDir":"/tmp/x","users":1000000,"sessions":1000000,"salt":"s"}'
 *
 * (without PORTCULLIS_DATABASE_URL: SQLite in dataDir, as bench/server.ts uses it). Prints one JSON
 * line: {users, sessions, seconds}.
 *
 * Every user gets the same password hash, computed once with the default hasher: a million argon2
 * hashes would take hours, and a hash is a hash to the lookups being measured. Every session gets the
 * auth hash portcullis derives from that password hash, so each seeded session is valid for requests.
 * See bench/common.ts for the names and keys (seedUsername, seedSessionKey).
 *
 * - SQLite: multi-row INSERTs through better-sqlite3 statements prepared once, 100,000 rows per
 *   transaction.
 * - PostgreSQL: INSERT … SELECT over generate_series, with keys and their SHA-256 computed by the
 *   server, so no row crosses the wire at all (faster than COPY, and pg needs no extra package).
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { BENCH_USER, benchPortcullis, seedSessionKey, seedUsername, type SeedSpec } from '../bench/common.js';
import { loginKeyHash } from '../src/users/login-keys.js';
import { loginKey } from '../src/users/normalize.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as SeedSpec;
if (!spec.dataDir || !(spec.users >= 1) || !(spec.sessions >= 0) || !spec.salt) {
  throw new Error('usage: bench-seed.ts \'{"dataDir":"...","users":N,"sessions":N,"salt":"..."}\'');
}
if (!/^[A-Za-z0-9_-]+$/.test(spec.salt)) throw new Error('salt: letters, digits, _ and - only');

const started = performance.now();
const portcullis = await benchPortcullis(spec.dataDir);
const encoded = await portcullis.hashers.makePassword(BENCH_USER.password);
const authHash = portcullis.authHash(encoded);
const now = Date.now();
const expires = now + portcullis.config.sessionAge * 1000;
const { sqlite, db, dialect } = portcullis.database;

if (sqlite) {
  const BATCH = 500;
  const TX = 100_000;
  const insertRows = (table: string, columns: string[], rows: number, row: (i: number) => unknown[]) => {
    const tuple = `(${columns.map(() => '?').join(',')})`;
    const full = sqlite.prepare(`INSERT INTO ${table} (${columns.join(',')}) VALUES ${Array(BATCH).fill(tuple).join(',')}`);
    const tx = sqlite.transaction((from: number, to: number) => {
      for (let i = from; i <= to; ) {
        const n = Math.min(BATCH, to - i + 1);
        const params: unknown[] = [];
        for (let k = 0; k < n; k++) params.push(...row(i + k));
        const stmt = n === BATCH ? full : sqlite.prepare(`INSERT INTO ${table} (${columns.join(',')}) VALUES ${Array(n).fill(tuple).join(',')}`);
        stmt.run(params);
        i += n;
      }
    });
    for (let from = 1; from <= rows; from += TX) tx(from, Math.min(rows, from + TX - 1));
  };
  insertRows('auth_user', ['username', 'password', 'date_joined'], spec.users, (i) => [seedUsername(i), encoded, now]);
  const firstId = Number((sqlite.prepare('SELECT min(id) AS id FROM auth_user WHERE username = ?').get(seedUsername(1)) as { id: number }).id);
  // A login looks the identifier up among the login keys, which start-up fills only for a new table.
  insertRows('portcullis_login_key', ['key_hash', 'user_id', 'field'], spec.users, (i) => [loginKeyHash(seedUsername(i)), firstId + i - 1, 'username']);
  insertRows(
    'portcullis_session',
    ['key_hash', 'public_id', 'user_id', 'backend', 'auth_hash', 'data', 'created_at', 'last_seen_at', 'expires_at', 'persistent'],
    spec.sessions,
    (i) => [
      createHash('sha256').update(seedSessionKey(spec.salt, i)).digest('hex'),
      `seed${i}`,
      firstId + ((i - 1) % spec.users),
      'model',
      authHash,
      '{}',
      now,
      now,
      expires,
      1,
    ],
  );
  sqlite.exec('ANALYZE');
} else if (dialect === 'postgres') {
  await sql`INSERT INTO auth_user (username, password, date_joined, is_superuser, first_name, last_name, is_staff, is_active)
    SELECT 'seed' || i, ${encoded}, ${now}, 0, '', '', 0, 1 FROM generate_series(1, ${spec.users}::int) AS i`.execute(db);
  const first = await sql<{ id: number }>`SELECT id FROM auth_user WHERE username = ${seedUsername(1)}`.execute(db);
  const firstId = Number(first.rows[0]!.id);
  // The login keys in SQL: a seeded username is its own normal form, so its key is sha256 of itself.
  if (loginKey(seedUsername(12345)) !== seedUsername(12345)) throw new Error('seeded usernames are no longer their own login key');
  await sql`INSERT INTO portcullis_login_key (key_hash, user_id, field)
    SELECT encode(sha256(convert_to('seed' || i, 'UTF8')), 'hex'), ${firstId}::int + i - 1, 'username' FROM generate_series(1, ${spec.users}::int) AS i`.execute(db);
  // key = base64url(sha256(salt || ':' || i)) without padding, exactly as seedSessionKey computes it.
  await sql`INSERT INTO portcullis_session (key_hash, public_id, user_id, backend, auth_hash, data, created_at, last_seen_at, expires_at, persistent)
    SELECT encode(sha256(convert_to(k, 'UTF8')), 'hex'), 'seed' || i, ${firstId}::int + ((i - 1) % ${spec.users}::int), 'model', ${authHash}, '{}', ${now}, ${now}, ${expires}, 1
    FROM (
      SELECT i, translate(rtrim(encode(sha256(convert_to(${spec.salt} || ':' || i, 'UTF8')), 'base64'), '='), '+/', '-_') AS k
      FROM generate_series(1, ${spec.sessions}::int) AS i
    ) AS g`.execute(db);
  // A table this size in production has statistics; the planner should see the same.
  await sql`ANALYZE auth_user`.execute(db);
  await sql`ANALYZE portcullis_session`.execute(db);
} else {
  throw new Error(`cannot seed a ${dialect} database`);
}

await portcullis.close();
process.stdout.write(JSON.stringify({ users: spec.users, sessions: spec.sessions, seconds: (performance.now() - started) / 1000 }) + '\n');
