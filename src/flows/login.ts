import type { Portcullis } from '../portcullis.js';
import type { AuthBackend, Credentials } from '../auth/backends.js';
import type { SessionRecord } from '../sessions/base.js';
import type { IssuedSession } from '../sessions/manager.js';
import type { TokenPair } from '../tokens/tokens.js';
import type { User } from '../users/types.js';
import { constantTimeEqual } from '../passwords/base.js';
import { ApiError } from '../errors.js';
import { checkLogin, checkPasswordLogin, type ClientInfo } from './credentials.js';

/**
 * Logging in, as one sequence every door runs (the JSON API, the token endpoint, the pages and the
 * adapters):
 *
 *   1. the input is checked (checkLogin: a password that could never reach a hasher is refused);
 *   2. the guessing limits count the attempt and the backends check the credentials (checkLogin);
 *   3. each configured login step (config `loginSteps`) may stop the login and ask for more;
 *   4. a session starts under a brand-new key (Portcullis.login: last_login, the login event, the
 *      visitor's data carried over), or for the token endpoint a token pair is issued.
 *
 * Step 3 is where a second factor goes: a step returns a pause instead of null, the door answers
 * "one more step" and no session or token exists yet. The pause is kept in an anonymous session
 * (its key in the visitor's cookie, or returned to a header client), so the step's own endpoint can
 * check what it asked for and then call `resumeLogin`.
 */

/** A login whose credentials were right, on its way to a session. */
export interface LoginAttempt {
  user: User;
  backend: AuthBackend;
  credentials: Credentials;
  client: ClientInfo;
}

/** What a step asks for before the login may go on: the step's name, and what the door may show. */
export interface LoginPause {
  step: string;
  detail?: Record<string, string | number | boolean>;
}

/**
 * A further check between the right password and a session. `check` returns null to let the login
 * go on, or a pause to stop it there. Steps run in the order configured.
 */
export interface LoginStep {
  name: string;
  check(attempt: LoginAttempt, portcullis: Portcullis): Promise<Omit<LoginPause, 'step'> | null> | Omit<LoginPause, 'step'> | null;
}

export type LoginResult =
  | { outcome: 'logged_in'; user: User; session: IssuedSession }
  | { outcome: 'step_required'; user: User; pause: LoginPause; pending: IssuedSession }
  | { outcome: 'refused' };

export type TokenLoginResult =
  | { outcome: 'logged_in'; user: User; tokens: TokenPair }
  | { outcome: 'step_required'; user: User; pause: LoginPause; pending: IssuedSession }
  | { outcome: 'refused' };

/** Where a paused login waits, inside its anonymous session's data. */
const PENDING = '_portcullis_pending_login';

/** How long a paused login waits for its next step. */
const PENDING_MS = 10 * 60_000;

interface PendingLogin {
  userId: number;
  backend: string;
  /** The password the login proved: a change meanwhile voids the pause. */
  authHash: string;
  /** The step that paused it: resuming starts after it. */
  step: string;
  remember: boolean;
  at: number;
}

export interface SessionLoginOptions {
  remember?: boolean;
  /** The visitor's current session: its data carries over (unless it was someone else's), it ends. */
  previous?: SessionRecord | null;
}

/**
 * Steps 3 and 4 for a session: run the login steps from `from` on, then start the session. Also the
 * way in for a user who has just registered (PORTCULLIS_LOGIN_ON_REGISTER), so the steps hold there.
 */
export async function finish(
  portcullis: Portcullis,
  attempt: LoginAttempt,
  options: SessionLoginOptions,
  from = 0,
): Promise<Exclude<LoginResult, { outcome: 'refused' }>> {
  const pause = await runSteps(portcullis, attempt, from);
  if (pause) return { outcome: 'step_required', user: attempt.user, pause, pending: await keepPending(portcullis, attempt, pause, options) };
  const session = await portcullis.login(attempt.user, attempt.backend, {
    ...attempt.client,
    remember: options.remember,
    previous: options.previous ?? undefined,
  });
  return { outcome: 'logged_in', user: attempt.user, session };
}

async function runSteps(portcullis: Portcullis, attempt: LoginAttempt, from: number): Promise<LoginPause | null> {
  const steps = portcullis.loginSteps;
  for (let i = from; i < steps.length; i++) {
    const pause = await steps[i]!.check(attempt, portcullis);
    if (pause) return { ...pause, step: steps[i]!.name };
  }
  return null;
}

/** The paused login goes into a fresh anonymous session: no user is logged in by it. */
async function keepPending(portcullis: Portcullis, attempt: LoginAttempt, pause: LoginPause, options: SessionLoginOptions): Promise<IssuedSession> {
  const now = Date.now();
  const pending: PendingLogin = {
    userId: attempt.user.id,
    backend: attempt.backend.name,
    authHash: portcullis.authHash(attempt.user.password),
    step: pause.step,
    remember: options.remember !== false,
    at: now,
  };
  if (options.previous) await portcullis.sessions.end(options.previous);
  return portcullis.sessions.create(
    {
    userId: null,
    backend: null,
    authHash: null,
    persistent: false,
    ip: attempt.client.ip,
    userAgent: attempt.client.userAgent ?? null,
    data: { [PENDING]: pending },
    },
    now,
    now + PENDING_MS,
  );
}

/** A session login with the usual username-or-email-or-phone and password (400 without them). */
export function logInWithPassword(
  portcullis: Portcullis,
  input: { username: unknown; password: unknown },
  client: ClientInfo,
  options: SessionLoginOptions = {},
): Promise<LoginResult> {
  return counted(portcullis, async () => {
    const found = await checkPasswordLogin(portcullis, input.username, input.password, client);
    if (!found) return { outcome: 'refused' };
    return finish(portcullis, { ...found, credentials: { username: input.username, password: input.password }, client }, options);
  });
}

/** A session login with whatever credentials the configured backends take (the adapters' `login`). */
export function logIn(portcullis: Portcullis, credentials: Credentials, client: ClientInfo, options: SessionLoginOptions = {}): Promise<LoginResult> {
  return counted(portcullis, async () => {
    const found = await checkLogin(portcullis, credentials, client);
    if (!found) return { outcome: 'refused' };
    return finish(portcullis, { ...found, credentials, client }, options);
  });
}

/** The token endpoint's login: the same steps, then a token pair instead of a session. */
export function logInForTokens(portcullis: Portcullis, input: { username: unknown; password: unknown }, client: ClientInfo): Promise<TokenLoginResult> {
  return counted(portcullis, async (): Promise<TokenLoginResult> => {
    const found = await checkPasswordLogin(portcullis, input.username, input.password, client);
    if (!found) return { outcome: 'refused' };
    const attempt = { ...found, credentials: { username: input.username, password: input.password }, client };
    const pause = await runSteps(portcullis, attempt, 0);
    if (pause) return { outcome: 'step_required', user: found.user, pause, pending: await keepPending(portcullis, attempt, pause, {}) };
    await portcullis.users.updateLastLogin(found.user);
    return { outcome: 'logged_in', user: found.user, tokens: await portcullis.issueTokens(found.user) };
  });
}

/**
 * Runs one login and, when metrics are on, counts how it ended (portcullis_logins_total): a session
 * or tokens, wrong credentials, a pause for another step, or a refusal by the guessing limits. Input
 * that never reached a check (missing or over-long) is no login attempt and is not counted.
 */
function counted<R extends LoginResult | TokenLoginResult | null>(portcullis: Portcullis, login: () => Promise<R>): Promise<R> {
  const metrics = portcullis.metrics;
  if (metrics === null) return login();
  return login().then(
    (result) => {
      if (result !== null) metrics.login(result.outcome === 'logged_in' ? 'success' : result.outcome === 'refused' ? 'invalid_credentials' : 'step_required');
      return result;
    },
    (err: unknown) => {
      if (err instanceof ApiError && err.code === 'throttled') metrics.login('throttled');
      throw err;
    },
  );
}

/** The login a session is waiting to finish, if any (for a step's own page or endpoint). */
export function pendingLogin(session: SessionRecord | null): { userId: number; step: string } | null {
  const pending = session?.userId === null ? (session.data[PENDING] as PendingLogin | undefined) : undefined;
  return pending && typeof pending.userId === 'number' && typeof pending.step === 'string' ? { userId: pending.userId, step: pending.step } : null;
}

/**
 * Goes on with a paused login once the caller has checked what `step` asked for: the remaining steps
 * run, then the session starts (replacing the pending one). Null when the session holds no login
 * paused at that step, or its user can no longer log in (deactivated, password changed meanwhile is
 * caught by the fresh read and the backend's own getUser).
 */
export function resumeLogin(portcullis: Portcullis, pendingSession: SessionRecord, step: string, client: ClientInfo): Promise<LoginResult | null> {
  // A login resumed to its session counts as a success (it counted step_required when it paused).
  return counted(portcullis, () => resume(portcullis, pendingSession, step, client));
}

async function resume(portcullis: Portcullis, pendingSession: SessionRecord, step: string, client: ClientInfo): Promise<LoginResult | null> {
  const pending = pendingSession.userId === null ? (pendingSession.data[PENDING] as PendingLogin | undefined) : undefined;
  if (!pending || pending.step !== step) return null;
  const backend = portcullis.backends.find((b) => b.name === pending.backend);
  const user = backend ? await backend.getUser(portcullis.backendContext, pending.userId) : null;
  const live = Date.now() - pending.at <= PENDING_MS && user !== null && constantTimeEqual(pending.authHash, portcullis.authHash(user.password));
  if (!backend || !user || !live) {
    await portcullis.sessions.end(pendingSession);
    return null;
  }
  const index = portcullis.loginSteps.findIndex((s) => s.name === step);
  // The pending login itself is not carried into the new session; the rest of the visitor's data is.
  const { [PENDING]: _done, ...data } = pendingSession.data;
  const previous = { ...pendingSession, data };
  return finish(portcullis, { user, backend, credentials: {}, client }, { remember: pending.remember, previous }, index + 1);
}
