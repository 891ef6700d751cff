import { createCertificateAuthority, issueCertificate, Keyring, type KeyAndCert } from '@switchyard/pki';

let ca: KeyAndCert | null = null;

/** One test CA per process (RSA keygen is not free). */
export function testCa(): KeyAndCert {
  ca ??= createCertificateAuthority({ commonName: 'Switchyard Test CA' });
  return ca;
}

export function testCert(hostnames: string[]): KeyAndCert {
  return issueCertificate(testCa(), { hostnames });
}

/** A fixed test keyring text (SWITCHYARD_KEYS) shared by tests' API, proxy and ControlDb. */
export const TEST_KEYS = 'test-1:' + Buffer.alloc(32, 0x5a).toString('base64');

export function testKeyring(): Keyring {
  return Keyring.parse(TEST_KEYS);
}
