// Run inside the new project (run.sh) after `portcullis createsuperuser`: `npx portcullis serve` on a
// free port with its default SQLite database, then a login over HTTP and the session it gives.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

const [username, password] = process.argv.slice(2);
const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});
const base = `http://127.0.0.1:${port}`;
const server = spawn('npx', ['--no-install', 'portcullis', 'serve'], { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
let output = '';
server.stdout.on('data', (d) => (output += d));
server.stderr.on('data', (d) => (output += d));
const exited = new Promise((resolve) => server.on('exit', resolve));

try {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`portcullis serve exited with ${server.exitCode}`);
    const up = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > deadline) throw new Error('portcullis serve did not answer /readyz in 30 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  assert.equal(login.status, 200, `login answered ${login.status}: ${await login.clone().text()}`);
  const cookie = login.headers.getSetCookie().find((c) => c.startsWith('sessionid='));
  assert.ok(cookie, 'login set no session cookie');
  const me = await fetch(`${base}/api/auth/me`, { headers: { cookie: cookie.split(';')[0] } });
  assert.equal(me.status, 200);
  assert.equal((await me.json()).user.username, username);
  console.log(`serve: ${username} logged in at ${base} and /api/auth/me knows the session`);
} catch (err) {
  console.error(output);
  throw err;
} finally {
  // npx runs the server as a child of its own: end the process group this script started.
  process.kill(-server.pid, 'SIGTERM');
  await exited;
}
