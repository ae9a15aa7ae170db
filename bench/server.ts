/**
 * A server under test, in a process of its own so it never shares a CPU-bound event loop with the
 * load generator. Usage: server.ts <portcullis|bare> <port (0 = any)> [bare: JSON body to answer].
 * Prints `READY <port>` once it is listening; SIGTERM closes it cleanly. The portcullis server also
 * answers GET /__bench/memory with its peak RSS.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { BENCH_USER, benchPortcullis } from './common.js';

const [mode, portArg = '0', bodyArg] = process.argv.slice(2);

async function start(): Promise<{ app: FastifyInstance; close(): Promise<void> }> {
  if (mode === 'portcullis') {
    const dataDir = process.env.PORTCULLIS_DATA_DIR;
    if (!dataDir) throw new Error('PORTCULLIS_DATA_DIR must name a temporary folder');
    const portcullis = await benchPortcullis(dataDir);
    // A seeded database can serve several figures in turn; the bench user is made once.
    if (!(await portcullis.users.getByLogin(BENCH_USER.username))) {
      await portcullis.users.createUser({ username: BENCH_USER.username, password: BENCH_USER.password });
    }
    const { buildServer } = await import('../src/http/server.js');
    const app = await buildServer(portcullis, { logger: false });
    // Bench-only (never in the product): the memory figure reads the peak RSS (KiB) after its load.
    app.get('/__bench/memory', async () => ({ maxRssKiB: process.resourceUsage().maxRSS, rssKiB: Math.round(process.memoryUsage().rss / 1024) }));
    return { app, close: () => portcullis.close() };
  }
  if (mode === 'bare') {
    // The baseline: plain Fastify (portcullis is never even imported), no plugins, no schema, no auth,
    // answering the very body /me gave.
    const body: unknown = JSON.parse(bodyArg ?? '{"user":{}}');
    const app = Fastify({ logger: false });
    app.get('/api/auth/me', async () => body);
    return { app, close: async () => {} };
  }
  throw new Error(`unknown mode "${mode}" (portcullis or bare)`);
}

const { app, close } = await start();
await app.listen({ host: '127.0.0.1', port: Number(portArg) });
const address = app.server.address();
if (!address || typeof address === 'string') throw new Error('no TCP address');
process.stdout.write(`READY ${address.port}\n`);

process.once('SIGTERM', () => {
  void app
    .close()
    .then(close)
    .finally(() => process.exit(0));
});
