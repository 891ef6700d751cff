/**
 * Validation of an uploaded certificate chain and private key, with one specific code per
 * failure so the API can say exactly what is wrong. Uses Node's X509Certificate and KeyObject
 * (the same OpenSSL the proxy's TLS stack uses), so what passes here loads in the proxy.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { splitPemChain } from './certificates.js';

export type CertificateErrorCode =
  | 'pem_invalid'
  | 'key_invalid'
  | 'key_unsupported'
  | 'key_mismatch'
  | 'chain_order'
  | 'not_a_leaf'
  | 'no_hostnames'
  | 'expired'
  | 'not_yet_valid'
  | 'hostname_not_covered';

export class CertificateValidationError extends Error {
  constructor(
    readonly code: CertificateErrorCode,
    message: string,
    /** Which input is at fault: certificate (with chain index), key or hostnames. */
    readonly field: 'certificate' | 'key' | 'hostnames',
    readonly index?: number,
  ) {
    super(message);
  }
}

/** Largest PEM bundle accepted (a leaf plus a few intermediates is well under this). */
export const MAX_CHAIN_PEM_BYTES = 64 * 1024;
export const MAX_CHAIN_LENGTH = 8;
const MIN_RSA_BITS = 2048;
const EC_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

export interface ValidatedCertificate {
  /** Normalised PEM chain, leaf first. */
  chainPem: string;
  /** Normalised PKCS#8 PEM key. */
  keyPem: string;
  keyType: string;
  hostnames: string[];
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  fingerprint: string;
  serialNumber: string;
}

export interface ValidateOptions {
  chainPem: string;
  keyPem: string;
  /** Host names the leaf must cover (its SANs, wildcards per RFC 6125). */
  hostnames?: string[];
  now?: Date;
}

export function validateCertificateChain(opts: ValidateOptions): ValidatedCertificate {
  const now = opts.now ?? new Date();
  if (opts.chainPem.length > MAX_CHAIN_PEM_BYTES) {
    throw new CertificateValidationError('pem_invalid', `the certificate PEM exceeds ${MAX_CHAIN_PEM_BYTES} bytes`, 'certificate');
  }
  const pems = splitPemChain(opts.chainPem);
  if (pems.length === 0) throw new CertificateValidationError('pem_invalid', 'no "-----BEGIN CERTIFICATE-----" block found', 'certificate');
  if (pems.length > MAX_CHAIN_LENGTH) throw new CertificateValidationError('pem_invalid', `a chain may hold at most ${MAX_CHAIN_LENGTH} certificates`, 'certificate');
  const chain = pems.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch {
      throw new CertificateValidationError('pem_invalid', `certificate ${i + 1} of the chain cannot be parsed`, 'certificate', i);
    }
  });
  const key = parseKey(opts.keyPem);
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) {
    // A key that belongs to a certificate further down the bundle is fine: the chain is out of
    // order (commonly the issuer pasted first), and the chain is what has to change.
    const misplaced = chain.findIndex((c) => c.checkPrivateKey(key));
    if (misplaced > 0) {
      throw new CertificateValidationError(
        'chain_order',
        `the private key belongs to certificate ${misplaced + 1} of the chain, not the first: order the chain leaf first, then each issuer`,
        'certificate',
        misplaced,
      );
    }
    throw new CertificateValidationError('key_mismatch', 'the private key does not belong to the first (leaf) certificate', 'key');
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i]!;
    const parent = chain[i + 1]!;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      const hint = chain.some((c, j) => j !== i && child.checkIssued(c)) ? ' (its issuer appears elsewhere in the bundle: order it leaf first, then each issuer)' : '';
      throw new CertificateValidationError('chain_order', `certificate ${i + 2} did not issue certificate ${i + 1}${hint}`, 'certificate', i + 1);
    }
  }
  // A route serves the leaf to clients that check its names (RFC 6125: subjectAltName only,
  // the CN is ignored) and expect an end-entity certificate: a CA certificate or one without
  // DNS/IP names would be stored and fail only when attached, or at every handshake.
  if (leaf.ca) {
    throw new CertificateValidationError(
      'not_a_leaf',
      'the first certificate is a CA certificate (basicConstraints CA:TRUE), not a server certificate: put the leaf first, or issue one for the host names',
      'certificate',
      0,
    );
  }
  if (sanList(leaf).length === 0) {
    throw new CertificateValidationError(
      'no_hostnames',
      `the certificate has no DNS or IP subjectAltName (subject ${leaf.subject.replace(/\n/g, ', ') || 'empty'}); clients ignore the common name, so it covers no host name: issue it with the host names as subjectAltNames`,
      'certificate',
      0,
    );
  }
  chain.forEach((c, i) => {
    const what = i === 0 ? 'the certificate' : `chain certificate ${i + 1}`;
    if (new Date(c.validTo).getTime() <= now.getTime()) {
      throw new CertificateValidationError('expired', `${what} expired on ${new Date(c.validTo).toISOString()}`, 'certificate', i);
    }
    if (new Date(c.validFrom).getTime() > now.getTime()) {
      throw new CertificateValidationError('not_yet_valid', `${what} is not valid before ${new Date(c.validFrom).toISOString()}`, 'certificate', i);
    }
  });
  for (const h of opts.hostnames ?? []) {
    if (!certificateCovers(leaf, h)) {
      throw new CertificateValidationError('hostname_not_covered', `the certificate's names (${sanList(leaf).join(', ') || 'none'}) do not cover ${h}`, 'hostnames');
    }
  }
  return {
    chainPem: chain.map((c) => c.toString()).join(''),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyType: describeKey(key),
    hostnames: sanList(leaf),
    subject: leaf.subject,
    issuer: leaf.issuer,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint: leaf.fingerprint256,
    serialNumber: leaf.serialNumber,
  };
}

function parseKey(pem: string): KeyObject {
  if (/ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    throw new CertificateValidationError('key_unsupported', 'the private key is encrypted with a passphrase; upload it unencrypted (it is encrypted at rest here)', 'key');
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new CertificateValidationError('key_invalid', 'no PEM private key block found (PKCS#8, or PKCS#1 / SEC 1 "RSA" / "EC" key blocks)', 'key');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new CertificateValidationError('key_invalid', 'the private key cannot be parsed', 'key');
  }
  const t = key.asymmetricKeyType;
  const d = key.asymmetricKeyDetails ?? {};
  if (t === 'rsa' && (d.modulusLength ?? 0) >= MIN_RSA_BITS) return key;
  if (t === 'ec' && d.namedCurve && EC_CURVES.has(d.namedCurve)) return key;
  if (t === 'ed25519') return key;
  throw new CertificateValidationError(
    'key_unsupported',
    `unsupported key ${describeKey(key)}; use RSA of at least ${MIN_RSA_BITS} bits, ECDSA P-256/P-384/P-521 or Ed25519`,
    'key',
  );
}

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') return `${key.asymmetricKeyType}-${d.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') return `ec-${d.namedCurve ?? '?'}`;
  return key.asymmetricKeyType ?? 'unknown';
}

/** The DNS and IP subjectAltNames (other kinds, e.g. email or URI, name no host). */
function sanList(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:') || s.startsWith('IP Address:'))
    .map((s) => s.replace(/^DNS:|^IP Address:/, ''));
}

/** Whether the certificate's subjectAltName covers `hostname` (one-label wildcards). */
export function certificateCovers(cert: X509Certificate | string, hostname: string): boolean {
  const x = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  if (isIP(hostname)) return x.checkIP(hostname) !== undefined;
  // subject: 'never' — modern clients ignore the CN when SANs exist; so do we.
  return x.checkHost(hostname, { subject: 'never', wildcards: true, partialWildcards: false, multiLabelWildcards: false }) !== undefined;
}
