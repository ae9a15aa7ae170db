import { validationError } from '../errors.js';

/** The optional `{"password"}` of a sensitive request whose body may also be absent. */
export function reauthPassword(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw validationError({ body: ['invalid_type'] });
  const password = (body as Record<string, unknown>).password;
  if (password === undefined) return undefined;
  if (typeof password !== 'string') throw validationError({ password: ['invalid_type'] });
  return password;
}

