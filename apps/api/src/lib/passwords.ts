/**
 * Password hashing: Argon2id (RFC 9106) with the OWASP-recommended minimum parameters
 * (19 MiB memory, 2 passes, 1 lane). Hashes are PHC strings ("$argon2id$v=19$m=…"), so the
 * parameters travel with each hash and can be raised later without invalidating old ones.
 * Hashing runs on libuv's thread pool and never blocks the event loop.
 */
import { randomBytes } from 'node:crypto';
import { hash, verify, type Algorithm } from '@node-rs/argon2';

// Algorithm is an ambient const enum (not importable as a value here); 2 = Argon2id.
const PARAMS = { algorithm: 2 as Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Bounds checked by the request schemas; long passphrases are welcome, megabytes are not. */
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

export function hashPassword(password: string): Promise<string> {
  return hash(password, PARAMS);
}

export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    // A malformed stored hash never authenticates anybody.
    return false;
  }
}

let dummy: Promise<string> | null = null;

/**
 * Verifies against a throw-away hash with the same parameters, so "no such user" (or a user
 * without a password) costs as much time as "wrong password" and login timing does not reveal
 * which accounts exist.
 */
export async function verifyDummy(password: string): Promise<false> {
  dummy ??= hashPassword(randomBytes(16).toString('base64url'));
  await verifyPassword(await dummy, password);
  return false;
}

/** A random password for admin-created users who were given none (shown once). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
