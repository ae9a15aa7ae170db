import { parseArgs } from 'node:util';
import { nearest } from '../nearest.js';

/** One option of a command, as parseArgs takes it, with what `--help` says about it. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** The placeholder shown after a string option: `--username U`. */
  value?: string;
  /** Shown without brackets in the usage line (the command still checks it). */
  required?: boolean;
  help: string;
}

export interface CommandSpec<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  name: string;
  /** Positional arguments, as the usage line shows them: `USERNAME`. */
  args?: string[];
  /** One line, for the list of commands. */
  summary: string;
  /** What `portcullis help <command>` says beyond the summary. */
  description?: string;
  options: O;
}

export type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]?: O[K]['type'] extends 'string' ? (O[K]['multiple'] extends true ? string[] : string) : boolean;
};

/** The exit code of a wrong command line, as argparse's (Django's management commands). */
export const USAGE_EXIT = 2;

/** The command line itself is wrong (an unknown option, a missing argument): exit 2 with the fix. */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** Identity, for the literal types of `options`. */
export function command<const O extends Record<string, OptionSpec>>(spec: CommandSpec<O>): CommandSpec<O> {
  return spec;
}

function optionUsage(name: string, o: OptionSpec): string {
  const text = `--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}${o.multiple ? '...' : ''}`;
  return o.required ? text : `[${text}]`;
}

export function usageLine(spec: CommandSpec): string {
  return ['portcullis', spec.name, ...(spec.args ?? []), ...Object.entries(spec.options).map(([n, o]) => optionUsage(n, o))].join(' ');
}

/** What `portcullis <command> --help` prints. */
export function commandHelp(spec: CommandSpec): string {
  const rows: Array<[string, string]> = Object.entries(spec.options).map(([n, o]) => [
    `--${n}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`,
    o.help,
  ]);
  rows.push(['-h, --help', 'show this help and exit']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    `Usage: ${usageLine(spec)}`,
    '',
    `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.` + (spec.description ? `\n\n${spec.description}` : ''),
    '',
    'Options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
    '',
  ].join('\n');
}

/** What `portcullis --help` prints. */
export function overview(specs: CommandSpec[]): string {
  const width = Math.max(...specs.map((s) => s.name.length)) + 2;
  return [
    'Usage: portcullis <command> [options]',
    '',
    'Commands:',
    ...specs.map((s) => `  ${s.name.padEnd(width)}${s.summary}`),
    '',
    'Run "portcullis help <command>" (or "portcullis <command> --help") for its options.',
    '',
  ].join('\n');
}

function usageMessage(err: Error & { code?: string }): string {
  const option = /'(-[^' ]*)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? ''}`.trim();
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(err.message) ? `${option ?? 'an option'} needs a value` : `${option ?? 'an option'} takes no value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(err.message)?.[1] ?? ''}`.trim();
    default:
      return err.message;
  }
}

/**
 * The options and arguments of one command, refusing anything it does not know. Returns null when
 * `--help` was asked for (the help is printed).
 */
export function parseCommand<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  args: string[],
): { values: Values<O>; positionals: string[] } | null {
  const options = Object.fromEntries(
    Object.entries(spec.options).map(([name, o]) => [name, { type: o.type, ...(o.multiple ? { multiple: true } : {}) }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (err) {
    const message = usageMessage(err as Error);
    const word = /^unknown option --(.+)$/.exec(message)?.[1];
    const near = word ? nearest(word, Object.keys(spec.options)) : undefined;
    throw new UsageError(near ? `${message}; did you mean --${near}?` : message, spec.name);
  }
  if (parsed.values.help) {
    process.stdout.write(commandHelp(spec));
    return null;
  }
  const allowed = spec.args?.length ?? 0;
  if (parsed.positionals.length > allowed) throw new UsageError(`unexpected argument ${parsed.positionals[allowed]}`, spec.name);
  return { values: parsed.values as Values<O>, positionals: parsed.positionals };
}

/** A command: its spec, and what it does with the parsed command line (its exit code, or 0). */
export interface Command {
  spec: CommandSpec;
  run(args: string[]): Promise<number | void>;
}

export function defineCommand<const O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  run: (values: Values<O>, positionals: string[]) => Promise<number | void>,
): Command {
  return {
    spec,
    async run(args) {
      const parsed = parseCommand(spec, args);
      return parsed === null ? 0 : run(parsed.values, parsed.positionals);
    },
  };
}
