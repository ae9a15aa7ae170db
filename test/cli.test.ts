import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { createPortcullis } from '../src/portcullis.js';
import { Client, json, PASSWORD, startServer, type TestServer } from './helpers.js';
import { dropRedisKeys } from './instances.js';

const CLI = resolve('dist/cli/main.js');
let dir: string;

function run(args: string[], env: Record<string, string> = {}, input?: string, cwd = dir) {
  return spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** The CLI without blocking this process's event loop (a server of this process must keep answering). */
function runAsync(args: string[], env: Record<string, string>, input?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env } });
    child.stdin.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`), answering each prompt once it is shown,
 * as a person would; returns everything the terminal displayed.
 */
function onTerminal(args: string[], answers: Array<[RegExp, string]>): Promise<{ status: number | null; screen: string }> {
  const commandLine = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', commandLine, '/dev/null'], { cwd: dir, env: { PATH: process.env.PATH ?? '', TERM: 'dumb' } });
  let screen = '';
  let answered = 0;
  child.stdout.on('data', (d: Buffer) => {
    screen += d;
    const next = answers[0];
    if (next && next[0].test(screen.slice(answered))) {
      answers.shift();
      answered = screen.length;
      child.stdin.write(`${next[1]}\r`);
    }
  });
  const timer = setTimeout(() => child.kill(), 30_000);
  return new Promise((done) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      done({ status, screen });
    }),
  );
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('portcullis command line', () => {
  test('migrate creates ./data with a private secret key and the schema', () => {
    const res = run(['migrate']);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /0001_initial/);
    assert.equal(statSync(join(dir, 'data', 'secret_key')).mode & 0o777, 0o600);
    const again = run(['migrate']);
    assert.match(again.stdout, /No migrations to apply/);
  });

  test('createsuperuser --noinput takes the password from the environment', async () => {
    const res = run(['createsuperuser', '--username', 'root', '--email', 'root@Example.com', '--noinput'], {
      PORTCULLIS_SUPERUSER_PASSWORD: 'a sturdy admin passphrase',
    });
    assert.equal(res.status, 0, res.stderr);
    const p = await createPortcullis({ cwd: dir, env: {}, dataDir: join(dir, 'data') });
    try {
      const user = await p.users.getByUsername('root');
      assert.ok(user?.is_superuser && user.is_staff);
      assert.equal(user.email, 'root@example.com');
      assert.ok(await p.authenticate({ username: 'root', password: 'a sturdy admin passphrase' }));
    } finally {
      await p.close();
    }
    const dup = run(['createsuperuser', '--username', 'root', '--noinput'], { PORTCULLIS_SUPERUSER_PASSWORD: 'a sturdy admin passphrase' });
    assert.equal(dup.status, 1);
    assert.match(dup.stderr, /already exists/);
    const weak = run(['createsuperuser', '--username', 'root2', '--noinput'], { PORTCULLIS_SUPERUSER_PASSWORD: '123' });
    assert.equal(weak.status, 1);
    assert.match(weak.stderr, /password/i);
  });

  test('changepassword reads the new password and ends the user\'s sessions', async () => {
    const res = run(['changepassword', 'root'], {}, 'another sturdy passphrase\n');
    assert.equal(res.status, 0, res.stderr);
    const p = await createPortcullis({ cwd: dir, env: {}, dataDir: join(dir, 'data') });
    try {
      assert.ok(await p.authenticate({ username: 'root', password: 'another sturdy passphrase' }));
      assert.equal(await p.authenticate({ username: 'root', password: 'a sturdy admin passphrase' }), null);
    } finally {
      await p.close();
    }
    assert.equal(run(['changepassword', 'nobody'], {}, 'x\n').status, 1);
  });

  test('clearsessions deletes expired sessions only', async () => {
    const p = await createPortcullis({ cwd: dir, env: {}, dataDir: join(dir, 'data') });
    try {
      const user = (await p.users.getByUsername('root'))!;
      await p.sessions.create({ userId: user.id, backend: 'model', authHash: 'x', persistent: true }, Date.now() - 10 * 365 * 86400_000);
      await p.sessions.create({ userId: user.id, backend: 'model', authHash: 'x', persistent: true });
    } finally {
      await p.close();
    }
    const res = run(['clearsessions']);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /Deleted 1 expired session/);
  });

  test('createsuperuser on a terminal asks again after a taken name, a mismatch and a refused password, and echoes no password', { skip: !HAS_SCRIPT && 'needs script (util-linux) for a pseudo-terminal' }, async () => {
    const { status, screen } = await onTerminal(
      ['createsuperuser'],
      [
        [/Username: $/, 'root'],
        [/already taken\.\r?\n\s*Username: $/, 'chief'],
        [/Email address: $/, 'chief@example.com'],
        [/Password: $/, 'chief'],
        [/\(again\): $/, 'chief'],
        [/Password: $/, 'a sturdy chief passphrase'],
        [/\(again\): $/, 'a sturdy chief passphrase!'],
        [/didn't match\.\r?\n\s*Password: $/, 'a sturdy chief passphrase'],
        [/\(again\): $/, 'a sturdy chief passphrase'],
      ],
    );
    assert.equal(status, 0, screen);
    assert.match(screen, /Error: That username is already taken\./);
    assert.match(screen, /too short|too similar/, 'the validators say why the first password was refused');
    assert.match(screen, /Error: Your passwords didn't match\./);
    assert.match(screen, /Superuser "chief" created\./);
    assert.doesNotMatch(screen, /sturdy/, 'no password is echoed');
    const p = await createPortcullis({ cwd: dir, env: {}, dataDir: join(dir, 'data') });
    try {
      const user = await p.users.getByUsername('chief');
      assert.ok(user?.is_superuser && user.is_staff);
      assert.ok(await p.authenticate({ username: 'chief', password: 'a sturdy chief passphrase' }));
    } finally {
      await p.close();
    }
  });

  test('createsuperuser from a pipe refuses in one line naming --noinput, and creates nothing', async () => {
    const res = run(['createsuperuser'], {}, 'piped\npiped@example.com\na sturdy piped passphrase\na sturdy piped passphrase\n');
    assert.equal(res.status, 1);
    assert.equal(res.stdout, '', 'no prompts printed to nobody');
    assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    assert.match(res.stderr, /terminal, and stdin is not one.*--noinput.*PORTCULLIS_SUPERUSER_PASSWORD/);
    const p = await createPortcullis({ cwd: dir, env: {}, dataDir: join(dir, 'data') });
    try {
      assert.equal(await p.users.getByUsername('piped'), null);
    } finally {
      await p.close();
    }
  });

  const COMMANDS = ['serve', 'migrate', 'createsuperuser', 'changepassword', 'clearsessions', 'check', 'rotate-keys', 'hash-calibrate', 'import-django'];

  test('every command has --help, -h and "help <command>", and --help lists them all', () => {
    const list = run(['--help']);
    assert.equal(list.status, 0);
    for (const name of COMMANDS) {
      assert.match(list.stdout, new RegExp(`^  ${name} `, 'm'), `${name} is listed`);
      for (const args of [[name, '--help'], ['help', name]]) {
        const res = run(args);
        assert.equal(res.status, 0, `${args.join(' ')}: ${res.stderr}`);
        assert.match(res.stdout, new RegExp(`^Usage: portcullis ${name}\\b`), args.join(' '));
        assert.match(res.stdout, /^Options:$/m);
      }
    }
    assert.equal(run(['createsuperuser', '-h']).stdout, run(['createsuperuser', '--help']).stdout);
    assert.match(run(['createsuperuser', '--help']).stdout, /--noinput .*PORTCULLIS_SUPERUSER_PASSWORD/);
    assert.equal(run(['serve', '--help']).stdout.includes('listening'), false, '--help does not start the server');
  });

  test('unknown options, stray arguments and unknown commands are refused with exit 2, doing nothing', () => {
    for (const name of COMMANDS) {
      const res = run([name, '--bogus'], {}, '');
      assert.equal(res.status, 2, `${name} --bogus: ${res.stdout}${res.stderr}`);
      assert.equal(res.stderr, `portcullis ${name}: unknown option --bogus (see portcullis help ${name})\n`);
      assert.equal(res.stdout, '', `${name} did nothing`);
    }
    assert.match(run(['createsuperuser', '--usrname', 'x']).stderr, /unknown option --usrname; did you mean --username\?/);
    assert.match(run(['check', '--origin']).stderr, /--origin needs a value/);
    assert.equal(run(['clearsessions', 'now']).status, 2);
    assert.equal(run(['changepassword']).status, 2);
    const typo = run(['creatsuperuser']);
    assert.equal(typo.status, 2);
    assert.match(typo.stderr, /unknown command "creatsuperuser"; did you mean createsuperuser\?/);
  });

  test('check tests the database and the session store, and exits 1 when either does not answer', () => {
    const good = run(['check']);
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /OK: The database sqlite:.* answers\./);
    const db = run(['check'], { PORTCULLIS_DATABASE_URL: 'postgres://portcullis:secret@127.0.0.1:1/nothing' });
    assert.equal(db.status, 1, db.stdout);
    assert.match(db.stdout, /PROBLEM: Cannot reach the database postgres:\/\/portcullis:\*\*\*@127\.0\.0\.1:1\/nothing/);
    assert.doesNotMatch(db.stdout, /secret/);
    const store = run(['check'], { PORTCULLIS_SESSION_STORE: 'redis://127.0.0.1:1' });
    assert.equal(store.status, 1, store.stdout);
    assert.match(store.stdout, /OK: The database/);
    assert.match(store.stdout, /PROBLEM: Cannot reach the session store redis:\/\/127\.0\.0\.1:1/);
    const redis = run(['check'], { PORTCULLIS_SESSION_STORE: 'redis://127.0.0.1:6379' });
    assert.equal(redis.status, 0, redis.stdout);
    assert.match(redis.stdout, /OK: The session store redis:\/\/127\.0\.0\.1:6379 answers\./);
  });

  test('a misspelt key in the config file is named with the nearest known one, by check and by serve', () => {
    const project = mkdtempSync(join(tmpdir(), 'portcullis-cli-config-'));
    try {
      writeFileSync(join(project, 'portcullis.config.json'), JSON.stringify({ userFeilds: { nickname: { type: 'string' } } }));
      const checked = run(['check'], {}, undefined, project);
      assert.equal(checked.status, 1, checked.stdout);
      assert.match(checked.stdout, /PROBLEM: portcullis\.config\.json: unknown setting "userFeilds"; did you mean "userFields"\?/);
      const served = run(['serve'], {}, undefined, project);
      assert.equal(served.status, 1);
      assert.equal(served.stderr, 'portcullis: portcullis.config.json: unknown setting "userFeilds"; did you mean "userFields"?\n');
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  test('check --origin explains localhost versus 127.0.0.1', () => {
    const bad = run(['check', '--origin', 'http://127.0.0.1:5173']);
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /localhost is not 127\.0\.0\.1/);
    assert.match(bad.stdout, /Fix:/);
    const good = run(['check', '--origin', 'http://localhost:5173'], { PORTCULLIS_TRUSTED_ORIGINS: 'http://localhost:5173' });
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /OK/);
  });

  test('a setting that cannot work stops with one clear line', () => {
    const res = run(['serve'], { PORTCULLIS_SAMESITE: 'None' });
    assert.equal(res.status, 1);
    assert.match(res.stderr, /^portcullis: SameSite=None .*PORTCULLIS_SECURE_COOKIES=1/);
    assert.equal(res.stderr.trim().split('\n').length, 1);
    const url = run(['serve'], { PORTCULLIS_DATABASE_URL: 'mongodb://x' });
    assert.equal(url.status, 1);
    assert.match(url.stderr, /scheme/);
  });
});

describe('portcullis rotate-keys and a running server', () => {
  let server: TestServer;
  const redisUrl = process.env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const secretKey = 'rotate-keys-secret-0123456789abcdef0123456789';

  async function tokenKid(): Promise<{ token: string; kid: string }> {
    const res = await new Client(server.url).post('/api/auth/token', { username: 'svc', password: PASSWORD });
    assert.equal(res.status, 200);
    const token = (await json<{ access_token: string }>(res)).access_token;
    return { token, kid: String(decodeProtectedHeader(token).kid) };
  }

  const accepted = async (token: string) => (await fetch(server.url + '/api/auth/me', { headers: { authorization: `Bearer ${token}` } })).status === 200;
  const published = async () => (await json<{ keys: Array<{ kid: string }> }>(await fetch(server.url + '/.well-known/jwks.json'))).keys.map((k) => k.kid);

  function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
    // The server's own database, whichever the suite runs on (PORTCULLIS_TEST_DATABASE).
    return { PORTCULLIS_DATABASE_URL: server.portcullis.config.databaseUrl, PORTCULLIS_SECRET_KEY: secretKey, PORTCULLIS_DATA_DIR: server.dir, ...extra };
  }

  test('with Redis, the running server signs with the new key at once and still accepts the old key\'s tokens', async () => {
    const prefix = `portcullis-test:rotate:${process.pid}:`;
    server = await startServer({ sessionStore: redisUrl, redisPrefix: prefix, secretKey });
    try {
      await server.portcullis.users.createUser({ username: 'svc', password: PASSWORD });
      const before = await tokenKid();
      const res = await runAsync(['rotate-keys'], cliEnv({ PORTCULLIS_SESSION_STORE: redisUrl, PORTCULLIS_REDIS_PREFIX: prefix }));
      assert.equal(res.status, 0, res.stderr);
      const kid = /New signing key (\S+)\./.exec(res.stdout)?.[1];
      assert.ok(kid && kid !== before.kid, res.stdout);
      assert.match(res.stdout, /from now on \(told on the change channel\)/);
      const after = await tokenKid();
      assert.equal(after.kid, kid, 'the very next token is signed with the new key (not after the 60 s reload)');
      assert.ok(await accepted(after.token));
      assert.ok(await accepted(before.token), 'the retired key verifies until its tokens expire');
      assert.deepEqual((await published()).sort(), [before.kid, kid].sort(), 'both keys are published');
    } finally {
      await server.close();
      await dropRedisKeys(redisUrl, prefix);
    }
  });

  test('without a change channel (SQLite), the output states the bound: new tokens verify within a second, signing follows within 60 s', async () => {
    // SQLite whatever PORTCULLIS_TEST_DATABASE says: PostgreSQL would have a change channel.
    const dbDir = mkdtempSync(join(tmpdir(), 'portcullis-rotate-'));
    const databaseUrl = `sqlite:${join(dbDir, 'test.sqlite3')}`;
    server = await startServer({ sessionStore: 'database', secretKey, databaseUrl });
    try {
      await server.portcullis.users.createUser({ username: 'svc', password: PASSWORD });
      const before = await tokenKid();
      const res = await runAsync(['rotate-keys'], cliEnv());
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stdout, /no change channel here .*within 60 s, and accept its tokens within a second/);
      const kid = /New signing key ([^;\s]+);/.exec(res.stdout)?.[1];
      assert.ok(kid && kid !== before.kid, res.stdout);
      assert.equal((await tokenKid()).kid, before.kid, 'as stated: this server signs with the old key until its reload');
      const elsewhere = await createPortcullis({ databaseUrl, secretKey, cwd: server.dir, env: {}, dataDir: server.dir });
      try {
        const user = (await elsewhere.users.getByUsername('svc'))!;
        const pair = await elsewhere.tokens.issue(user, elsewhere.authHash(user.password));
        assert.equal(decodeProtectedHeader(pair.access_token).kid, kid);
        // An unknown key id re-reads the key table at most once a second (a flood of made-up ids costs nothing).
        const deadline = Date.now() + 1500;
        while (!(await accepted(pair.access_token)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        assert.ok(await accepted(pair.access_token), 'a token signed with the new key is accepted within a second');
      } finally {
        await elsewhere.close();
      }
    } finally {
      await server.close();
      rmSync(dbDir, { recursive: true, force: true });
    }
  });
});

describe('portcullis changepassword and a running server', () => {
  test("ends every session and refresh token of the user at once, as the API's password change ends the others", async () => {
    // On whatever the suite runs against (PORTCULLIS_TEST_DATABASE, PORTCULLIS_TEST_SESSION_STORE):
    // the CLI opens the same stores, and the server hears of the change on the change channel (or,
    // on SQLite, from the file's change counter).
    const server = await startServer();
    try {
      const { config } = server.portcullis;
      await server.portcullis.users.createUser({ username: 'walker', password: PASSWORD });
      const me = (headers: Record<string, string>) => fetch(server.url + '/api/auth/me', { headers });
      const laptop = new Client(server.url);
      const phone = new Client(server.url);
      for (const browser of [laptop, phone]) assert.equal((await browser.post('/api/auth/login', { username: 'walker', password: PASSWORD })).status, 200);
      const pair = await json<{ access_token: string; refresh_token: string }>(await new Client(server.url).post('/api/auth/token', { username: 'walker', password: PASSWORD }));
      const bearer = { authorization: `Bearer ${pair.access_token}` };
      // Read twice, so that the server's auth cache holds each of them.
      for (let i = 0; i < 2; i++) {
        for (const browser of [laptop, phone]) assert.equal((await browser.get('/api/auth/me')).status, 200);
        assert.equal((await me(bearer)).status, 200);
      }

      const env: Record<string, string> = {
        PORTCULLIS_DATABASE_URL: config.databaseUrl,
        PORTCULLIS_SESSION_STORE: config.sessionStore,
        PORTCULLIS_SECRET_KEY: config.secretKey,
        PORTCULLIS_DATA_DIR: server.dir,
        ...(config.redisPrefix ? { PORTCULLIS_REDIS_PREFIX: config.redisPrefix } : {}),
      };
      const res = await runAsync(['changepassword', 'walker'], env, 'a freshly chosen passphrase\n');
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stdout, /their sessions have ended/);

      for (const browser of [laptop, phone]) assert.equal((await browser.get('/api/auth/me')).status, 401, 'every session ended, cached or not');
      assert.equal((await me(bearer)).status, 401, 'the access token was bound to the old password');
      assert.equal((await new Client(server.url).post('/api/auth/token/refresh', { refresh_token: pair.refresh_token })).status, 401, 'the refresh token was revoked');
      assert.equal((await new Client(server.url).post('/api/auth/login', { username: 'walker', password: PASSWORD })).status, 401);
      assert.equal((await new Client(server.url).post('/api/auth/login', { username: 'walker', password: 'a freshly chosen passphrase' })).status, 200);

      const weak = await runAsync(['changepassword', 'walker'], env, 'walker\n');
      assert.equal(weak.status, 1, 'the validators judge it as they do at the API');
      assert.match(weak.stderr, /password: .*similar to the username/i);
    } finally {
      await server.close();
    }
  });
});
