import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createCertificateAuthority, createSelfSigned, issueCertificate, type KeyAndCert } from './certificates.js';
import { mintUnchecked } from './testing/index.js';
import { certificateCovers, CertificateValidationError, validateCertificateChain, type CertificateErrorCode } from './validate.js';

const root = createCertificateAuthority({ commonName: 'Root' });
const intermediate = createCertificateAuthority({ commonName: 'Intermediate', issuer: root });
const leaf = issueCertificate(intermediate, { hostnames: ['orders.acme.example.com', '*.apps.example.com'] });
const other = createSelfSigned({ hostnames: ['other.example.com'] });

/** Signed by `root`, CN orders.acme.example.com, with only the given subjectAltNames. */
const mint = (opts: { ca: boolean; altNames?: string[]; ips?: string[]; email?: string }): KeyAndCert =>
  mintUnchecked({ issuer: root, commonName: 'orders.acme.example.com', ...opts });

function failure(opts: Parameters<typeof validateCertificateChain>[0]): CertificateValidationError {
  try {
    validateCertificateChain(opts);
  } catch (err) {
    if (err instanceof CertificateValidationError) return err;
    throw err;
  }
  throw new Error('expected a validation error');
}

function code(opts: Parameters<typeof validateCertificateChain>[0]): CertificateErrorCode {
  return failure(opts).code;
}

describe('validateCertificateChain', () => {
  it('accepts a leaf + intermediate chain that covers the hostnames', () => {
    const v = validateCertificateChain({
      chainPem: leaf.certPem + intermediate.certPem,
      keyPem: leaf.keyPem,
      hostnames: ['orders.acme.example.com', 'x.apps.example.com'],
    });
    expect(v.hostnames).toEqual(['orders.acme.example.com', '*.apps.example.com']);
    expect(v.keyType).toBe('rsa-2048');
    expect(v.notAfter.getTime()).toBeGreaterThan(Date.now());
    expect(v.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('accepts ECDSA and Ed25519 keys', () => {
    for (const t of ['ec', 'ed25519'] as const) {
      const { privateKey } = t === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('ed25519');
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      // The key does not match the RSA leaf: proves the key was parsed and accepted as a type.
      expect(code({ chainPem: leaf.certPem, keyPem: pem })).toBe('key_mismatch');
    }
  });

  it('pem_invalid: no certificate, garbage in a block', () => {
    expect(code({ chainPem: 'hello', keyPem: leaf.keyPem })).toBe('pem_invalid');
    expect(code({ chainPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', keyPem: leaf.keyPem })).toBe('pem_invalid');
    const err = failure({ chainPem: leaf.certPem + '-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n', keyPem: leaf.keyPem });
    expect(err.code).toBe('pem_invalid');
    expect(err.index).toBe(1);
  });

  it('key_invalid: missing or unparsable key', () => {
    expect(code({ chainPem: leaf.certPem, keyPem: 'not a key' })).toBe('key_invalid');
    expect(code({ chainPem: leaf.certPem, keyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' })).toBe('key_invalid');
  });

  it('key_unsupported: small RSA, DSA, odd curves, passphrase-encrypted keys', () => {
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    // A fixture: generating DSA parameters takes seconds of CPU (a test fixture, not a secret).
    const dsa = readFileSync(new URL('./fixtures/dsa-2048.key.pem', import.meta.url), 'utf8');
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const encrypted = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
      .toString();
    for (const keyPem of [rsa1024, dsa, k1, encrypted]) expect(code({ chainPem: leaf.certPem, keyPem })).toBe('key_unsupported');
  });

  it('key_mismatch: the key belongs to another certificate', () => {
    const err = failure({ chainPem: leaf.certPem, keyPem: other.keyPem });
    expect(err.code).toBe('key_mismatch');
    expect(err.field).toBe('key');
  });

  it('chain_order: issuer before leaf, or an unrelated certificate', () => {
    const swapped = failure({ chainPem: leaf.certPem + root.certPem + intermediate.certPem, keyPem: leaf.keyPem });
    expect(swapped.code).toBe('chain_order');
    expect(swapped.message).toContain('appears elsewhere');
    expect(code({ chainPem: leaf.certPem + other.certPem, keyPem: leaf.keyPem })).toBe('chain_order');
  });

  it('chain_order, not key_mismatch, when the key belongs to a certificate further down the bundle', () => {
    const misplaced = failure({ chainPem: intermediate.certPem + leaf.certPem, keyPem: leaf.keyPem });
    expect(misplaced).toMatchObject({ code: 'chain_order', field: 'certificate', index: 1 });
    expect(misplaced.message).toContain('the private key belongs to certificate 2 of the chain, not the first');
    // Root first, leaf last.
    expect(failure({ chainPem: root.certPem + intermediate.certPem + leaf.certPem, keyPem: leaf.keyPem })).toMatchObject({ code: 'chain_order', index: 2 });
    // A key of no certificate in the bundle is still a mismatch, on the key.
    expect(failure({ chainPem: intermediate.certPem + leaf.certPem, keyPem: other.keyPem })).toMatchObject({ code: 'key_mismatch', field: 'key' });
  });

  it('not_a_leaf: a CA certificate (basicConstraints CA:TRUE) with its key', () => {
    for (const ca of [root, intermediate]) {
      const err = failure({ chainPem: ca.certPem, keyPem: ca.keyPem });
      expect(err).toMatchObject({ code: 'not_a_leaf', field: 'certificate', index: 0 });
      expect(err.message).toContain('CA:TRUE');
    }
    // Even with a SAN, as some private CAs mint them.
    const caWithSan = mint({ ca: true, altNames: ['orders.acme.example.com'] });
    expect(code({ chainPem: caWithSan.certPem, keyPem: caWithSan.keyPem })).toBe('not_a_leaf');
  });

  it('no_hostnames: a leaf without a DNS or IP subjectAltName (CN only, or only an email address)', () => {
    for (const c of [mint({ ca: false }), mint({ ca: false, email: 'ops@example.com' })]) {
      const err = failure({ chainPem: c.certPem + root.certPem, keyPem: c.keyPem });
      expect(err).toMatchObject({ code: 'no_hostnames', field: 'certificate', index: 0 });
      expect(err.message).toContain('no DNS or IP subjectAltName');
      expect(err.message).toContain('CN=orders.acme.example.com');
    }
    // An IP address alone names a host.
    const ip = mint({ ca: false, ips: ['192.0.2.10'] });
    expect(validateCertificateChain({ chainPem: ip.certPem + root.certPem, keyPem: ip.keyPem, hostnames: ['192.0.2.10'] }).hostnames).toEqual(['192.0.2.10']);
  });

  it('expired and not_yet_valid, for the leaf and the chain', () => {
    const day = 86_400_000;
    const old = issueCertificate(root, { hostnames: ['a.example.com'], notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day) });
    expect(code({ chainPem: old.certPem, keyPem: old.keyPem })).toBe('expired');
    const future = issueCertificate(root, { hostnames: ['a.example.com'], notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 10 * day) });
    expect(code({ chainPem: future.certPem, keyPem: future.keyPem })).toBe('not_yet_valid');
    const later = new Date(Date.now() + 20 * 365 * day);
    const err = failure({ chainPem: leaf.certPem + intermediate.certPem, keyPem: leaf.keyPem, now: later });
    expect(err.code).toBe('expired');
  });

  it('hostname_not_covered: wildcards cover exactly one label', () => {
    const base = { chainPem: leaf.certPem, keyPem: leaf.keyPem };
    expect(code({ ...base, hostnames: ['billing.acme.example.com'] })).toBe('hostname_not_covered');
    expect(code({ ...base, hostnames: ['a.b.apps.example.com'] })).toBe('hostname_not_covered');
    expect(code({ ...base, hostnames: ['apps.example.com'] })).toBe('hostname_not_covered');
    expect(failure({ ...base, hostnames: ['x.example.org'] }).message).toContain('orders.acme.example.com');
  });
});

describe('certificateCovers', () => {
  it('is case-insensitive and ignores the CN', () => {
    expect(certificateCovers(leaf.certPem, 'ORDERS.acme.example.com')).toBe(true);
    expect(certificateCovers(leaf.certPem, 'y.apps.example.com')).toBe(true);
    expect(certificateCovers(leaf.certPem, 'Root')).toBe(false);
  });
});
