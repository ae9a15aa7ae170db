/**
 * The peers, set up as their own documentation sets them up, for the `peer-*` figures of run.ts: an
 * Express app whose GET /guarded needs a logged-in user and answers {user}, and whose GET /bare, in
 * the same app and process, answers the same JSON without any auth. Both keep their data in SQLite
 * through better-sqlite3, in ./data of the working directory run.ts gives them, with the pragmas
 * portcullis's own SQLite connection uses (WAL, synchronous = NORMAL: better-sqlite3's advice), so
 * the comparison is about the libraries, not about fsync.
 *
 * - passport: express-session with better-sqlite3-session-store (resave: false, saveUninitialized:
 *   false, as passport's tutorial has it), passport.session(), passport-local; the user is logged in
 *   once through POST /login (passport.authenticate('local')). serializeUser / deserializeUser are
 *   passport's documented pair: {id, username} kept in the session, no read of the user table per
 *   request (express-session still reads the session row and touches its expiry on every request).
 * - better-auth: `emailAndPassword: { enabled: true }`, a better-sqlite3 Database as `database`, its
 *   tables made by its own migrations (getMigrations), mounted with `toNodeHandler` on
 *   /api/auth/*splat (Express 5) as its Express guide says; the user signs up and signs in through
 *   /api/auth/sign-up/email and /api/auth/sign-in/email. /guarded calls
 *   `auth.api.getSession({ headers: fromNodeHeaders(req.headers) })`. Everything else is better-auth's
 *   default: with a database, its session cookie cache is off, so every getSession reads the session
 *   and its user from the database.
 *
 * Usage: peers.ts <passport|better-auth>. Prints `READY <port> <Cookie header>`; SIGTERM closes it.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import express, { type Express } from 'express';
import { BENCH_USER } from './common.js';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

mkdirSync('data', { recursive: true });
function sqlite(file: string): Database.Database {
  const db = new Database(`data/${file}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return db;
}

interface Peer {
  app: Express;
  /** Once the server listens: logs the bench user in through the app's own login route, returns the Cookie header. */
  login(origin: string): Promise<string>;
  /** Set before login(): better-auth wants its base URL, known once the port is. */
  setOrigin?(origin: string): Promise<void>;
  close?(): void;
}

/** The Cookie header (name=value) of the Set-Cookie a login answered with. */
function cookieFrom(res: Response, name: string): string {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  if (!cookie) throw new Error(`no ${name} cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
  return cookie.split(';')[0]!;
}

/** What /bare answers: the body /guarded gave, set once the server is up. */
let bareBody: unknown = {};

async function passportPeer(): Promise<Peer> {
  const { default: session } = await import('express-session');
  const { default: passport } = await import('passport');
  const { Strategy: LocalStrategy } = await import('passport-local');
  const { default: sqliteStore } = await import('better-sqlite3-session-store');
  const SqliteStore = sqliteStore(session);

  const db = sqlite('passport.sqlite3');
  db.exec('CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, salt BLOB NOT NULL, hash BLOB NOT NULL)');
  const salt = randomBytes(16);
  db.prepare('INSERT OR REPLACE INTO users (id, username, salt, hash) VALUES (1, ?, ?, ?)').run(BENCH_USER.username, salt, await scrypt(BENCH_USER.password, salt, 32));

  interface Row {
    id: number;
    username: string;
    salt: Buffer;
    hash: Buffer;
  }
  const byName = db.prepare<[string], Row>('SELECT * FROM users WHERE username = ?');
  passport.use(
    new LocalStrategy((username, password, done) => {
      const row = byName.get(username);
      if (!row) return done(null, false);
      scrypt(password, row.salt, 32).then(
        (hash) => done(null, timingSafeEqual(hash, row.hash) ? { id: row.id, username: row.username } : false),
        (err: unknown) => done(err),
      );
    }),
  );
  passport.serializeUser((user, done) => done(null, user));
  passport.deserializeUser((user: Express.User, done) => done(null, user));

  const app = express();
  app.use(express.json());
  // Registered before the session and passport middleware, which therefore never run for it.
  app.get('/bare', (_req, res) => {
    res.json(bareBody);
  });
  app.use(
    session({
      secret: randomBytes(32).toString('base64url'),
      resave: false,
      saveUninitialized: false,
      store: new SqliteStore({ client: db }),
    }),
  );
  app.use(passport.session());
  app.post('/login', passport.authenticate('local'), (req, res) => {
    res.json({ user: req.user });
  });
  app.get('/guarded', (req, res) => {
    if (!req.isAuthenticated()) {
      res.status(401).json({ error: 'not logged in' });
      return;
    }
    res.json({ user: req.user });
  });
  return {
    app,
    async login(origin) {
      const res = await fetch(`${origin}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BENCH_USER) });
      if (res.status !== 200) throw new Error(`passport login answered ${res.status}: ${await res.text()}`);
      return cookieFrom(res, 'connect.sid');
    },
    close: () => db.close(),
  };
}

async function betterAuthPeer(): Promise<Peer> {
  const { betterAuth } = await import('better-auth');
  const { toNodeHandler, fromNodeHeaders } = await import('better-auth/node');
  const { getMigrations } = await import('better-auth/db/migration');

  const db = sqlite('better-auth.sqlite3');
  const secret = randomBytes(32).toString('base64url');
  const create = (baseURL: string) => betterAuth({ baseURL, secret, database: db, emailAndPassword: { enabled: true } });
  let auth: ReturnType<typeof create> | undefined;
  let handler: ReturnType<typeof toNodeHandler> | undefined;

  const app = express();
  // As better-auth's Express guide says: its handler first, body parsing after it.
  app.all('/api/auth/*splat', (req, res) => void handler!(req, res));
  app.use(express.json());
  app.get('/bare', (_req, res) => {
    res.json(bareBody);
  });
  app.get('/guarded', async (req, res, next) => {
    try {
      const session = await auth!.api.getSession({ headers: fromNodeHeaders(req.headers) });
      if (!session) {
        res.status(401).json({ error: 'not logged in' });
        return;
      }
      res.json({ user: session.user });
    } catch (err) {
      next(err);
    }
  });
  return {
    app,
    async setOrigin(origin) {
      auth = create(origin);
      handler = toNodeHandler(auth);
      const { runMigrations } = await getMigrations(auth.options);
      await runMigrations();
    },
    async login(origin) {
      const post = (path: string, body: unknown) =>
        fetch(`${origin}/api/auth/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify(body) });
      const email = `${BENCH_USER.username}@example.com`;
      const signUp = await post('sign-up/email', { email, password: BENCH_USER.password, name: BENCH_USER.username });
      if (signUp.status !== 200) throw new Error(`better-auth sign-up answered ${signUp.status}: ${await signUp.text()}`);
      const signIn = await post('sign-in/email', { email, password: BENCH_USER.password });
      if (signIn.status !== 200) throw new Error(`better-auth sign-in answered ${signIn.status}: ${await signIn.text()}`);
      return cookieFrom(signIn, 'better-auth.session_token');
    },
    close: () => db.close(),
  };
}

const peers: Record<string, () => Promise<Peer>> = { passport: passportPeer, 'better-auth': betterAuthPeer };
const make = peers[process.argv[2] ?? ''];
if (!make) throw new Error(`usage: peers.ts <${Object.keys(peers).join('|')}>`);
const peer = await make();
const server = await new Promise<Server>((resolve) => {
  const s = peer.app.listen(0, '127.0.0.1', () => resolve(s));
});
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
await peer.setOrigin?.(origin);
const cookie = await peer.login(origin);

const res = await fetch(`${origin}/guarded`, { headers: { cookie } });
if (res.status !== 200) throw new Error(`/guarded answered ${res.status}: ${await res.text()}`);
bareBody = await res.json();
process.stdout.write(`READY ${(server.address() as AddressInfo).port} ${cookie}\n`);

process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => {
    peer.close?.();
    process.exit(0);
  });
});
