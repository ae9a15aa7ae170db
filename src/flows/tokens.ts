import type { Portcullis } from '../portcullis.js';
import type { TokenPair } from '../tokens/tokens.js';
import type { User } from '../users/types.js';
import { RefreshError } from '../tokens/tokens.js';
import type { ClientInfo } from './credentials.js';

/**
 * Refreshing and revoking tokens (contract section 3); issuing them is a login, `logInForTokens` in
 * login.ts. The JSON API's token routes call these and translate the refusal into 401.
 */

export type RefreshResult = { outcome: 'refreshed'; user: User; tokens: TokenPair } | { outcome: 'refused' };

/** The schema's bound on a refresh token (RefreshBody); anything longer was never issued. */
const MAX_REFRESH_TOKEN = 200;

const REFUSED: RefreshResult = { outcome: 'refused' };

/**
 * Rotates a refresh token: the old one is spent and a new pair continues its family. Refused, all
 * alike so the caller learns nothing of why: a token unknown, expired, revoked or already spent; a
 * user gone or deactivated (the family is revoked); a family issued under another password (revoked,
 * see Tokens.rotate). A spent token presented again is a reuse, so either its holder or a thief
 * used it first: the whole family is revoked and `refresh_token_reused` is emitted for the log.
 *
 * The user is read between the check and the rotation; a deactivation or password change after that
 * read is met by the revocation that follows it (see Tokens.rotate).
 */
export async function refreshTokens(portcullis: Portcullis, refreshToken: unknown, client: ClientInfo): Promise<RefreshResult> {
  if (typeof refreshToken !== 'string' || refreshToken === '' || refreshToken.length > MAX_REFRESH_TOKEN) return REFUSED;
  const { tokens } = portcullis;
  try {
    const record = await tokens.check(refreshToken);
    const user = await portcullis.users.getById(record.userId);
    if (!user || !user.is_active) {
      await tokens.revokeFamily(record.userId, record.family);
      return REFUSED;
    }
    return { outcome: 'refreshed', user, tokens: await tokens.rotate(refreshToken, record, user, portcullis.authHash(user.password)) };
  } catch (err) {
    if (!(err instanceof RefreshError)) throw err;
    if (err.reason === 'reused') portcullis.events.emit('refresh_token_reused', { userId: err.userId, request: client });
    return REFUSED;
  }
}

/** Revokes the family of a refresh token. Idempotent: an unknown or malformed token is ignored. */
export async function revokeTokens(portcullis: Portcullis, refreshToken: unknown): Promise<void> {
  if (typeof refreshToken !== 'string' || refreshToken === '' || refreshToken.length > MAX_REFRESH_TOKEN) return;
  await portcullis.tokens.revoke(refreshToken);
}
