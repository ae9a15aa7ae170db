import type { Static } from '@sinclair/typebox';
import type {
  LoginBody,
  PasswordChangeBody,
  RegisterBody,
  SessionInfo as SessionInfoSchema,
  TokenBody,
  TokenPairSchema,
  UserSchema,
} from '../http/schemas.js';

/**
 * The client's types come from the very schemas the server validates with; only types are imported,
 * so nothing of TypeBox or the server reaches a browser bundle.
 */

/** A user as the API shows it; custom fields from the server's config appear beside these. */
export type User = Static<typeof UserSchema> & Record<string, unknown>;
export type RegisterInput = RegisterBody;
export type LoginInput = Required<Pick<LoginBody, 'username' | 'password'>> & Pick<LoginBody, 'remember'>;
export type PasswordChangeInput = PasswordChangeBody;
export type SessionInfo = Static<typeof SessionInfoSchema>;
export type TokenInput = Required<TokenBody>;
export type TokenPair = Static<typeof TokenPairSchema>;

export interface PasswordResetConfirmInput {
  uid: string;
  token: string;
  new_password: string;
}
