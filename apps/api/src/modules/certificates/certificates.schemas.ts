import { Type, type Static } from 'typebox';
import { EXAMPLE_PEM, ListOf, Slug, Timestamp, UuidInput } from '../../lib/schemas.js';

const Pem = (description: string, maxLength: number) => Type.String({ minLength: 1, maxLength, description });
const Hostname = Type.String({ format: 'route-hostname', minLength: 1, maxLength: 253, examples: ['orders.acme.db.example.com'] });
const HostnameList = Type.Array(Hostname, {
  minItems: 1,
  maxItems: 20,
  description: 'Host names for subjectAltName (route host names; `*.` wildcards allowed), under the tenant’s domains',
});

export const CertificateKind = Type.Union([
  Type.Literal('platform-ca'),
  Type.Literal('issued'),
  Type.Literal('self-signed'),
  Type.Literal('uploaded'),
  Type.Literal('acme'),
]);

export const CERTIFICATE_EXAMPLE = {
  id: '7d1f8a8e-8a53-4e4b-9a3e-2f0c6f1c9b11',
  name: 'orders',
  kind: 'issued',
  hostnames: ['orders.acme.db.example.com'],
  subject: 'CN=orders.acme.db.example.com',
  issuer: 'CN=Switchyard Platform CA\nO=Switchyard',
  fingerprint: 'FD:1E:D3:62:B9:47:8F:E5:A6:72:17:FB:CA:83:58:F6:F0:55:E1:83:88:48:64:1F:A7:07:66:2F:BE:40:D2:C0',
  keyType: 'rsa-2048',
  notBefore: '2026-11-22T08:00:00.000Z',
  notAfter: '2027-12-24T08:00:00.000Z',
  expiresInDays: 396,
  auto: false,
  publiclyTrusted: false,
  caUrl: '/api/v1/pki/ca.pem',
  routes: [{ id: '3b0d8f8e-52f4-4d51-9a0c-0e8a1c1a3f11', hostname: 'orders.acme.db.example.com', tlsMode: 'terminate' }],
  certificatePem: EXAMPLE_PEM,
  createdAt: '2026-11-22T08:00:00.000Z',
  updatedAt: '2026-11-22T08:00:00.000Z',
};

export const CertificateResponse = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    kind: CertificateKind,
    hostnames: Type.Array(Type.String()),
    subject: Type.String(),
    issuer: Type.String(),
    fingerprint: Type.String({ description: 'SHA-256, colon-separated hex' }),
    keyType: Type.Union([Type.String(), Type.Null()]),
    notBefore: Timestamp,
    notAfter: Timestamp,
    expiresInDays: Type.Integer({ description: 'Whole days until notAfter (negative once expired)' }),
    auto: Type.Boolean({ description: 'Issued automatically for a route switched to terminate' }),
    publiclyTrusted: Type.Boolean({ description: 'False: clients need the CA (or this certificate) to verify it' }),
    caUrl: Type.Union([Type.String(), Type.Null()], { description: 'Where clients download the CA that verifies this certificate' }),
    routes: Type.Array(Type.Object({ id: Type.String(), hostname: Type.String(), tlsMode: Type.String() })),
    certificatePem: Type.String({ description: 'The chain, leaf first (public). The private key is never returned.' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Certificate', examples: [CERTIFICATE_EXAMPLE] },
);
export type CertificateResponse = Static<typeof CertificateResponse>;

export const CertificateList = ListOf(CertificateResponse, CERTIFICATE_EXAMPLE);

export const IssueCertificateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' }),
    type: Type.Union([Type.Literal('platform-ca'), Type.Literal('self-signed')], {
      description: 'platform-ca: signed by the platform CA (clients verify with /api/v1/pki/ca.pem); self-signed: clients pin this certificate',
    }),
    hostnames: HostnameList,
    validDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 825 })),
  },
  { additionalProperties: false, examples: [{ name: 'orders', type: 'platform-ca', hostnames: ['orders.acme.db.example.com'], validDays: 397 }] },
);
export type IssueCertificateBody = Static<typeof IssueCertificateBody>;

export const UploadCertificateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' }),
    certificatePem: Pem('PEM chain: the leaf first, then each intermediate', 65536),
    privateKeyPem: Pem('PEM private key of the leaf (unencrypted; stored encrypted). Never returned.', 16384),
    hostnames: Type.Optional(Type.Array(Hostname, { maxItems: 20, description: 'Host names the certificate must cover' })),
  },
  {
    additionalProperties: false,
    examples: [{ name: 'orders-public', certificatePem: '-----BEGIN CERTIFICATE-----\n…', privateKeyPem: '<the leaf’s PEM private key block, unencrypted>' }],
  },
);
export type UploadCertificateBody = Static<typeof UploadCertificateBody>;

export const ReplaceCertificateBody = Type.Object(
  {
    certificatePem: Type.Optional(Pem('New PEM chain (uploaded certificates)', 65536)),
    privateKeyPem: Type.Optional(Pem('New PEM private key (uploaded certificates)', 16384)),
    validDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 825, description: 'Re-issue (issued and self-signed certificates) with this validity; refused for uploaded ones (400 on `body.validDays`)' })),
  },
  {
    additionalProperties: false,
    description: 'Uploaded certificates: send certificatePem and privateKeyPem. Issued or self-signed: send {} (or validDays) to re-issue with a new key.',
    examples: [{}, { validDays: 90 }],
  },
);
export type ReplaceCertificateBody = Static<typeof ReplaceCertificateBody>;

export const CertificateParams = Type.Object(
  {
    tenant: Slug('Tenant slug'),
    certificateId: UuidInput('Certificate id'),
  },
  { additionalProperties: false },
);
