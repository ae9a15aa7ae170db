import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPortcullis } from '../src/portcullis.js';
import { buildServer, REDACT } from '../src/http/server.js';
import { Client, PASSWORD } from './helpers.js';

test('logs never carry passwords, session keys, cookies or tokens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-log-'));
  let log = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      log += chunk.toString();
      done();
    },
  });
  const portcullis = await createPortcullis({ cwd: dir, env: {}, dataDir: dir, secretKey: 'log-secret-0123456789abcdef0123456789' });
  // The server's own logger settings (level info, the REDACT list), writing to a stream we can read.
  const app = await buildServer(portcullis, { logger: { level: 'info', redact: REDACT, stream } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  try {
    await portcullis.users.createUser({ username: 'quiet', password: PASSWORD });
    const client = new Client(url);
    await client.post('/api/auth/login', { username: 'quiet', password: 'WRONG-SECRET-PASSWORD' });
    await client.post('/api/auth/login', { username: 'quiet', password: PASSWORD });
    const key = client.cookies.get('sessionid')!;
    await client.get('/api/auth/me');
    const tokens = (await (await new Client(url).post('/api/auth/token', { username: 'quiet', password: PASSWORD })).json()) as { access_token: string; refresh_token: string };
    await fetch(url + '/api/auth/me', { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.match(log, /request completed/, 'the log is written');
    for (const secret of ['WRONG-SECRET-PASSWORD', PASSWORD, key, tokens.access_token, tokens.refresh_token]) {
      assert.ok(!log.includes(secret), `a secret leaked into the log: ${secret.slice(0, 8)}…`);
    }
  } finally {
    await app.close();
    await portcullis.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
