/**
 * API tokens: `sy_<prefix>_<secret>`. The prefix is a public lookup id (shown in lists);
 * the secret carries 256 random bits. Only SHA-256 of the whole token is stored: with that
 * much entropy a slow password hash adds nothing, and lookups stay one indexed query.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

export interface NewToken {
  token: string;
  prefix: string;
  hash: string;
}

export function generateToken(): NewToken {
  const bytes = randomBytes(10);
  const prefix = [...bytes].map((b) => PREFIX_ALPHABET[b % PREFIX_ALPHABET.length]).join('');
  const secret = randomBytes(32).toString('base64url');
  const token = `sy_${prefix}_${secret}`;
  return { token, prefix, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Splits a presented token; null when it is not shaped like ours. */
export function parseToken(token: string): { prefix: string } | null {
  const m = /^sy_([a-z0-9]{10})_[A-Za-z0-9_-]{43}$/.exec(token);
  return m ? { prefix: m[1]! } : null;
}

export function safeEqualHex(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
