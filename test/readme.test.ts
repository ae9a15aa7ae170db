import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createPortcullis } from '../src/index.js';
import { freePort, waitFor } from './instances.js';
import { PASSWORD, type ErrorBody } from './helpers.js';

/**
 * The README's "In your own app" blocks (```ts readme:NAME), run exactly as written: each is saved
 * inside this repository (so `portcullis/...` resolves to the built package by its own name), started
 * with tsx in a fresh folder where a user was created the way the server would, and logged in to.
 */
const README = readFileSync(resolve('README.md'), 'utf8');
const blocks = [...README.matchAll(/```ts readme:([a-z]+)\n([\s\S]*?)```/g)].map((m) => ({ name: m[1]!, code: m[2]! }));
const snippetRoot = resolve('.readme-snippets');
const running: ChildProcess[] = [];
after(() => {
  for (const child of running) child.kill('SIGTERM');
  rmSync(snippetRoot, { recursive: true, force: true });
});

describe('the README’s adapter snippets run as written', () => {
  test('there are the three of them', () => assert.deepEqual(blocks.map((b) => b.name).sort(), ['express', 'fastify', 'hono']));

  for (const { name, code } of blocks) {
    test(`${name}: logs in, answers the private route, refuses in the contract's shape`, async () => {
      const dir = join(snippetRoot, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'app.ts'), code);
      const cwd = mkdtempSync(join(tmpdir(), `portcullis-readme-${name}-`));
      try {
        // The user the server's createsuperuser would make, in the database both open by default.
        const p = await createPortcullis({ cwd, env: {} });
        await p.users.createUser({ username: 'reader', password: PASSWORD });
        await p.close();
        const port = await freePort();
        // tsx by its own path: the app runs in a folder of its own, where `--import tsx` would not resolve.
        const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(dir, 'app.ts')], {
          cwd,
          env: { PATH: process.env.PATH ?? '', PORT: String(port) },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        running.push(child);
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        const url = `http://127.0.0.1:${port}`;
        await waitFor(async () => (await fetch(url + '/private')).status === 401, 30_000, `the ${name} snippet on ${port}: ${out}`);

        const anonymous = await fetch(url + '/private');
        assert.equal(((await anonymous.json()) as ErrorBody).error.code, 'not_authenticated');
        const post = (body: unknown) => fetch(url + '/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        const wrong = await post({ username: 'reader', password: 'wrong' });
        assert.equal(wrong.status, 401);
        assert.equal(((await wrong.json()) as ErrorBody).error.code, 'invalid_credentials');
        const right = await post({ username: 'READER', password: PASSWORD });
        const text = await right.text();
        assert.equal(right.status, 200, text);
        assert.ok(!text.includes('argon2'), 'no hash');
        const cookie = /sessionid=[^;]+/.exec(right.headers.getSetCookie().join('; '))?.[0];
        assert.ok(cookie, 'a session cookie');
        const mine = await fetch(url + '/private', { headers: { cookie } });
        assert.equal(mine.status, 200);
        assert.equal(((await mine.json()) as { user: { username: string } }).user.username, 'reader');
        child.kill('SIGTERM');
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
});
