import { EventEmitter } from 'node:events';
import type { User } from '../users/types.js';
import type { RequestInfo } from './backends.js';

/** Django's auth signals: user_logged_in, user_logged_out, user_login_failed; and portcullis's own. */
export interface AuthEvents {
  user_logged_in: [{ user: User; request?: RequestInfo }];
  user_logged_out: [{ user: User | null; request?: RequestInfo }];
  /** Credentials arrive with every secret field replaced, never the password itself. */
  user_login_failed: [{ credentials: Record<string, unknown>; request?: RequestInfo }];
  /** A spent refresh token came back (its holder or a thief used it first): its whole family was revoked. */
  refresh_token_reused: [{ userId: number | null; request?: RequestInfo }];
  /** The channel that carries other instances' changes to the auth cache was lost (reason) or is back. */
  change_channel: [{ listening: boolean; reason?: string }];
}

export class AuthEventEmitter extends EventEmitter<AuthEvents> {}

const SENSITIVE = /api|token|key|secret|password|signature|pass/i;

/** Django's cleanse_credentials. */
export function redactCredentials(credentials: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(credentials).map(([k, v]) => [k, SENSITIVE.test(k) ? '********************' : v]));
}
