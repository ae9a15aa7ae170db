import type { FastifyInstance } from 'fastify';
import { loginKey } from '../../users/normalize.js';
import { Type, type Static } from '@sinclair/typebox';
import type { Portcullis } from '../../portcullis.js';
import { confirmPasswordReset, sendPasswordResetMail } from '../../auth/password-reset-flow.js';
import { describePasswordPolicy } from '../../validation/password.js';
import { toPublicUser } from '../../users/types.js';
import { errorResponses, UserResponse } from '../schemas.js';

const tags = ['password'];

const ResetBody = Type.Object({ email: Type.String({ maxLength: 254 }) });
type ResetBody = Static<typeof ResetBody>;

const ConfirmBody = Type.Object({
  uid: Type.String({ maxLength: 64 }),
  token: Type.String({ maxLength: 128 }),
  new_password: Type.String(),
});
type ConfirmBody = Static<typeof ConfirmBody>;

const PolicyResponse = Type.Object({
  min_length: Type.Integer(),
  max_length: Type.Integer(),
  validators: Type.Array(Type.Object({}, { additionalProperties: true })),
});

/** Mails still being sent in the background are bounded, so a flood cannot pile up work. */
const MAX_PENDING_MAILS = 100;

/** Contract section 2: password reset by mail, and the password rules a frontend should show. */
export async function passwordRoutes(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  const { throttle } = portcullis;
  const pending = new Set<Promise<void>>();
  app.addHook('onClose', async () => {
    await Promise.allSettled([...pending]);
  });

  app.get('/password-policy', { schema: { tags, summary: 'The rules a new password must meet', response: { 200: PolicyResponse } } }, async () =>
    describePasswordPolicy(portcullis.passwordValidators),
  );

  app.post<{ Body: ResetBody }>(
    '/password-reset',
    {
      config: { csrf: 'always' },
      schema: { tags, summary: 'Mail a password-reset link (202 whether or not the address is known)', body: ResetBody, response: { 202: Type.Object({}), ...errorResponses } },
    },
    async (request, reply) => {
      const email = request.body.email.normalize('NFKC').trim();
      // Per client: a 429 says nothing about the address. Per address: past the limit mails are
      // dropped silently, so nobody can bomb an inbox and the answer stays the same.
      await throttle.clientRate('reset-ip', request.ip, throttle.limits.resetPerIp);
      const mayMail = email.includes('@') && !email.includes('\0') && (await throttle.rate('reset-email', loginKey(email), throttle.limits.resetPerEmail, false));
      if (mayMail && pending.size < MAX_PENDING_MAILS) {
        // The lookup and the mail happen after the answer, so known and unknown addresses take the same time.
        const job = new Promise<void>((resolve) => setImmediate(resolve))
          .then(() => sendPasswordResetMail(portcullis, email))
          .then(
            () => undefined,
            (err: unknown) => request.log.error({ err: { message: (err as Error).message } }, 'password reset mail failed'),
          )
          .finally(() => pending.delete(job));
        pending.add(job);
      }
      return reply.code(202).send({});
    },
  );

  app.post<{ Body: ConfirmBody }>(
    '/password-reset/confirm',
    {
      config: { csrf: 'always' },
      schema: { tags, summary: 'Set a new password with the uid and token from the mail', body: ConfirmBody, response: { 200: UserResponse, ...errorResponses } },
    },
    async (request) => {
      const { uid, token, new_password } = request.body;
      const password = portcullis.users.checkPasswordInput('new_password', new_password);
      // Wrong tokens are guesses: they count per client like failed logins; a right one is given back.
      await throttle.clientRate('reset-confirm-ip', request.ip, throttle.limits.perClient * 2);
      const user = await confirmPasswordReset(portcullis, uid, token, password, request.ip);
      await throttle.refundClientRate('reset-confirm-ip', request.ip);
      return { user: toPublicUser(user) };
    },
  );
}
