/**
 * Keeps one entry of Node's own process.nextTick queue alive for the life of the process, so that
 * every later entry keeps V8's fast path. Imported first by every server-side entry point (the CLI,
 * the package's main entry, createPortcullis's module and each adapter); loading it twice is
 * loading it once.
 *
 * Why. An HTTP request runs about eleven process.nextTick calls inside Node itself (the request
 * stream's end and destroy, the response's write), and each builds an object literal with two
 * symbol keys, `{ [async_id_symbol], [trigger_async_id_symbol], callback, args }`. V8 holds the
 * hidden classes that literal moves through weakly: a full garbage collection while no such object
 * is alive (frequent while a server starts, whenever the queue is empty) drops them, the next
 * entry gets new ones, the literal's feedback turns megamorphic, and from then on every entry of
 * every request defines its four properties through the V8 runtime instead of four stores. Measured
 * with callgrind on `portcullis serve` (Node 20 and the same literal on 22): about a fifth of the
 * instructions of an authenticated GET /api/auth/me, in about three processes out of four; a bare
 * Fastify server, whose start-up is short, is rarely hit. An entry that stays alive keeps those
 * hidden classes alive, and the feedback stays monomorphic (test/keep-tick-shape.test.ts).
 *
 * The entry is caught with an async hook enabled around one nextTick of ours and disabled at once:
 * no hook runs after this module has loaded.
 */
import { createHook } from 'node:async_hooks';

let kept: object | undefined;
const hook = createHook({
  init(_asyncId, type, _triggerAsyncId, resource) {
    if (type === 'TickObject') kept = resource;
  },
});
hook.enable();
process.nextTick(() => {});
hook.disable();

/** The queue entry kept alive (exported so that nothing can drop it as unused). */
export const keptTickEntry: object | undefined = kept;
