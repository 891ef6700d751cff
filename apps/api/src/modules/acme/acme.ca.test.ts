import { createHash, X509Certificate } from 'node:crypto';
import { createCertificateAuthority, issueCertificate } from '@switchyard/pki';
import * as acme from 'acme-client';
import { describe, expect, it } from 'vitest';
import { authorityKeyId, buildTlsAlpnCertificate, parseRetryAfter, problemDocument } from './acme.ca.js';

describe('buildTlsAlpnCertificate (RFC 8737)', () => {
  it('makes a self-signed certificate for the name with the critical acmeIdentifier extension over SHA-256(key authorization)', async () => {
    const keyAuthorization = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI';
    const { certPem, keyPem } = await buildTlsAlpnCertificate('orders.acme.db.example.com', keyAuthorization);
    const x = new X509Certificate(certPem);
    expect(x.subjectAltName).toBe('DNS:orders.acme.db.example.com');
    expect(x.checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem))).toBe(true);
    expect(acme.crypto.isAlpnCertificateAuthorizationValid(certPem, keyAuthorization)).toBe(true);
    expect(acme.crypto.isAlpnCertificateAuthorizationValid(certPem, `${keyAuthorization}x`)).toBe(false);
    // id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31), critical, OCTET STRING of the 32-byte digest.
    const oid = Buffer.from([0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f]);
    const at = x.raw.indexOf(oid);
    expect(at).toBeGreaterThan(0);
    const digest = createHash('sha256').update(keyAuthorization).digest();
    expect(x.raw.subarray(at + oid.length, at + oid.length + 3)).toEqual(Buffer.from([0x01, 0x01, 0xff]));
    expect(x.raw.indexOf(Buffer.concat([Buffer.from([0x04, 0x20]), digest]))).toBeGreaterThan(at);
  });
});

describe('authorityKeyId', () => {
  it('reads the keyIdentifier of a leaf’s authorityKeyIdentifier (the issuer’s subjectKeyIdentifier)', () => {
    const ca = createCertificateAuthority({ commonName: 'AKI test CA' });
    const leaf = issueCertificate(ca, { hostnames: ['a.example.com'] });
    const aki = authorityKeyId(new X509Certificate(leaf.certPem).raw);
    const skiOid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0e]);
    const caDer = new X509Certificate(ca.certPem).raw;
    const i = caDer.indexOf(skiOid) + skiOid.length;
    // OCTET STRING { OCTET STRING keyIdentifier }
    const ski = caDer.subarray(i + 4, i + 4 + caDer[i + 3]!);
    expect(aki).not.toBeNull();
    expect(aki!.equals(ski)).toBe(true);
  });

  it('is null without the extension', () => {
    expect(authorityKeyId(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP-dates', () => {
    const now = Date.parse('2026-12-06T10:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Sun, 06 Dec 2026 11:00:00 GMT', now)).toBe(3_600_000);
    expect(parseRetryAfter('Sun, 06 Dec 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});

describe('problemDocument', () => {
  it('keeps the CA’s type, detail and status; the HTTP status when the body has none', () => {
    expect(problemDocument({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new orders', status: 429 }, 429)).toEqual({
      type: 'urn:ietf:params:acme:error:rateLimited',
      detail: 'too many new orders',
      status: 429,
    });
    expect(problemDocument({ type: 'urn:ietf:params:acme:error:serverInternal', detail: 'busy' }, 503)).toMatchObject({ status: 503 });
  });

  it('is null for a body that is not a problem document', () => {
    expect(problemDocument('<html>busy</html>', 503)).toBeNull();
    expect(problemDocument({ detail: 'no type' }, 400)).toBeNull();
    expect(problemDocument(null, 500)).toBeNull();
  });
});
