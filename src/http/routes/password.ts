import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Portcullis } from '../../portcullis.js';
import { confirmPasswordReset, requestPasswordReset, settleResetMails } from '../../flows/reset.js';
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

/** Contract section 2: password reset by mail, and the password rules a frontend should show. */
export async function passwordRoutes(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  app.addHook('onClose', () => settleResetMails(portcullis));

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
      await requestPasswordReset(portcullis, request.ip, request.body.email, (err) =>
        request.log.error({ err: { message: (err as Error).message } }, 'password reset mail failed'),
      );
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
      const user = await confirmPasswordReset(portcullis, request.ip, uid, token, password);
      return { user: toPublicUser(user) };
    },
  );
}
