import { Type, type Static } from '@sinclair/typebox';

/** The one description of every body: it validates input, serialises output and feeds /openapi.json. */

/**
 * `type: ["string", "null"]` rather than anyOf: fast-json-stringify serialises it with a typeof test,
 * where anyOf makes it run a validator (with its date-time regex) on every response. OpenAPI 3.0
 * output shows it as `nullable: true`.
 */
const NullableString = (options: { format?: string } = {}) => Type.Unsafe<string | null>({ type: ['string', 'null'], ...options });

export const UserSchema = Type.Object(
  {
    id: Type.Integer(),
    username: Type.String(),
    email: Type.String(),
    phone: NullableString(),
    first_name: Type.String(),
    last_name: Type.String(),
    is_active: Type.Boolean(),
    is_staff: Type.Boolean(),
    is_superuser: Type.Boolean(),
    date_joined: Type.String({ format: 'date-time' }),
    last_login: NullableString({ format: 'date-time' }),
  },
  { $id: 'User', additionalProperties: true, description: 'A user; custom fields from the config appear beside these.' },
);

export const UserResponse = Type.Object({ user: Type.Ref('User') });

/** 202 from a login that a configured login step paused: no session yet, one more step to go. */
export const StepResponse = Type.Object({
  step: Type.String(),
  detail: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
});

const FieldMessages = Type.Record(Type.String(), Type.Array(Type.String()));

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      fields: Type.Optional(FieldMessages),
    }),
  },
  { $id: 'Error' },
);

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const RegisterBody = Type.Object(
  {
    username: Type.String({ maxLength: 150 }),
    password: Type.String(),
    email: Type.Optional(Nullable(Type.String({ maxLength: 254 }))),
    phone: Type.Optional(Nullable(Type.String({ maxLength: 32 }))),
    first_name: Type.Optional(Type.String({ maxLength: 150 })),
    last_name: Type.Optional(Type.String({ maxLength: 150 })),
  },
  { additionalProperties: true },
);
export type RegisterBody = Static<typeof RegisterBody>;

/** Every field optional here: a missing one is `missing_credentials`, not a validation error. */
export const LoginBody = Type.Object({
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  remember: Type.Optional(Type.Boolean()),
});
export type LoginBody = Static<typeof LoginBody>;

export const PasswordChangeBody = Type.Object({
  old_password: Type.String(),
  new_password: Type.String(),
});
export type PasswordChangeBody = Static<typeof PasswordChangeBody>;

export const SessionInfo = Type.Object({
  id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_seen_at: Type.String({ format: 'date-time' }),
  expires_at: Type.String({ format: 'date-time' }),
  ip: Type.Union([Type.String(), Type.Null()]),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
});

export const SessionList = Type.Object({ sessions: Type.Array(SessionInfo) });

export const SessionIdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
export type SessionIdParams = Static<typeof SessionIdParams>;

export const CsrfResponse = Type.Object({ csrf_token: Type.String() });
export const RevokedResponse = Type.Object({ revoked: Type.Integer() });

export const errorResponses = {
  400: Type.Ref('Error'),
  401: Type.Ref('Error'),
  403: Type.Ref('Error'),
  409: Type.Ref('Error'),
  429: Type.Ref('Error'),
  503: Type.Ref('Error'),
};

export const TokenBody = Type.Object({
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
});
export type TokenBody = Static<typeof TokenBody>;

export const RefreshBody = Type.Object({ refresh_token: Type.String({ maxLength: 200 }) });
export type RefreshBody = Static<typeof RefreshBody>;

export const TokenPairSchema = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
});
