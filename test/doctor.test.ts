import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConnections, diagnoseOrigin, siteOf } from '../src/doctor.js';
import { resolveConfig, ConfigError } from '../src/config.js';

const base = { secretKey: 'k', dataDir: '/tmp/portcullis-doctor' };

test('sites: localhost and 127.0.0.1 differ, ports do not matter', () => {
  assert.notEqual(siteOf(new URL('http://localhost:5173')), siteOf(new URL('http://127.0.0.1:8000')));
  assert.equal(siteOf(new URL('http://localhost:5173')), siteOf(new URL('http://localhost:8000')));
  assert.equal(siteOf(new URL('https://app.example.com')), siteOf(new URL('https://api.example.com')));
});

test('a trusted same-site origin is fine', () => {
  const config = resolveConfig({ ...base, trustedOrigins: ['http://localhost:5173'] });
  const findings = diagnoseOrigin(config, 'http://localhost:5173', 'http://localhost:8000');
  assert.deepEqual(findings.map((f) => f.level), ['ok']);
});

test('localhost versus 127.0.0.1 is explained with the fix', () => {
  const config = resolveConfig({ ...base, trustedOrigins: ['http://127.0.0.1:5173'] });
  const [finding] = diagnoseOrigin(config, 'http://127.0.0.1:5173', 'http://localhost:8000');
  assert.equal(finding!.level, 'error');
  assert.match(finding!.message, /localhost is not 127\.0\.0\.1/);
  assert.match(finding!.fix!, /http:\/\/localhost:5173/);
});

test('an untrusted origin is named with the variable to set', () => {
  const config = resolveConfig(base);
  const findings = diagnoseOrigin(config, 'http://localhost:5173', 'http://localhost:8000');
  assert.ok(findings.some((f) => f.fix === 'Set PORTCULLIS_TRUSTED_ORIGINS=http://localhost:5173.'));
});

test('SameSite=None without Secure cannot start', () => {
  assert.throws(() => resolveConfig({ ...base, sameSite: 'None' }), ConfigError);
  const config = resolveConfig({ ...base, sameSite: 'None', secureCookies: true, trustedOrigins: ['https://app.other.com'] });
  const findings = diagnoseOrigin(config, 'https://app.other.com', 'https://api.example.com');
  assert.equal(findings[0]!.level, 'warning');
});

test('configuration errors are one clear line', () => {
  assert.throws(() => resolveConfig({ ...base, trustedOrigins: ['localhost:5173/'] }), /PORTCULLIS_TRUSTED_ORIGINS/);
  assert.throws(() => resolveConfig({ ...base, databaseUrl: 'nope' }), /PORTCULLIS_DATABASE_URL/);
  assert.throws(() => resolveConfig(base, { PORTCULLIS_SESSION_AGE: 'two weeks' }), /whole number/);
});

test('an unknown setting is refused, naming the nearest known one', () => {
  assert.throws(() => resolveConfig(base, {}, { userFeilds: {} } as never), /unknown setting "userFeilds"; did you mean "userFields"\?/);
  assert.throws(() => resolveConfig({ ...base, sesionAge: 60 } as never), /createPortcullis options: unknown setting "sesionAge"; did you mean "sessionAge"\?/);
  assert.throws(() => resolveConfig(base, {}, { frobnicate: true } as never), /^ConfigError: the config file: unknown setting "frobnicate"\.$/);
});

test('connections: a database that does not answer is a problem, one not created yet a warning', async () => {
  const unreachable = await checkConnections(resolveConfig({ ...base, databaseUrl: 'postgres://u:pw@127.0.0.1:1/db' }));
  assert.equal(unreachable[0]!.level, 'error');
  assert.match(unreachable[0]!.message, /Cannot reach the database postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db/);
  const missing = await checkConnections(resolveConfig({ ...base, databaseUrl: 'sqlite:/tmp/portcullis-doctor/never-created.sqlite3' }));
  assert.equal(missing[0]!.level, 'warning');
  assert.match(missing[0]!.fix!, /portcullis migrate/);
  const redis = await checkConnections(resolveConfig({ ...base, databaseUrl: 'sqlite::memory:', sessionStore: 'redis://127.0.0.1:1' }));
  assert.deepEqual(redis.map((f) => f.level), ['ok', 'error']);
});
