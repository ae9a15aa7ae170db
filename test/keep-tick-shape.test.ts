import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * src/keep-tick-shape.ts: with one nextTick entry kept alive, full collections while the queue is
 * empty no longer turn the feedback of Node's nextTick literal megamorphic. Read from V8 itself:
 * %DebugPrint shows the state of each of the literal's property definitions.
 */
const MODULE = pathToFileURL(resolve('dist/keep-tick-shape.js')).href;

const SCRIPT = `(async () => {
  if (process.env.KEEP === '1') await import(process.env.MODULE_URL);
  const noop = () => {};
  const ticks = async (n) => {
    for (let i = 0; i < n; i++) {
      process.nextTick(noop);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
  };
  // A server's start-up in small: ticks, then full collections with the queue empty, five times.
  for (let round = 0; round < 5; round++) {
    await ticks(1000);
    await new Promise((r) => setTimeout(r, 5));
    gc();
    gc();
  }
  await ticks(1000);
  %DebugPrint(process.nextTick);
})();`;

/** The state of each DefineKeyedOwnPropertyInLiteral slot of nextTick's feedback, in order. */
function literalFeedback(keep: boolean): string[] {
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', '-e', SCRIPT], {
    env: { PATH: process.env.PATH ?? '', KEEP: keep ? '1' : '0', MODULE_URL: MODULE },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  return [...run.stdout.matchAll(/slot #\d+ DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]!);
}

test('a kept nextTick entry keeps the feedback of Node\'s nextTick literal monomorphic through full collections', (t) => {
  const without = literalFeedback(false);
  if (without.length === 0) return t.skip(`Node ${process.version} prints no feedback for nextTick's literal: nothing to compare`);
  if (!without.includes('MEGAMORPHIC')) return t.skip(`Node ${process.version} keeps the literal's hidden classes by itself: nothing to guard`);
  const kept = literalFeedback(true);
  assert.ok(kept.length > 0, 'the feedback is printed with the module loaded too');
  assert.deepEqual(kept.filter((state) => state === 'MEGAMORPHIC'), [], `with the module: ${kept.join(', ')}; without: ${without.join(', ')}`);
});
