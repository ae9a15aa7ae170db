import type { SessionRecord } from './base.js';
import * as crypto from 'node:crypto';
import { randomBytes } from 'node:crypto';

/** 256 bits from the CSPRNG, URL-safe: the only thing the cookie carries. */
export function generateSessionKey(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * SHA-256 in hex, by Node's one-shot crypto.hash where it exists (Node 20.12+): a quarter of the cost
 * of a Hash object, on a path every request without a cached credential takes.
 */
export const sha256Hex: (data: string) => string =
  typeof crypto.hash === 'function' ? (data) => crypto.hash('sha256', data, 'hex') : (data) => crypto.createHash('sha256').update(data).digest('hex');

/** The store keeps only this digest, so a leaked table or backup cannot be replayed as cookies. */
export function hashSessionKey(key: string): string {
  return sha256Hex(key);
}

/** A name for a session that can be shown and sent back without revealing the key. */
export function generatePublicId(): string {
  return randomBytes(12).toString('base64url');
}

// A key we issued is exactly 43 base64url characters; anything else is refused before any I/O.
const KEY_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function isWellFormedKey(key: string): boolean {
  return KEY_SHAPE.test(key);
}

/**
 * How a store names its sessions: the key handed to the client, and the id the store keeps it under.
 * The default hands out 256 random bits and stores only their SHA-256; a store with other needs
 * (Redis Cluster hash tags, Django's own session keys) brings its own scheme.
 */
export interface SessionKeyScheme {
  /** A fresh key for a session of this user (null: an anonymous session); `draft` is the record it will name. */
  generate(userId: number | null, draft?: Omit<SessionRecord, 'keyHash'>): string;
  /** Cheap shape check, so that garbage never reaches the store. */
  isWellFormed(key: string): boolean;
  /** What the store is indexed by; never the key itself unless the store's format demands it. */
  storageId(key: string): string;
}

export const defaultKeyScheme: SessionKeyScheme = {
  generate: () => generateSessionKey(),
  isWellFormed: isWellFormedKey,
  storageId: hashSessionKey,
};
