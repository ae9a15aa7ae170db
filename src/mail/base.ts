/** One outgoing message (Django's EmailMessage, reduced to what portcullis sends). */
export interface MailMessage {
  to: string;
  from: string;
  subject: string;
  text: string;
}

/**
 * What every mailer implements (Django's EMAIL_BACKEND): console.ts writes to stdout, smtp.ts sends
 * through nodemailer. A config file may pass any object of this shape as `mailer`.
 */
export interface Mailer {
  readonly name: string;
  send(message: MailMessage): Promise<void>;
  close?(): Promise<void>;
}
