import type { Mailer } from './base.js';
import { ConsoleMailer } from './console.js';
import { SmtpMailer } from './smtp.js';

export type { Mailer, MailMessage } from './base.js';
export { ConsoleMailer } from './console.js';
export { SmtpMailer } from './smtp.js';

/** A mailer object from the config file wins; else SMTP when a URL is set; else the console. */
export function createMailer(options: { mailer?: Mailer; smtpUrl?: string }): Mailer {
  if (options.mailer) return options.mailer;
  if (options.smtpUrl) return new SmtpMailer(options.smtpUrl);
  return new ConsoleMailer();
}
