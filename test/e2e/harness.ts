import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { createPortcullis, type CreateOptions, type Portcullis } from '../../src/portcullis.js';
import { buildServer, type ServerOptions } from '../../src/http/server.js';

/**
 * The real-browser scenarios are about exact origins (http://localhost:8000, http://localhost:5173,
 * http://127.0.0.1:5173), so these servers take those fixed ports; the e2e files run one at a time,
 * apart from the rest of the suite.
 */
export const API_PORT = 8000;
export const FRONTEND_PORT = 5173;
export const API = `http://localhost:${API_PORT}`;

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
export const RESULTS = join(root, 'test-results', 'e2e');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Debian's Chromium, as root in a container: no sandbox, no GPU, nothing phoning home. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

function checkChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with apt-get install chromium (.ci/run does).`);
}

export async function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  checkChromium();
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** A browser with a profile on disk, so that closing and relaunching it is a real browser restart. */
export async function launchPersistent(userDataDir: string, extraArgs: readonly string[] = []): Promise<BrowserContext> {
  checkChromium();
  return chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true });
}

function portBusy(err: unknown, port: number): Error {
  const code = (err as { code?: string }).code;
  return new Error(
    code === 'EADDRINUSE' ? `port ${port} is taken: the browser tests need it (stop whatever listens there)` : `cannot listen on ${port}: ${String(err)}`,
  );
}

export interface ApiServer {
  portcullis: Portcullis;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** portcullis on http://localhost:8000 (Fastify listens on every address localhost resolves to). */
export async function startApi(options: CreateOptions = {}, server: ServerOptions = { logger: false }): Promise<ApiServer> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-e2e-'));
  const portcullis = await createPortcullis({
    databaseUrl: `sqlite:${join(dir, 'e2e.sqlite3')}`,
    dataDir: dir,
    cwd: dir,
    env: {},
    secretKey: 'e2e-secret-key-that-is-long-enough-0123456789',
    ...options,
  });
  const app = await buildServer(portcullis, server);
  try {
    await app.listen({ port: API_PORT, host: 'localhost' });
  } catch (err) {
    await portcullis.close();
    throw portBusy(err, API_PORT);
  }
  return {
    portcullis,
    app,
    async close() {
      await app.close();
      await portcullis.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/**
 * The static frontend on port 5173 of both loopback addresses, so that it is reachable as
 * http://localhost:5173 and as http://127.0.0.1:5173. `/portcullis-client/` is the built
 * portcullis/client (dist/client), imported by the page as an ES module.
 */
export async function startFrontend(): Promise<{ close(): Promise<void> }> {
  const mounts: [string, string][] = [
    ['/portcullis-client/', join(root, 'dist', 'client')],
    ['/', join(here, 'frontend')],
  ];
  if (!existsSync(join(root, 'dist', 'client', 'index.js'))) throw new Error('dist/client is missing: run npm run build first.');
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    const [prefix, dir] = mounts.find(([p]) => path.startsWith(p)) ?? mounts[1]!;
    const rel = normalize(path.slice(prefix.length) || 'index.html');
    const file = join(dir, rel === '.' ? 'index.html' : rel);
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  };
  const servers: Server[] = [];
  for (const host of ['127.0.0.1', '::1']) {
    const server = createServer(handler);
    try {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen(FRONTEND_PORT, host, () => ok());
      });
      servers.push(server);
    } catch (err) {
      // A machine without IPv6 loopback still serves localhost over 127.0.0.1.
      if (host === '::1' && (err as { code?: string }).code === 'EADDRNOTAVAIL') continue;
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      throw portBusy(err, FRONTEND_PORT);
    }
  }
  return {
    async close() {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
