import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { caBundleProblem, createCertificateAuthority, createSelfSigned, issueCertificate, randomSerialHex, verificationRoot } from './certificates.js';

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

describe('verificationRoot: what a client verifies a served chain with', () => {
  const root = createCertificateAuthority({ commonName: 'Root' });
  const intermediate = createCertificateAuthority({ commonName: 'Intermediate', issuer: root });
  const leafCert = issueCertificate(intermediate, { hostnames: ['db.example.test'] });
  const chain = leafCert.certPem + intermediate.certPem;
  const otherRoot = createCertificateAuthority({ commonName: 'Other root' });
  // PEM line endings differ between generators: compare certificates, not text.
  const found = (r: ReturnType<typeof verificationRoot>) => r && { cert: new X509Certificate(r.pem).fingerprint256, root: r.root };
  const as = (pem: string, isRoot: boolean) => ({ cert: new X509Certificate(pem).fingerprint256, root: isRoot });

  it('is the configured root that issued the chain’s last certificate, found in a bundle', () => {
    expect(found(verificationRoot(chain, [otherRoot.certPem + root.certPem]))).toEqual(as(root.certPem, true));
  });

  it('is the last certificate itself when the chain ends at a root', () => {
    expect(found(verificationRoot(chain + root.certPem, []))).toEqual(as(root.certPem, true));
    const self = createSelfSigned({ hostnames: ['x.example.test'] });
    expect(found(verificationRoot(self.certPem, []))).toEqual(as(self.certPem, true));
  });

  it('falls back to the intermediate, marked as not a root, when no configured root issued it', () => {
    expect(found(verificationRoot(chain, [otherRoot.certPem]))).toEqual(as(intermediate.certPem, false));
    expect(verificationRoot('', [root.certPem])).toBeNull();
  });

  it('a name match alone is not enough: a root with the right subject but another key is refused', () => {
    const impostor = createCertificateAuthority({ commonName: 'Root' });
    expect(found(verificationRoot(chain, [impostor.certPem]))).toEqual(as(intermediate.certPem, false));
  });
});

describe('caBundleProblem: an upstream CA bundle (API upstreamCa, ExternalAccess spec.upstreamCa)', () => {
  const ca = createCertificateAuthority({ commonName: 'Upstream CA' });

  it('passes PEM certificates, a bundle with text between them too', () => {
    expect(caBundleProblem(ca.certPem)).toBeNull();
    expect(caBundleProblem(`# the cluster's CA\n${ca.certPem}\n${ca.certPem}`)).toBeNull();
  });

  it('says why anything else is refused, without quoting the value', () => {
    expect(caBundleProblem('orders-ca')).toMatch(/^is not PEM/);
    expect(caBundleProblem(`${ca.certPem}${ca.certPem.replace('MII', 'XXX')}`)).toBe('certificate 2 of 2 is not a valid X.509 certificate');
    // A whole Secret pasted (the CA beside the CA's own key): refused, the key never echoed.
    const problem = caBundleProblem(`${ca.certPem}${ca.keyPem}`);
    expect(problem).toMatch(/^holds a private key/);
    expect(problem).not.toContain(ca.keyPem.split('\n')[1]);
  });
});
