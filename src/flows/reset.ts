import { loginKey } from '../users/normalize.js';
import type { Portcullis } from '../portcullis.js';
import { isPasswordUsable } from '../passwords/index.js';
import type { User } from '../users/types.js';
import { validationError } from '../errors.js';
import { decodeUid, encodeUid } from '../auth/password-reset.js';

/**
 * Django's PasswordResetForm.get_users: active users with this email (case-insensitively) whose
 * password is usable. A user without a usable password (an SSO-only account) gets no link.
 */
export async function usersForReset(portcullis: Portcullis, email: string): Promise<User[]> {
  const users = await portcullis.users.getByEmail(email);
  return users.filter((u) => u.is_active && isPasswordUsable(u.password));
}

/** The link in the mail: `{PORTCULLIS_PUBLIC_URL}/reset/{uid}/{token}` (Django's password_reset_confirm URL). */
export function resetLink(portcullis: Portcullis, user: User): string {
  return `${portcullis.config.publicUrl}/reset/${encodeUid(user.id)}/${portcullis.passwordResetTokens.makeToken(user)}`;
}

/** Sends a reset link to every matching account; nothing at all for an unknown address. */
export async function sendPasswordResetMail(portcullis: Portcullis, email: string): Promise<number> {
  const users = await usersForReset(portcullis, email);
  const site = new URL(portcullis.config.publicUrl).host;
  for (const user of users) {
    const link = resetLink(portcullis, user);
    await portcullis.mailer.send({
      to: user.email,
      from: portcullis.config.mailFrom,
      subject: `Password reset on ${site}`,
      text: [
        `You're receiving this email because you requested a password reset for your user account at ${site}.`,
        '',
        'Please go to the following page and choose a new password:',
        '',
        link,
        '',
        `Your username, in case you've forgotten: ${user.username}`,
        '',
        'Thanks for using our site!',
        '',
        `The ${site} team`,
      ].join('\n'),
    });
  }
  return users.length;
}

/** Reset mails still being sent in the background, per server: bounded, so a flood cannot pile up work. */
const MAX_PENDING_MAILS = 100;
const pendingMails = new WeakMap<Portcullis, Set<Promise<void>>>();

/**
 * Django's PasswordResetView, for either door, with one answer whatever the address: per client a
 * 429 says nothing about the address; per address, past the limit mails are dropped silently, so
 * nobody can bomb an inbox. The lookup and the mail happen after the caller has answered, so known
 * and unknown addresses take the same time; `onError` hears of a mail that failed.
 */
export async function requestPasswordReset(portcullis: Portcullis, client: string, address: string, onError: (err: unknown) => void): Promise<void> {
  const { throttle } = portcullis;
  const email = address.normalize('NFKC').trim();
  await throttle.clientRate('reset-ip', client, throttle.limits.resetPerIp);
  const mayMail = email.includes('@') && !email.includes('\0') && (await throttle.rate('reset-email', loginKey(email), throttle.limits.resetPerEmail, false));
  let pending = pendingMails.get(portcullis);
  if (!pending) pendingMails.set(portcullis, (pending = new Set()));
  if (!mayMail || pending.size >= MAX_PENDING_MAILS) return;
  const queue = pending;
  const job: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
    .then(() => sendPasswordResetMail(portcullis, email))
    .then(() => undefined, onError)
    .finally(() => queue.delete(job));
  queue.add(job);
}

/** Waits for the reset mails still being sent, before the server closes. */
export async function settleResetMails(portcullis: Portcullis): Promise<void> {
  await Promise.allSettled([...(pendingMails.get(portcullis) ?? [])]);
}

/** The user a (uid, token) pair names, when the token is valid for them now; else null. */
export async function userForResetToken(portcullis: Portcullis, uid: unknown, token: unknown): Promise<User | null> {
  const id = decodeUid(uid);
  const user = id === null ? null : await portcullis.users.getById(id);
  if (!user || !user.is_active) {
    // Check a token anyway, so an unknown uid costs what a known one does.
    portcullis.passwordResetTokens.checkToken({ id: 0, password: '', last_login: null, email: '' }, token);
    return null;
  }
  return portcullis.passwordResetTokens.checkToken(user, token) ? user : null;
}

/**
 * The user a reset link names, as either door (the JSON API, the confirm page) asks for it. Wrong
 * tokens are guesses: every try counts per client like a failed login, and a right one is given
 * back, so looking at the link and then using it costs an honest visitor nothing.
 */
export async function userForResetAttempt(portcullis: Portcullis, client: string, uid: unknown, token: unknown): Promise<User | null> {
  const { throttle } = portcullis;
  await throttle.clientRate('reset-confirm-ip', client, throttle.limits.perClient * 2);
  const user = await userForResetToken(portcullis, uid, token);
  if (user) await throttle.refundClientRate('reset-confirm-ip', client);
  return user;
}

/**
 * Django's PasswordResetConfirmView: a valid token sets the new password (validators first), and
 * every session and token of the user ends. The token dies with the old password hash. The account's
 * guessing counters go too, and so do those of `client` (its address), which proved it holds the mailbox.
 */
export async function confirmPasswordReset(portcullis: Portcullis, client: string, uid: unknown, token: unknown, newPassword: string): Promise<User> {
  const user = await userForResetAttempt(portcullis, client, uid, token);
  if (!user) throw validationError({ token: ['reset_token_invalid'] });
  portcullis.validateNewPassword('new_password', newPassword, user);
  const updated = await portcullis.users.setPassword(user, newPassword);
  await portcullis.endEverything(user.id);
  // The owner is back in control: the account's counters and any hard-ceiling lock are lifted.
  await portcullis.throttle.clearAccount(user.id, client);
  return updated;
}
