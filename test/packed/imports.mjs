// Run inside the new project (run.sh): every entry point loads, by import and by require(), and has
// the names users import from it; a CommonJS caller on a Node that cannot require() ES modules is told
// what to do in one line.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const entries = {
  portcullis: ['createPortcullis', 'buildServer', 'ApiError', 'toPublicUser'],
  'portcullis/passwords': ['makePassword', 'checkPassword', 'createHasher'],
  'portcullis/client': ['PortcullisClient', 'PortcullisError', 'CookieJar'],
  'portcullis/fastify': ['default', 'portcullis', 'requireUser', 'requirePerm'],
  'portcullis/express': ['portcullis', 'requireUser', 'requirePerm', 'errorHandler'],
  'portcullis/fetch': ['portcullisFetch'],
};
for (const [entry, names] of Object.entries(entries)) {
  const imported = await import(entry);
  for (const name of names) assert.ok(imported[name], `${entry} has no export ${name}`);
  // Node 20.19+ require()s an ES module: the caller gets the very module an import gave.
  const required = require(entry);
  for (const name of names) assert.equal(required[name], imported[name], `require('${entry}').${name} is not the imported one`);
}

const old = execFileSync(process.execPath, ['--no-experimental-require-module', '-e', "try { require('portcullis') } catch (e) { console.log(e.message) }"], { encoding: 'utf8' });
assert.match(old, /^portcullis is ESM-only: use import/);
console.log(`imports: ${Object.keys(entries).length} entry points load by import and require()`);
