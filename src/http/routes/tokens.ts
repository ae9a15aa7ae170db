import type { FastifyInstance } from 'fastify';
import type { Portcullis } from '../../portcullis.js';
import { ApiError } from '../../errors.js';
import { requestInfo } from '../request-auth.js';
import { logInForTokens } from '../../flows/login.js';
import { refreshTokens, revokeTokens } from '../../flows/tokens.js';
import { RefreshBody, StepResponse, TokenBody, TokenPairSchema, errorResponses, type RefreshBody as RefreshBodyT, type TokenBody as TokenBodyT } from '../schemas.js';

const tags = ['tokens'];

/** Contract section 3: stateless access for other services. */
export async function tokenRoutes(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;

  app.post<{ Body: TokenBodyT }>(
    '/api/auth/token',
    {
      schema: {
        tags,
        summary: 'Exchange credentials for an access and a refresh token',
        body: TokenBody,
        response: { 200: TokenPairSchema, 202: StepResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body ?? {};
      // The same login as /login (its counters, its steps), ending in tokens instead of a session.
      const result = await logInForTokens(portcullis, { username, password }, requestInfo(request));
      if (result.outcome === 'refused') throw new ApiError('invalid_credentials');
      if (result.outcome === 'step_required') {
        // A header client carries the paused login on as `Authorization: Session <key>`.
        reply.header('X-Session-Key', result.pending.key);
        return reply.code(202).send({ step: result.pause.step, detail: result.pause.detail });
      }
      return result.tokens;
    },
  );

  app.post<{ Body: RefreshBodyT }>(
    '/api/auth/token/refresh',
    { schema: { tags, summary: 'Rotate a refresh token', body: RefreshBody, response: { 200: TokenPairSchema, ...errorResponses } } },
    async (request) => {
      // Spent, revoked, expired or unknown all look alike to the caller (the flow has dealt with a reuse).
      const result = await refreshTokens(portcullis, request.body.refresh_token, requestInfo(request));
      if (result.outcome === 'refused') throw new ApiError('invalid_credentials');
      return result.tokens;
    },
  );

  app.post<{ Body: RefreshBodyT }>(
    '/api/auth/token/revoke',
    { schema: { tags, summary: 'Revoke a refresh token and its family', body: RefreshBody, response: { 204: { type: 'null' }, ...errorResponses } } },
    async (request, reply) => {
      await revokeTokens(portcullis, request.body.refresh_token);
      return reply.code(204).send();
    },
  );

  app.get('/.well-known/jwks.json', { schema: { tags, summary: 'Public keys that verify access tokens' } }, async (_request, reply) => {
    reply.header('Cache-Control', 'public, max-age=300');
    return portcullis.tokens.keys.jwks();
  });
}
