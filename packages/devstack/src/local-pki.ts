/**
 * A development CA kept under the data folder, so clients can verify demo certificates with
 * `sslrootcert=.switchyard/pki/ca.pem` across restarts. Private keys are written 0600.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate, type KeyAndCert } from '@switchyard/pki';

export function loadOrCreateDevCa(dataDir: string): KeyAndCert & { certPath: string } {
  const dir = join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const certPath = join(dir, 'ca.pem');
  const keyPath = join(dir, 'ca.key');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8'), certPath };
  }
  const ca = createCertificateAuthority({ commonName: 'Switchyard Local Development CA' });
  writeFileSync(keyPath, ca.keyPem, { mode: 0o600 });
  writeFileSync(certPath, ca.certPem, { mode: 0o644 });
  return { ...ca, certPath };
}

export function issueDevCertificate(ca: KeyAndCert, hostnames: string[]): KeyAndCert {
  return issueCertificate(ca, { hostnames, validDays: 365 });
}
