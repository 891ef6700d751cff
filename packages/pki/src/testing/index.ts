/**
 * Test support (never imported by product code): certificates the package's own minting never
 * makes — a leaf with no subjectAltName, a CA certificate with one, an email-only SAN — to test
 * what uploads may hold (validate.ts, the API's certificate checks).
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { randomSerialHex, type KeyAndCert } from '../certificates.js';

export interface UncheckedCertificateOptions {
  /** The signer. */
  issuer: KeyAndCert;
  commonName: string;
  /** basicConstraints CA:TRUE. */
  ca?: boolean;
  /** DNS subjectAltNames; none given and no `ips` or `email`: no subjectAltName at all. */
  altNames?: string[];
  ips?: string[];
  email?: string;
}

/** A one-day certificate exactly as asked, signed by `issuer` (RSA 2048). */
export function mintUnchecked(o: UncheckedCertificateOptions): KeyAndCert {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: o.commonName }]);
  cert.setIssuer(forge.pki.certificateFromPem(o.issuer.certPem).subject.attributes);
  const altNames = [
    ...(o.altNames ?? []).map((value) => ({ type: 2, value })),
    ...(o.ips ?? []).map((ip) => ({ type: 7, ip })),
    ...(o.email ? [{ type: 1, value: o.email }] : []),
  ];
  cert.setExtensions([{ name: 'basicConstraints', cA: o.ca ?? false, critical: true }, ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : [])]);
  cert.sign(forge.pki.privateKeyFromPem(o.issuer.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
