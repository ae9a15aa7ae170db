/** Ctrl-C, or the input ended before an answer: Django's "Operation cancelled." */
export class Cancelled extends Error {
  override name = 'Cancelled';
}

/**
 * Questions asked on the terminal, one line each. On a terminal the line is read in raw mode, so a
 * hidden answer (a password) is never echoed, backspace works, and Ctrl-C cancels; from a pipe the
 * next line is taken as it is. One reader serves the whole command, so typed-ahead answers wait
 * for their question instead of being lost between two of them.
 */
export class Prompter {
  private buffer = '';
  private ended = false;
  private wake: (() => void) | null = null;
  private readonly tty: boolean;
  private readonly onData = (chunk: string) => {
    this.buffer += chunk;
    this.wake?.();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake?.();
  };

  constructor(
    private readonly input: NodeJS.ReadStream = process.stdin,
    private readonly output: NodeJS.WriteStream = process.stdout,
  ) {
    this.tty = Boolean(input.isTTY);
    input.setEncoding('utf8');
    if (this.tty) input.setRawMode(true);
    input.on('data', this.onData);
    input.on('end', this.onEnd);
    input.resume();
  }

  async ask(question: string, options: { hidden?: boolean } = {}): Promise<string> {
    this.output.write(question);
    let line = '';
    for (;;) {
      while (this.buffer) {
        const ch = this.buffer[0]!;
        this.buffer = this.buffer.slice(1);
        if (ch === '\r' || ch === '\n') {
          if (ch === '\r' && this.buffer[0] === '\n') this.buffer = this.buffer.slice(1);
          if (this.tty) this.output.write('\n');
          return line;
        }
        if (!this.tty) {
          line += ch;
          continue;
        }
        if (ch === '\x03' || (ch === '\x04' && !line)) throw new Cancelled();
        if (ch === '\x7f' || ch === '\b') {
          if (!line) continue;
          line = [...line].slice(0, -1).join('');
          if (!options.hidden) this.output.write('\b \b');
        } else if (ch === '\x1b') {
          // An arrow or function key: its escape sequence is not part of the answer.
          this.buffer = this.buffer.replace(/^\[[0-9;]*[A-Za-z~]|^O./, '');
        } else if (ch >= ' ') {
          line += ch;
          if (!options.hidden) this.output.write(ch);
        }
      }
      if (this.ended) {
        if (line) return line;
        throw new Cancelled();
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }

  close(): void {
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    if (this.tty) this.input.setRawMode(false);
    this.input.pause();
  }
}
