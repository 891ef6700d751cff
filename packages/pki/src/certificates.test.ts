import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { createSelfSigned, randomSerialHex } from './certificates.js';

describe('certificate serial numbers', () => {
  it('are positive, 16 bytes, and never start with a zero byte (minimal DER whatever forge does)', () => {
    for (let i = 0; i < 20_000; i++) {
      const s = randomSerialHex();
      expect(s).toHaveLength(32);
      const first = parseInt(s.slice(0, 2), 16);
      expect(first).toBeGreaterThanOrEqual(1);
      expect(first).toBeLessThanOrEqual(0x7f);
    }
  });

  it('the cause of the rare "illegal padding": forge keeps a second leading zero byte, which OpenSSL refuses', () => {
    const { keyPem } = createSelfSigned({ hostnames: ['x.example'] });
    const key = forge.pki.privateKeyFromPem(keyPem);
    const make = (serialHex: string) => {
      const c = forge.pki.createCertificate();
      c.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
      c.serialNumber = serialHex;
      c.validity.notBefore = new Date();
      c.validity.notAfter = new Date(Date.now() + 86_400_000);
      c.setSubject([{ name: 'commonName', value: 'x' }]);
      c.setIssuer([{ name: 'commonName', value: 'x' }]);
      c.sign(key, forge.md.sha256.create());
      return forge.pki.certificateToPem(c);
    };
    // What the old generator produced for random bytes 00 00 12 …: not minimally encoded.
    expect(() => new X509Certificate(make(`000012${'ab'.repeat(13)}`))).toThrow(/illegal padding/);
    expect(new X509Certificate(make(randomSerialHex())).serialNumber).toHaveLength(32);
  });
});
