import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Keyring, KeyringError, keyringFromConfig } from './keyring.js';

const key = () => randomBytes(32).toString('base64');

describe('Keyring', () => {
  it('round-trips and names the key in the ciphertext', () => {
    const k = Keyring.parse(`a:${key()},b:${key()}`);
    expect(k.activeKeyId).toBe('b');
    const sealed = k.encrypt('-----BEGIN PRIVATE KEY-----x', 'cert-1');
    expect(sealed.startsWith('b:')).toBe(true);
    expect(sealed).not.toContain('PRIVATE');
    expect(k.decrypt(sealed, 'cert-1')).toBe('-----BEGIN PRIVATE KEY-----x');
    // Fresh nonce each time.
    expect(k.encrypt('same', 'x')).not.toBe(k.encrypt('same', 'x'));
  });

  it('binds a ciphertext to its row (AAD) and detects tampering', () => {
    const k = Keyring.generate();
    const sealed = k.encrypt('secret', 'row-1');
    expect(() => k.decrypt(sealed, 'row-2')).toThrow(expect.objectContaining({ code: 'ciphertext_invalid' }));
    const parts = sealed.split(':');
    const data = Buffer.from(parts[3]!, 'base64');
    data[0] = data[0]! ^ 1;
    parts[3] = data.toString('base64');
    expect(() => k.decrypt(parts.join(':'), 'row-1')).toThrow(expect.objectContaining({ code: 'ciphertext_invalid' }));
    expect(() => k.decrypt('garbage', 'row-1')).toThrow(expect.objectContaining({ code: 'ciphertext_invalid' }));
  });

  it('rotates: old ciphertexts open with the old key and re-encrypt under the active one', () => {
    const oldText = `old:${key()}`;
    const before = Keyring.parse(oldText);
    const sealed = before.encrypt('pem', 'id');
    const after = Keyring.parse(`${oldText}\nnew:${key()}`);
    expect(after.activeKeyId).toBe('new');
    expect(after.isStale(sealed)).toBe(true);
    const resealed = after.reencrypt(sealed, 'id');
    expect(Keyring.keyIdOf(resealed)).toBe('new');
    expect(after.isStale(resealed)).toBe(false);
    expect(after.decrypt(resealed, 'id')).toBe('pem');
    // Once the old key is dropped, only re-encrypted data opens.
    const dropped = Keyring.parse(after.toJSON().keyIds.includes('new') ? `new:${key()}` : '');
    expect(() => dropped.decrypt(sealed, 'id')).toThrow(expect.objectContaining({ code: 'unknown_key' }));
  });

  it('honours an explicit active key id', () => {
    const k = Keyring.parse(`a:${key()},b:${key()}`, 'a');
    expect(Keyring.keyIdOf(k.encrypt('x'))).toBe('a');
    expect(() => Keyring.parse(`a:${key()}`, 'zz')).toThrow(/active key "zz"/);
  });

  it('rejects malformed keyrings without echoing key material', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    for (const bad of ['', 'nocolon', `:${key()}`, `a:${short}`, `a b:${key()}`, `a:${key()},a:${key()}`]) {
      let err: unknown;
      try {
        Keyring.parse(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(KeyringError);
      expect((err as Error).message).not.toContain(short);
    }
  });

  it('never shows key material in JSON or inspect output', () => {
    const material = key();
    const k = Keyring.parse(`prod-2026:${material}`);
    expect(JSON.stringify({ k })).toBe('{"k":{"activeKeyId":"prod-2026","keyIds":["prod-2026"]}}');
    expect(inspect(k)).not.toContain(material);
    expect(inspect(k, { showHidden: true, depth: 5 })).not.toContain(material);
  });

  it('merges inline keys and a mounted file; none configured is null', () => {
    const k = keyringFromConfig({ keys: `a:${key()}`, fileText: `# rotated 2026-11\nb:${key()}\n` })!;
    expect(k.keyIds).toEqual(['a', 'b']);
    expect(keyringFromConfig({})).toBeNull();
    expect(() => keyringFromConfig({ activeKeyId: 'a' })).toThrow(KeyringError);
  });
});
