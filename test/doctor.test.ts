import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnoseOrigin, siteOf } from '../src/doctor.js';
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
