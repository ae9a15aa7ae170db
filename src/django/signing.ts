import { createHash, createHmac } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { constantTimeEqual } from '../auth/salted-hmac.js';

/**
 * Django's django.core.signing, the part its session backends use: `dumps`/`loads` with the JSON
 * serializer, `compress=True` and a TimestampSigner (SHA-256, Django 3.1+). Byte for byte what
 * Django writes, so a value signed on either side loads on the other.
 */

/** django.utils.crypto.salted_hmac(salt, value, secret, algorithm='sha256'), as raw bytes. */
function saltedHmacBytes(keySalt: string, value: string, secret: string): Buffer {
  const key = createHash('sha256').update(keySalt + secret).digest();
  return createHmac('sha256', key).update(value).digest();
}

function b64Encode(data: Buffer): string {
  return data.toString('base64url');
}

function b64Decode(text: string): Buffer {
  return Buffer.from(text, 'base64url');
}

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function b62Encode(n: number): string {
  if (n === 0) return '0';
  let out = '';
  while (n > 0) {
    out = B62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function b62Decode(text: string): number {
  let n = 0;
  for (const ch of text) {
    const digit = B62.indexOf(ch);
    if (digit < 0) throw new BadSignature('bad timestamp');
    n = n * 62 + digit;
  }
  return n;
}

export class BadSignature extends Error {
  override name = 'BadSignature';
}

/** Python's json.dumps(obj, separators=(',', ':')) with ensure_ascii: non-ASCII as \uXXXX escapes. */
export function pythonJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function signature(value: string, secret: string, salt: string): string {
  return b64Encode(saltedHmacBytes(salt + 'signer', value, secret));
}

/** signing.dumps(obj, key=secret, salt=salt, compress=True). */
export function dumps(obj: unknown, secret: string, salt: string, now = Date.now()): string {
  let data = Buffer.from(pythonJson(obj), 'latin1');
  let compressed = false;
  const deflated = deflateSync(data);
  // Django keeps the compressed form only when it saves more than one byte.
  if (deflated.length < data.length - 1) {
    data = deflated;
    compressed = true;
  }
  const value = `${compressed ? '.' : ''}${b64Encode(data)}:${b62Encode(Math.floor(now / 1000))}`;
  return `${value}:${signature(value, secret, salt)}`;
}

/** signing.loads(text, key=secret, salt=salt, max_age=maxAgeSeconds); throws BadSignature. */
export function loads(text: string, secret: string, salt: string, maxAgeSeconds?: number, now = Date.now()): unknown {
  const sigAt = text.lastIndexOf(':');
  if (sigAt < 0) throw new BadSignature('no separator');
  const value = text.slice(0, sigAt);
  if (!constantTimeEqual(text.slice(sigAt + 1), signature(value, secret, salt))) throw new BadSignature('signature does not match');
  const tsAt = value.lastIndexOf(':');
  if (tsAt < 0) throw new BadSignature('no timestamp');
  const timestamp = b62Decode(value.slice(tsAt + 1));
  if (maxAgeSeconds !== undefined && now / 1000 - timestamp > maxAgeSeconds) throw new BadSignature('signature expired');
  let payload = value.slice(0, tsAt);
  const compressed = payload.startsWith('.');
  if (compressed) payload = payload.slice(1);
  let data = b64Decode(payload);
  if (compressed) data = inflateSync(data);
  return JSON.parse(data.toString('latin1')) as unknown;
}
