/**
 * The dashboard's certificate picker (apps/web features/certificates/covers.ts, pure, runs in
 * the browser) must offer exactly the certificates the API accepts for a route: every SAN
 * pattern against every host name, the picker's answer equals @switchyard/pki's
 * certificateCovers (Node's X509Certificate.checkHost) on a real certificate with that SAN.
 */
import { certificateCovers, createSelfSigned } from '@switchyard/pki';
import { describe, expect, it } from 'vitest';
import { sanCovers } from '../../../../web/src/features/certificates/covers.js';

const SANS = [
  'orders.acme.db.example.com',
  '*.acme.db.example.com',
  '*.hub.example.com',
  'a.hub.example.com',
  '*.example.com',
  'db*.example.com',
  '*.com',
  'localhost',
  '10.0.0.1',
];
const HOSTS = [
  'orders.acme.db.example.com',
  'ORDERS.acme.db.example.com',
  'billing.acme.db.example.com',
  'a.b.acme.db.example.com',
  'acme.db.example.com',
  'x.hub.example.com',
  '*.hub.example.com',
  'a.hub.example.com',
  'db1.example.com',
  'example.com',
  'xn--bcher-kva.example.com',
  'localhost',
  '10.0.0.1',
];

describe('certificate picker ↔ API agreement', () => {
  it.each(SANS)('a certificate for %s covers the same host names in both', (san) => {
    const { certPem } = createSelfSigned({ hostnames: [san], validDays: 1 });
    const api = HOSTS.filter((h) => certificateCovers(certPem, h));
    const picker = HOSTS.filter((h) => sanCovers(san, h));
    expect(picker).toEqual(api);
  });
});
