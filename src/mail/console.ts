import type { MailMessage, Mailer } from './base.js';

/**
 * Django's console backend: the message is written to a stream instead of being sent. For
 * development only; a reset link on stdout is a live credential.
 */
export class ConsoleMailer implements Mailer {
  readonly name = 'console';

  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {}

  async send(message: MailMessage): Promise<void> {
    const line = '-'.repeat(79);
    this.stream.write(`From: ${message.from}\nTo: ${message.to}\nSubject: ${message.subject}\n\n${message.text}\n${line}\n`);
  }
}
