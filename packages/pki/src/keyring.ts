/**
 * Encryption at rest for private keys: AES-256-GCM with named keys, so keys can be rotated.
 *
 * A keyring is a set of 32-byte keys, each with an id, and one *active* id used to encrypt.
 * Ciphertexts carry the id of the key that sealed them ("<keyId>:<iv>:<tag>:<ciphertext>",
 * base64 parts), so rotating is: add the new key everywhere, make it active, re-encrypt the
 * stored ciphertexts (or let them be re-encrypted lazily), then drop the old key.
 *
 * Text format (`SWITCHYARD_KEYS` or the mounted file): `id:base64key` entries separated by
 * commas or new lines; `#` starts a comment line in the file. The key material lives in a
 * private field and never appears in JSON, inspect() or log output.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

const KEY_BYTES = 32;
const IV_BYTES = 12; // GCM's native nonce size (NIST SP 800-38D §8.2)
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export type KeyringErrorCode = 'keyring_invalid' | 'unknown_key' | 'ciphertext_invalid';

export class KeyringError extends Error {
  constructor(
    readonly code: KeyringErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class Keyring {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly activeKeyId: string;

  private constructor(keys: Map<string, Buffer>, activeKeyId: string) {
    this.#keys = keys;
    this.activeKeyId = activeKeyId;
  }

  /**
   * Parses `id:base64key` entries. `activeKeyId` defaults to the last entry (append the new
   * key at the end to rotate).
   */
  static parse(text: string, activeKeyId?: string): Keyring {
    const keys = new Map<string, Buffer>();
    let last: string | null = null;
    const entries = text
      .split(/[,\n]/)
      .map((s) => s.trim())
      .filter((s) => s && !s.startsWith('#'));
    for (const entry of entries) {
      const sep = entry.indexOf(':');
      const id = sep > 0 ? entry.slice(0, sep) : '';
      if (!KEY_ID.test(id)) throw new KeyringError('keyring_invalid', 'each key must be written id:base64key with an id of letters, digits, _ . -');
      const key = Buffer.from(entry.slice(sep + 1), 'base64');
      // Never echo the entry: it holds the key.
      if (key.length !== KEY_BYTES) throw new KeyringError('keyring_invalid', `key "${id}" must be ${KEY_BYTES} bytes of base64 (openssl rand -base64 32)`);
      if (keys.has(id)) throw new KeyringError('keyring_invalid', `key "${id}" is defined twice`);
      keys.set(id, key);
      last = id;
    }
    if (last === null) throw new KeyringError('keyring_invalid', 'the keyring holds no keys');
    const active = activeKeyId ?? last;
    if (!keys.has(active)) throw new KeyringError('keyring_invalid', `the active key "${active}" is not in the keyring`);
    return new Keyring(keys, active);
  }

  /** A keyring with one fresh random key (development and tests). */
  static generate(id = 'k1'): Keyring {
    return Keyring.parse(`${id}:${randomBytes(KEY_BYTES).toString('base64')}`);
  }

  /** `id:base64key` text for a fresh key (what devstack writes to its data folder). */
  static newKeyText(id: string): string {
    return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
  }

  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /**
   * Seals `plaintext`. `aad` (e.g. the certificate id) is authenticated but not stored: the
   * ciphertext only opens for the same row, so ciphertexts cannot be swapped between rows.
   */
  encrypt(plaintext: string, aad = ''): string {
    const key = this.#keys.get(this.activeKeyId)!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [this.activeKeyId, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')].join(':');
  }

  decrypt(sealed: string, aad = ''): string {
    const parts = sealed.split(':');
    if (parts.length !== 4) throw new KeyringError('ciphertext_invalid', 'ciphertext is not keyId:iv:tag:data');
    const [id, ivText, tagText, ctText] = parts as [string, string, string, string];
    const key = this.#keys.get(id);
    if (!key) throw new KeyringError('unknown_key', `ciphertext was sealed with key "${id}", which is not in the keyring`);
    const iv = Buffer.from(ivText, 'base64');
    const tag = Buffer.from(tagText, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new KeyringError('ciphertext_invalid', 'ciphertext has a bad nonce or tag');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(ctText, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new KeyringError('ciphertext_invalid', 'ciphertext failed authentication (wrong key, row or tampered data)');
    }
  }

  /** The id of the key that sealed `sealed`, or null when it is not a keyring ciphertext. */
  static keyIdOf(sealed: string): string | null {
    const sep = sealed.indexOf(':');
    return sep > 0 ? sealed.slice(0, sep) : null;
  }

  /** True when `sealed` is not sealed with the active key (it should be re-encrypted). */
  isStale(sealed: string): boolean {
    return Keyring.keyIdOf(sealed) !== this.activeKeyId;
  }

  /** Opens with whichever key sealed it and seals again with the active key. */
  reencrypt(sealed: string, aad = ''): string {
    return this.encrypt(this.decrypt(sealed, aad), aad);
  }

  toJSON(): { activeKeyId: string; keyIds: string[] } {
    return { activeKeyId: this.activeKeyId, keyIds: this.keyIds };
  }

  [inspect.custom](): string {
    return `Keyring(active=${this.activeKeyId}, keys=[${this.keyIds.join(', ')}])`;
  }
}

/**
 * Builds the keyring from configuration: inline keys and/or the text of a mounted file
 * (both may be given; ids must not repeat). Null when neither is set.
 */
export function keyringFromConfig(opts: { keys?: string | null; fileText?: string | null; activeKeyId?: string | null }): Keyring | null {
  const text = [opts.keys, opts.fileText].filter((t): t is string => Boolean(t && t.trim())).join('\n');
  if (!text) {
    if (opts.activeKeyId) throw new KeyringError('keyring_invalid', 'SWITCHYARD_ACTIVE_KEY_ID is set but no keys are configured');
    return null;
  }
  return Keyring.parse(text, opts.activeKeyId ?? undefined);
}
