import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Portcullis } from '../../portcullis.js';
import { ApiError } from '../../errors.js';
import { UserAdmin } from '../../admin/service.js';
import { requireAuth } from '../request-auth.js';
import { RevokedResponse, UserSchema, errorResponses } from '../schemas.js';

const tags = ['admin'];

const AdminUser = Type.Object(
  { ...UserSchema.properties, groups: Type.Array(Type.String()), permissions: Type.Array(Type.String()) },
  { additionalProperties: true, description: 'A user with its groups and its own (direct) permissions.' },
);
const AdminUserResponse = Type.Object({ user: AdminUser });

const AdminUserList = Type.Object({
  users: Type.Array(Type.Ref('User')),
  count: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
});

// Query strings are strings: the server never coerces types, so numbers are checked by pattern.
const ListQuery = Type.Object({
  search: Type.Optional(Type.String({ maxLength: 200 })),
  page: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
  page_size: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$' })),
});
type ListQuery = Static<typeof ListQuery>;

const Names = Type.Array(Type.String({ maxLength: 255 }), { maxItems: 1000 });

/** Profile fields and flags are typed here; custom fields pass through to the user manager's checks. */
const AdminUserBody = Type.Object(
  {
    username: Type.Optional(Type.String({ maxLength: 150 })),
    password: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    email: Type.Optional(Type.Union([Type.String({ maxLength: 254 }), Type.Null()])),
    first_name: Type.Optional(Type.String({ maxLength: 150 })),
    last_name: Type.Optional(Type.String({ maxLength: 150 })),
    is_active: Type.Optional(Type.Boolean()),
    is_staff: Type.Optional(Type.Boolean()),
    is_superuser: Type.Optional(Type.Boolean()),
    groups: Type.Optional(Names),
    permissions: Type.Optional(Names),
  },
  { additionalProperties: true },
);
type AdminUserBody = Static<typeof AdminUserBody>;

const UserIdParams = Type.Object({ id: Type.String({ maxLength: 32 }) });
type UserIdParams = Static<typeof UserIdParams>;

const responses = { ...errorResponses, 404: Type.Ref('Error') };

/** An id that is not a number names no user: 404, the same as a number that does not exist. */
function userId(params: UserIdParams): number {
  if (!/^[0-9]{1,15}$/.test(params.id)) throw new ApiError('not_found');
  return Number(params.id);
}

/** Contract section 4: user administration under /api/admin, for staff with Django's model permissions. */
export async function adminRoutes(app: FastifyInstance, opts: { portcullis: Portcullis }): Promise<void> {
  const { portcullis } = opts;
  const admin = new UserAdmin(portcullis);

  // Not logged in is 401; logged in but not staff is 403, whatever the route.
  const staff = async (request: Parameters<typeof requireAuth>[1]) => {
    const { user } = await requireAuth(portcullis, request);
    if (!admin.isStaff(user)) throw new ApiError('permission_denied');
    return user;
  };

  app.get<{ Querystring: ListQuery }>(
    '/users',
    { schema: { tags, summary: 'Search and page through users (auth.view_user)', querystring: ListQuery, response: { 200: AdminUserList, ...responses } } },
    async (request) => {
      const actor = await staff(request);
      const { search, page, page_size } = request.query;
      return admin.list(actor, { search, page: page ? Number(page) : undefined, pageSize: page_size ? Number(page_size) : undefined });
    },
  );

  app.post<{ Body: AdminUserBody }>(
    '/users',
    { schema: { tags, summary: 'Create a user (auth.add_user)', body: AdminUserBody, response: { 201: AdminUserResponse, ...responses } } },
    async (request, reply) => {
      const actor = await staff(request);
      return reply.code(201).send({ user: await admin.create(actor, request.body) });
    },
  );

  app.get<{ Params: UserIdParams }>(
    '/users/:id',
    { schema: { tags, summary: 'One user with groups and permissions (auth.view_user)', params: UserIdParams, response: { 200: AdminUserResponse, ...responses } } },
    async (request) => {
      const actor = await staff(request);
      return { user: await admin.get(actor, userId(request.params)) };
    },
  );

  app.patch<{ Params: UserIdParams; Body: AdminUserBody }>(
    '/users/:id',
    {
      schema: {
        tags,
        summary: 'Change flags, groups, permissions or profile fields (auth.change_user); deactivation ends every session',
        params: UserIdParams,
        body: AdminUserBody,
        response: { 200: AdminUserResponse, ...responses },
      },
    },
    async (request) => {
      const actor = await staff(request);
      return { user: await admin.update(actor, userId(request.params), request.body ?? {}) };
    },
  );

  app.delete<{ Params: UserIdParams }>(
    '/users/:id',
    { schema: { tags, summary: 'Delete a user and end its sessions (auth.delete_user)', params: UserIdParams, response: { 204: Type.Null(), ...responses } } },
    async (request, reply) => {
      const actor = await staff(request);
      await admin.delete(actor, userId(request.params));
      return reply.code(204).send();
    },
  );

  app.post<{ Params: UserIdParams }>(
    '/users/:id/revoke-sessions',
    { schema: { tags, summary: "End every session and token of a user (auth.change_user)", params: UserIdParams, response: { 200: RevokedResponse, ...responses } } },
    async (request) => {
      const actor = await staff(request);
      return { revoked: await admin.revokeSessions(actor, userId(request.params)) };
    },
  );
}
