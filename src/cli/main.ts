#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { ConfigError, loadConfigFile, redactUrl, resolveConfig } from '../config.js';
import { createPortcullis, type Portcullis } from '../portcullis.js';
import { connectDatabase } from '../db/connect.js';
import { migrate } from '../db/migrate.js';
import { buildServer } from '../http/server.js';
import { ApiError } from '../errors.js';
import { diagnoseOrigin, formatFindings } from '../doctor.js';
import { fieldMessage } from '../i18n/messages.js';
import { IMPORT_DJANGO_USAGE, importDjangoCommand } from '../django/command.js';
import { startMetricsServer, type MetricsServer } from '../metrics/listener.js';

const USAGE = `Usage: portcullis <command> [options]

Commands:
  serve                               run the HTTP server (migrates first)
  migrate                             apply pending database migrations
  createsuperuser [--username U] [--email E] [--noinput]
                                      create a staff superuser (--noinput reads PORTCULLIS_SUPERUSER_PASSWORD)
  changepassword USERNAME             set a user's password (prompted twice)
  clearsessions                       delete expired sessions
  check [--origin URL] [--api URL]    diagnose configuration and whether a browser keeps the session cookie
  rotate-keys                         start signing access tokens with a new key (the old one stays published)
  hash-calibrate [--target-ms N]      argon2 parameters that take about N ms (default 250) on this machine
${IMPORT_DJANGO_USAGE}`;

function fail(message: string): never {
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(1);
}

/** Reads a line from the terminal without echoing it; from a pipe, reads the next line as it is. */
async function prompt(question: string, hidden = false): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
  if (hidden && process.stdin.isTTY) {
    const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput.bind(rl);
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) write(s);
    };
  }
  return new Promise((resolve) =>
    rl.question(question, (answer) => {
      rl.close();
      if (hidden && process.stdin.isTTY) process.stdout.write('\n');
      resolve(answer);
    }),
  );
}

async function askNewPassword(): Promise<string> {
  const first = await prompt('Password: ', true);
  const second = await prompt('Password (again): ', true);
  if (first !== second) fail('the two passwords did not match.');
  return first;
}

function explain(err: unknown): string {
  if (err instanceof ApiError) {
    const detail = err.fields
      ? Object.entries(err.fields)
          .map(([f, ids]) => `${f}: ${ids.map((id) => fieldMessage(id, 'en')).join(' ')}`)
          .join('; ')
      : err.message;
    return detail;
  }
  return (err as Error).message;
}

async function open(): Promise<Portcullis> {
  try {
    return await createPortcullis();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    const env = process.env.PORTCULLIS_DATABASE_URL;
    fail(`cannot open the database${env ? ` at ${redactUrl(env)}` : ''}: ${(err as Error).message}`);
  }
}

async function serve(): Promise<void> {
  const portcullis = await open();
  const app = await buildServer(portcullis);
  const { port, host } = portcullis.config;
  try {
    await app.listen({ port, host });
  } catch (err) {
    fail(`cannot listen on ${host}:${port}: ${(err as Error).message}. Set PORT or HOST to something free.`);
  }
  let metricsServer: MetricsServer | null = null;
  const { metricsPort, metricsHost } = portcullis.config;
  if (portcullis.metrics && metricsPort !== undefined) {
    try {
      metricsServer = await startMetricsServer(portcullis.metrics, { port: metricsPort, host: metricsHost });
    } catch (err) {
      fail(`cannot listen for metrics on ${metricsHost}:${metricsPort}: ${(err as Error).message}. Set PORTCULLIS_METRICS_PORT or PORTCULLIS_METRICS_HOST to something free.`);
    }
    app.log.info(`metrics at ${metricsServer.url}`);
  }
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing requests in flight');
    await metricsServer?.close();
    await app.close();
    await portcullis.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve();
    case 'migrate': {
      const config = resolveConfig({}, process.env, await loadConfigFile(process.cwd()));
      const handle = connectDatabase(config.databaseUrl);
      try {
        const { applied, addedFields, loginKeyConflicts } = await migrate(handle, config.userFields, config.loginFields);
        console.log(applied.length || addedFields.length ? `Applied: ${[...applied, ...addedFields.map((f) => `field ${f}`)].join(', ')}` : 'No migrations to apply.');
        for (const c of loginKeyConflicts) {
          console.warn(`User ${c.userId}: its ${c.field} names user ${c.heldBy} too; only user ${c.heldBy} logs in by it until one of them changes it.`);
        }
      } finally {
        await handle.close();
      }
      return;
    }
    case 'createsuperuser': {
      const { values } = parseArgs({ args: rest, options: { username: { type: 'string' }, email: { type: 'string' }, noinput: { type: 'boolean' } } });
      const portcullis = await open();
      try {
        let username = values.username;
        let email = values.email;
        let password: string;
        if (values.noinput) {
          if (!username) fail('--noinput needs --username.');
          password = process.env.PORTCULLIS_SUPERUSER_PASSWORD ?? fail('--noinput needs PORTCULLIS_SUPERUSER_PASSWORD.');
        } else {
          username ??= await prompt('Username: ');
          email ??= await prompt('Email address: ');
          password = await askNewPassword();
        }
        portcullis.validateNewPassword('password', password, { username, email });
        const user = await portcullis.users.createSuperuser({ username, email: email || null, password });
        console.log(`Superuser "${user.username}" created.`);
      } catch (err) {
        fail(explain(err));
      } finally {
        await portcullis.close();
      }
      return;
    }
    case 'changepassword': {
      const username = rest[0] ?? fail('changepassword needs a USERNAME.');
      const portcullis = await open();
      try {
        const user = (await portcullis.users.getByUsername(username)) ?? fail(`there is no user "${username}".`);
        const password = process.stdin.isTTY ? await askNewPassword() : await prompt('');
        portcullis.validateNewPassword('password', password, user);
        await portcullis.changePassword(user, password);
        console.log(`Password changed for user "${user.username}"; their sessions have ended.`);
      } catch (err) {
        fail(explain(err));
      } finally {
        await portcullis.close();
      }
      return;
    }
    case 'clearsessions': {
      const portcullis = await open();
      try {
        console.log(`Deleted ${await portcullis.sessions.clearExpired()} expired sessions.`);
        const tokens = await portcullis.tokens.clearExpired();
        if (tokens) console.log(`Deleted ${tokens} expired refresh tokens.`);
      } finally {
        await portcullis.close();
      }
      return;
    }
    case 'check': {
      const { values } = parseArgs({ args: rest, options: { origin: { type: 'string' }, api: { type: 'string' } } });
      let config;
      try {
        config = resolveConfig({}, process.env, await loadConfigFile(process.cwd()));
      } catch (err) {
        fail((err as Error).message);
      }
      console.log(`Configuration: OK (database ${redactUrl(config.databaseUrl)}, session store ${redactUrl(config.sessionStore)}, SameSite=${config.sameSite}${config.secureCookies ? ', Secure' : ''})`);
      if (values.origin) {
        const api = values.api ?? `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${config.port}`;
        const findings = diagnoseOrigin(config, values.origin, api);
        console.log(formatFindings(findings));
        if (findings.some((f) => f.level === 'error')) process.exitCode = 1;
      }
      return;
    }
    case 'rotate-keys': {
      const portcullis = await open();
      try {
        console.log(`New signing key ${await portcullis.tokens.keys.rotate()}; the previous key stays published until its tokens expire.`);
      } finally {
        await portcullis.close();
      }
      return;
    }
    case 'import-django': {
      try {
        process.exitCode = await importDjangoCommand(rest, resolveConfig({}, process.env, await loadConfigFile(process.cwd())));
      } catch (err) {
        fail(explain(err));
      }
      return;
    }
    case 'hash-calibrate': {
      const { values } = parseArgs({ args: rest, options: { 'target-ms': { type: 'string' } } });
      const target = Number(values['target-ms'] ?? 250);
      if (!Number.isFinite(target) || target <= 0) fail('--target-ms takes a positive number of milliseconds.');
      const { calibrateArgon2 } = await import('../passwords/calibrate.js');
      const result = await calibrateArgon2(target);
      console.log(`argon2id m=${result.memoryCost} KiB, t=${result.timeCost}, p=${result.parallelism}: ${result.ms.toFixed(0)} ms per hash on this machine.`);
      console.log(`In portcullis.config.js: hasherOptions: { argon2: { memoryCost: ${result.memoryCost}, timeCost: ${result.timeCost}, parallelism: ${result.parallelism} } }`);
      return;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(USAGE);
      fail(`unknown command "${command}".`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => fail((err as Error).message));
