/**
 * The baseline of the `portcullis serve` figures: plain Fastify (portcullis is never even imported),
 * no plugins, no schema, no logger, no auth, answering GET /api/auth/me with the very JSON body the
 * subject gave. Usage: bare.ts <port (0 = any)> <JSON body>. Prints `READY <port>` once listening;
 * SIGTERM closes it.
 */
import Fastify from 'fastify';

const [portArg = '0', bodyArg = '{"user":{}}'] = process.argv.slice(2);
const body: unknown = JSON.parse(bodyArg);
const app = Fastify({ logger: false });
app.get('/api/auth/me', async () => body);

await app.listen({ host: '127.0.0.1', port: Number(portArg) });
const address = app.server.address();
if (!address || typeof address === 'string') throw new Error('no TCP address');
process.stdout.write(`READY ${address.port}\n`);
process.once('SIGTERM', () => void app.close().finally(() => process.exit(0)));
