import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Portcullis } from '../../portcullis.js';
import { ApiError } from '../../errors.js';
import { publicView, toPublicUser } from '../../users/types.js';
import type { SessionRecord } from '../../sessions/base.js';
import type { IssuedSession } from '../../sessions/manager.js';
import { clearSessionCookie, cookiePolicy, setCsrfCookie, setSessionCookie } from '../cookies.js';
import { generateCsrfToken } from '../csrf.js';
import { register } from '../../flows/credentials.js';
import { changeOwnPassword, endOtherSessions, endOwnSession, listOwnSessions, logOut } from '../../flows/account.js';
import { finish, logInWithPassword, type LoginResult } from '../../flows/login.js';
import { modelBackend } from '../../auth/backends.js';
import { reauthPassword } from '../reauth.js';
import { authOf, currentSession, knownAuthOf, requestInfo, requireAuth, requireSession } from '../request-auth.js';
import {
  CsrfResponse,
  LoginBody,
  PasswordChangeBody,
  RegisterBody,
  RevokedResponse,
  StepResponse,
  SessionIdParams,
  SessionList,
  UserResponse,
  errorResponses,
} from '../schemas.js';

const tags = ['account'];

/** Contract section 2: accounts and sessions under /api/auth. */
export async function accountRoutes(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  const { config } = portcullis;
  const cookies = cookiePolicy(config);

  const issueCookie = (reply: FastifyReply, issued: IssuedSession) =>
    setSessionCookie(reply, cookies, issued.key, issued.record.persistent ? config.sessionAge : null);

  /** A login's answer: the user and the session cookie, or 202 and the step a login step asks for. */
  const answerLogin = (reply: FastifyReply, result: Exclude<LoginResult, { outcome: 'refused' }>, status: number) => {
    if (result.outcome === 'step_required') {
      issueCookie(reply, result.pending);
      return reply.code(202).send({ step: result.pause.step, detail: result.pause.detail });
    }
    issueCookie(reply, result.session);
    return reply.code(status).send({ user: toPublicUser(result.user) });
  };

  const registerFields = new Set(['username', 'password', 'email', 'first_name', 'last_name', ...Object.keys(config.userFields)]);

  app.post<{ Body: RegisterBody }>(
    '/register',
    {
      config: { csrf: 'always' },
      schema: { tags, summary: 'Create an account', body: RegisterBody, response: { 201: UserResponse, 202: StepResponse, ...errorResponses } },
    },
    async (request, reply) => {
      // Only profile fields: flags such as is_staff are never taken from a registration form.
      const input = Object.fromEntries(Object.entries(request.body).filter(([k]) => registerFields.has(k) && k !== 'password'));
      const info = requestInfo(request);
      const user = await register(portcullis, { ...input, username: request.body.username }, request.body.password, info);
      if (!config.loginOnRegister) return reply.code(201).send({ user: toPublicUser(user) });
      const attempt = { user, backend: modelBackend, credentials: {}, client: info };
      return answerLogin(reply, await finish(portcullis, attempt, { previous: await currentSession(portcullis, request) }), 201);
    },
  );

  app.post<{ Body: LoginBody }>(
    '/login',
    {
      config: { csrf: 'always' },
      schema: { tags, summary: 'Log in with username, email or phone', body: LoginBody, response: { 200: UserResponse, 202: StepResponse, ...errorResponses } },
    },
    async (request, reply) => {
      const { username, password, remember } = request.body ?? {};
      const result = await logInWithPassword(portcullis, { username, password }, requestInfo(request), { remember, previous: await currentSession(portcullis, request) });
      if (result.outcome === 'refused') throw new ApiError('invalid_credentials');
      return answerLogin(reply, result, 200);
    },
  );

  app.post('/logout', { schema: { tags, summary: 'End the current session', response: { 204: { type: 'null' } } } }, async (request, reply) => {
    const session = await currentSession(portcullis, request);
    const auth = session ? await authOf(portcullis, request) : null;
    await logOut(portcullis, session, auth?.user ?? null, requestInfo(request));
    clearSessionCookie(reply, cookies);
    return reply.code(204).send();
  });

  app.get('/me', { schema: { tags, summary: 'The logged-in user', response: { 200: UserResponse, ...errorResponses } } }, (request) => {
    // A credential checked a moment ago is answered with no promise at all: most requests of an app
    // are reads like this one. Otherwise the store is asked.
    const known = knownAuthOf(portcullis, request);
    if (known) return { user: publicView(known.user) };
    return requireAuth(portcullis, request).then(({ user }) => ({ user: publicView(user) }));
  });

  app.post<{ Body: PasswordChangeBody }>(
    '/password',
    { schema: { tags, summary: 'Change the password', body: PasswordChangeBody, response: { 200: UserResponse, ...errorResponses } } },
    async (request, reply) => {
      const auth = await requireSession(portcullis, request);
      const { user, session } = await changeOwnPassword(portcullis, auth, request.body.old_password, request.body.new_password, requestInfo(request));
      if (session && auth.via === 'cookie') issueCookie(reply, session);
      if (session && auth.via === 'header') reply.header('X-Session-Key', session.key);
      return { user: toPublicUser(user) };
    },
  );

  app.get('/sessions', { schema: { tags, summary: 'Your live sessions', response: { 200: SessionList, ...errorResponses } } }, async (request) => {
    const auth = await requireSession(portcullis, request);
    const sessions = await listOwnSessions(portcullis, auth);
    return { sessions: sessions.map((s) => describeSession(s, auth.session)) };
  });

  app.delete<{ Params: SessionIdParams }>(
    '/sessions/:id',
    { schema: { tags, summary: 'End one of your sessions', params: SessionIdParams, response: { 204: { type: 'null' }, ...errorResponses } } },
    async (request, reply) => {
      const auth = await requireSession(portcullis, request);
      if ((await endOwnSession(portcullis, auth, request.params.id)).current) clearSessionCookie(reply, cookies);
      return reply.code(204).send();
    },
  );

  app.post<{ Body: unknown }>(
    '/sessions/revoke-others',
    {
      schema: {
        tags,
        summary: 'End every other session of yours (a login within PORTCULLIS_REAUTH_MINUTES, or your password)',
        response: { 200: RevokedResponse, ...errorResponses },
      },
    },
    async (request) => {
      const auth = await requireSession(portcullis, request);
      return { revoked: await endOtherSessions(portcullis, auth, reauthPassword(request.body), requestInfo(request)) };
    },
  );

  app.get('/csrf', { schema: { tags, summary: 'A CSRF token (also set as the csrftoken cookie)', response: { 200: CsrfResponse } } }, async (request, reply) => {
    const existing = request.cookies[config.csrfCookieName];
    const token = existing && /^[A-Za-z0-9_-]{32}$/.test(existing) ? existing : generateCsrfToken();
    setCsrfCookie(reply, config, token);
    return { csrf_token: token };
  });
}

function describeSession(s: SessionRecord, current: SessionRecord) {
  return {
    id: s.publicId,
    created_at: new Date(s.createdAt).toISOString(),
    last_seen_at: new Date(s.lastSeenAt).toISOString(),
    expires_at: new Date(s.expiresAt).toISOString(),
    ip: s.ip,
    user_agent: s.userAgent,
    current: s.keyHash === current.keyHash,
  };
}
