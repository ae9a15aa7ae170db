import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON only, 64 KiB at most, strict UTF-8: a body that cannot be decoded is refused with 400 rather
 * than silently repaired into U+FFFD. Prototype-poisoning keys are rejected by Fastify's own parser.
 */
export function registerJsonBody(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const buffer = body as Buffer;
    if (buffer.length === 0) return done(null, undefined);
    let text: string;
    try {
      text = utf8.decode(buffer);
    } catch {
      return done(new ApiError('validation_error', undefined, { body: ['invalid_utf8'] }), undefined);
    }
    parseJson(request, text, (err, value) => {
      if (err) return done(new ApiError('validation_error', undefined, { body: ['invalid_json'] }), undefined);
      done(null, value);
    });
  });
}
