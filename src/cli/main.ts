#!/usr/bin/env node
// First: Node's nextTick entries keep V8's fast path only if this loads before anything else.
import '../keep-tick-shape.js';
import { ConfigError, loadConfigFile, redactUrl, resolveConfig, type PortcullisConfig } from '../config.js';
import type { Portcullis } from '../portcullis.js';
import type { CreateUserInput } from '../users/types.js';
import { createAccount } from '../flows/credentials.js';
import { setPassword } from '../flows/account.js';
import { ApiError } from '../errors.js';
import { checkConnections, diagnoseOrigin, formatFindings } from '../doctor.js';
import { fieldMessage } from '../i18n/messages.js';
import { IMPORT_DJANGO, importDjangoCommand } from '../django/command.js';
import type { MetricsServer } from '../metrics/listener.js';
import { nearest } from '../nearest.js';
import { commandHelp, defineCommand, overview, UsageError, USAGE_EXIT, type Command } from './commands.js';
import { Cancelled, Prompter } from './prompt.js';

// The server, the database drivers and Redis load only for the commands that use them: `--help` and
// a refused command line answer at once.

function fail(message: string): never {
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(1);
}

/** The messages of a refused value, one per line, as the API would give them in English. */
function explain(err: unknown): string {
  if (err instanceof ApiError) {
    return err.fields
      ? Object.entries(err.fields)
          .map(([f, ids]) => `${f}: ${ids.map((id) => fieldMessage(id, 'en')).join(' ')}`)
          .join('; ')
      : err.message;
  }
  return (err as Error).message;
}

/** Only the messages of a refused password, one per line (the field is obvious at its prompt). */
function passwordProblems(err: ApiError): string {
  return Object.values(err.fields ?? {})
    .flat()
    .map((id) => fieldMessage(id, 'en'))
    .join('\n');
}

async function readConfig(): Promise<PortcullisConfig> {
  return resolveConfig({}, process.env, await loadConfigFile(process.cwd()));
}

async function open(): Promise<Portcullis> {
  const { createPortcullis } = await import('../portcullis.js');
  try {
    return await createPortcullis();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    const env = process.env.PORTCULLIS_DATABASE_URL;
    fail(`cannot open the database${env ? ` at ${redactUrl(env)}` : ''}: ${(err as Error).message}`);
  }
}

async function withPortcullis(work: (portcullis: Portcullis) => Promise<number | void>): Promise<number | void> {
  const portcullis = await open();
  try {
    return await work(portcullis);
  } catch (err) {
    if (err instanceof Cancelled) {
      process.stderr.write('\nOperation cancelled.\n');
      return 1;
    }
    if (err instanceof UsageError) throw err;
    fail(explain(err));
  } finally {
    await portcullis.close();
  }
}

const serve = defineCommand(
  { name: 'serve', summary: 'run the HTTP server (applies pending migrations first)', description: 'Listens on HOST:PORT (default localhost:8000); SIGTERM or SIGINT finishes the requests in flight, then stops.', options: {} },
  async () => {
    const portcullis = await open();
    const { buildServer } = await import('../http/server.js');
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
      const { startMetricsServer } = await import('../metrics/listener.js');
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
  },
);

const migrateCommand = defineCommand({ name: 'migrate', summary: 'apply pending database migrations', options: {} }, async () => {
  const config = await readConfig();
  const { connectDatabase } = await import('../db/connect.js');
  const { migrate } = await import('../db/migrate.js');
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
});

/**
 * Asks for a new password twice until one is accepted, as Django does: a mismatch, a blank one or
 * one the validators refuse says why and asks again. `tries` bounds it (changepassword's three).
 */
async function askNewPassword(prompter: Prompter, portcullis: Portcullis, user: Parameters<Portcullis['validateNewPassword']>[2], tries = Infinity): Promise<string | null> {
  for (let attempt = 1; attempt <= tries; attempt++) {
    const password = await prompter.ask('Password: ', { hidden: true });
    if ((await prompter.ask('Password (again): ', { hidden: true })) !== password) {
      process.stderr.write("Error: Your passwords didn't match.\n");
      continue;
    }
    if (!password.trim()) {
      process.stderr.write("Error: Blank passwords aren't allowed.\n");
      continue;
    }
    try {
      portcullis.validateNewPassword('password', password, user);
      return password;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      process.stderr.write(`${passwordProblems(err)}\n`);
    }
  }
  return null;
}

/** What createsuperuser makes: an active staff superuser, with the registration's checks (src/flows/credentials.ts createAccount). */
function superuser(username: string, email: string | undefined): CreateUserInput {
  return { username, email: email || null, is_active: true, is_staff: true, is_superuser: true };
}

const createsuperuser = defineCommand(
  {
    name: 'createsuperuser',
    summary: 'create a staff superuser',
    description:
      'Asks for the username, the email address and the password (twice, hidden) on the terminal, again after a refused answer. ' +
      'Without a terminal (a script, a container), use --noinput with --username and PORTCULLIS_SUPERUSER_PASSWORD.',
    options: {
      username: { type: 'string', value: 'U', help: 'the username (asked for if absent)' },
      email: { type: 'string', value: 'E', help: 'the email address (asked for if absent; may be blank)' },
      noinput: { type: 'boolean', help: 'ask nothing: the password comes from PORTCULLIS_SUPERUSER_PASSWORD, --username is required' },
    },
  },
  async (values) => {
    if (values.noinput) {
      const username = values.username ?? fail('--noinput needs --username.');
      const password = process.env.PORTCULLIS_SUPERUSER_PASSWORD ?? fail('--noinput needs PORTCULLIS_SUPERUSER_PASSWORD.');
      return withPortcullis(async (portcullis) => {
        const user = await createAccount(portcullis, superuser(username, values.email), password);
        console.log(`Superuser "${user.username}" created.`);
      });
    }
    // Django refuses too ("Superuser creation skipped due to not running in a TTY"); a pipe cannot
    // answer a refused password, so it is told the one way that works, and the script fails.
    if (!process.stdin.isTTY) {
      fail('createsuperuser asks for the password on a terminal, and stdin is not one: run it with --noinput --username NAME [--email E] and the password in PORTCULLIS_SUPERUSER_PASSWORD.');
    }
    return withPortcullis(async (portcullis) => {
      const prompter = new Prompter();
      try {
        let given = values.username;
        let username = '';
        while (!username) {
          const answer = (given ?? (await prompter.ask('Username: '))).trim();
          given = undefined;
          if (!answer) process.stderr.write('Error: This field cannot be blank.\n');
          else if (await portcullis.users.getByUsername(answer)) process.stderr.write('Error: That username is already taken.\n');
          else username = answer;
        }
        const email = values.email ?? (await prompter.ask('Email address: ')).trim();
        const password = (await askNewPassword(prompter, portcullis, { username, email }))!;
        const user = await createAccount(portcullis, superuser(username, email), password);
        console.log(`Superuser "${user.username}" created.`);
      } finally {
        prompter.close();
      }
    });
  },
);

const changepassword = defineCommand(
  {
    name: 'changepassword',
    args: ['USERNAME'],
    summary: "set a user's password; their sessions end",
    description: 'On a terminal the password is asked for twice, hidden, up to three times; from a pipe the first line is the password.',
    options: {},
  },
  async (_values, [username]) => {
    if (!username) throw new UsageError('USERNAME is missing', 'changepassword');
    return withPortcullis(async (portcullis) => {
      const user = (await portcullis.users.getByUsername(username)) ?? fail(`there is no user "${username}".`);
      const prompter = new Prompter();
      let password: string | null;
      try {
        if (process.stdin.isTTY) {
          console.log(`Changing password for user "${user.username}"`);
          password = await askNewPassword(prompter, portcullis, user, 3);
          if (password === null) fail(`aborting password change for user "${user.username}" after 3 attempts.`);
        } else password = await prompter.ask('');
      } finally {
        prompter.close();
      }
      // The same change as the API's (src/flows/account.ts): the validators, then every session and
      // refresh token ends, and running servers hear of it (the change channel, or on SQLite the file).
      await setPassword(portcullis, user, password);
      console.log(`Password changed for user "${user.username}"; their sessions have ended.`);
    });
  },
);

const clearsessions = defineCommand({ name: 'clearsessions', summary: 'delete expired sessions and refresh tokens', options: {} }, () =>
  withPortcullis(async (portcullis) => {
    console.log(`Deleted ${await portcullis.sessions.clearExpired()} expired sessions.`);
    const tokens = await portcullis.tokens.clearExpired();
    if (tokens) console.log(`Deleted ${tokens} expired refresh tokens.`);
  }),
);

const check = defineCommand(
  {
    name: 'check',
    summary: 'check the configuration, the database and session store connections, and the cookie for a frontend origin',
    description:
      'Names a setting it does not know with the nearest known one. Exits 1 on any problem (a warning alone exits 0).',
    options: {
      origin: { type: 'string', value: 'URL', help: 'the frontend origin: will a browser there keep and send the session cookie, and if not, why' },
      api: { type: 'string', value: 'URL', help: 'where that frontend calls the API (default: this configuration\'s HOST and PORT)' },
    },
  },
  async (values) => {
    let config;
    try {
      config = await readConfig();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      console.log(`Configuration: PROBLEM: ${err.message}`);
      return 1;
    }
    console.log(`Configuration: OK (database ${redactUrl(config.databaseUrl)}, session store ${redactUrl(config.sessionStore)}, SameSite=${config.sameSite}${config.secureCookies ? ', Secure' : ''})`);
    const findings = await checkConnections(config);
    if (values.origin) {
      const api = values.api ?? `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${config.port}`;
      findings.push(...diagnoseOrigin(config, values.origin, api));
    }
    console.log(formatFindings(findings));
    return findings.some((f) => f.level === 'error') ? 1 : 0;
  },
);

const rotateKeys = defineCommand(
  {
    name: 'rotate-keys',
    summary: 'start signing access tokens with a new key (the old one stays published until its tokens expire)',
    description:
      'Running servers hear of it at once on the change channel (Redis sessions, or a PostgreSQL database). ' +
      'Without one (SQLite or MySQL, sessions not in Redis) they sign with the new key within 60 s, and accept its tokens within a second.',
    options: {},
  },
  () =>
    withPortcullis(async (portcullis) => {
      const { kid, announced, channel } = await portcullis.rotateSigningKeys();
      const { RELOAD_MS } = await import('../tokens/signing-keys.js');
      const kept = `the previous key stays published for ${portcullis.config.accessTokenAge} s, until the tokens it signed have expired`;
      if (announced) console.log(`New signing key ${kid}. Running servers sharing this ${channel} sign with it from now on (told on the change channel); ${kept}.`);
      else {
        console.log(`New signing key ${kid}; ${kept}.`);
        console.log(
          announced === null
            ? `Running servers have no change channel here (SQLite or MySQL, sessions not in Redis): they sign with the new key within ${RELOAD_MS / 1000} s, and accept its tokens within a second.`
            : `The change channel (${channel}) could not carry the news: running servers sign with the new key within ${RELOAD_MS / 1000} s, and accept its tokens within a second.`,
        );
      }
    }),
);

const hashCalibrate = defineCommand(
  {
    name: 'hash-calibrate',
    summary: 'argon2 parameters that take about N ms per hash on this machine',
    options: { 'target-ms': { type: 'string', value: 'N', help: 'milliseconds one hash should take (default 250)' } },
  },
  async (values) => {
    const target = Number(values['target-ms'] ?? 250);
    if (!Number.isFinite(target) || target <= 0) throw new UsageError('--target-ms takes a positive number of milliseconds', 'hash-calibrate');
    const { calibrateArgon2 } = await import('../passwords/calibrate.js');
    const result = await calibrateArgon2(target);
    console.log(`argon2id m=${result.memoryCost} KiB, t=${result.timeCost}, p=${result.parallelism}: ${result.ms.toFixed(0)} ms per hash on this machine.`);
    console.log(`In portcullis.config.js: hasherOptions: { argon2: { memoryCost: ${result.memoryCost}, timeCost: ${result.timeCost}, parallelism: ${result.parallelism} } }`);
  },
);

const importDjango = defineCommand(IMPORT_DJANGO, async (values) => {
  try {
    return await importDjangoCommand(values, await readConfig());
  } catch (err) {
    if (err instanceof UsageError) throw err;
    fail(explain(err));
  }
});

const COMMANDS: Command[] = [serve, migrateCommand, createsuperuser, changepassword, clearsessions, check, rotateKeys, hashCalibrate, importDjango];

function find(name: string): Command {
  const found = COMMANDS.find((c) => c.spec.name === name);
  if (found) return found;
  const near = nearest(name, COMMANDS.map((c) => c.spec.name));
  throw new UsageError(`unknown command "${name}"${near ? `; did you mean ${near}?` : ''} (see portcullis --help)`);
}

async function main(argv: string[]): Promise<number | void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') return void process.stdout.write(overview(COMMANDS.map((c) => c.spec)));
  if (name === 'help') {
    if (rest.length === 0) return void process.stdout.write(overview(COMMANDS.map((c) => c.spec)));
    return void process.stdout.write(commandHelp(find(rest[0]!).spec));
  }
  return find(name).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`portcullis${err.command ? ` ${err.command}` : ''}: ${err.message}${err.command ? ` (see portcullis help ${err.command})` : ''}\n`);
      process.exit(USAGE_EXIT);
    }
    fail((err as Error).message);
  },
);
