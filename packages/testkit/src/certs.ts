import { createCertificateAuthority, issueCertificate, type KeyAndCert } from '@switchyard/pki';

let ca: KeyAndCert | null = null;

/** One test CA per process (RSA keygen is not free). */
export function testCa(): KeyAndCert {
  ca ??= createCertificateAuthority({ commonName: 'Switchyard Test CA' });
  return ca;
}

export function testCert(hostnames: string[]): KeyAndCert {
  return issueCertificate(testCa(), { hostnames });
}
