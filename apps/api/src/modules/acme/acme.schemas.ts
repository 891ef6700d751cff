import { Type, type Static } from 'typebox';
import { ListOf, Slug, Timestamp, UuidInput } from '../../lib/schemas.js';

export const AcmeState = Type.Union([Type.Literal('pending'), Type.Literal('validating'), Type.Literal('issued'), Type.Literal('failed')], {
  description:
    'pending: waiting for the background worker; validating: an order is in flight (challenge published to every proxy, the CA validating); ' +
    'issued: the ACME certificate is attached to the route (renewals keep this state; a failed renewal shows in `problem`); failed: see `problem`, retried at `nextAttemptAt`',
});

export const AcmeChallengeType = Type.Union([Type.Literal('tls-alpn-01'), Type.Literal('http-01')], {
  description: 'tls-alpn-01: answered by the proxies on the shared TLS port (443); http-01: on the http listener (port 80). DNS-01 (and so wildcards) is not supported.',
});
export type AcmeChallengeType = Static<typeof AcmeChallengeType>;

const Problem = Type.Union(
  [
    Type.Object({
      type: Type.String({ description: 'The CA’s problem type (urn:ietf:params:acme:error:…) or switchyard:… for checks made before ordering' }),
      detail: Type.String(),
      status: Type.Optional(Type.Integer()),
      at: Timestamp,
      renewal: Type.Boolean({ description: 'The failure was a renewal; the current certificate is still served' }),
    }),
    Type.Null(),
  ],
  { description: 'The last failure (the CA’s problem document), null after a success' },
);

export const ACME_EXAMPLE = {
  id: '5b7c1e0a-3f0e-4f43-9a57-8a0f0e6b2c11',
  hostname: 'orders.acme.db.example.com',
  challenge: 'tls-alpn-01',
  state: 'issued',
  problem: null,
  attempts: 0,
  nextAttemptAt: '2027-01-30T08:00:00.000Z',
  renewAt: '2027-01-30T08:00:00.000Z',
  lastIssuedAt: '2026-12-01T08:00:00.000Z',
  certificate: {
    id: '7d1f8a8e-8a53-4e4b-9a3e-2f0c6f1c9b11',
    fingerprint: 'FD:1E:D3:62:B9:47:8F:E5:A6:72:17:FB:CA:83:58:F6:F0:55:E1:83:88:48:64:1F:A7:07:66:2F:BE:40:D2:C0',
    issuer: 'C=US\nO=Let\'s Encrypt\nCN=R11',
    notBefore: '2026-12-01T07:00:00.000Z',
    notAfter: '2027-03-01T07:00:00.000Z',
    expiresInDays: 89,
    publiclyTrusted: true,
  },
  servedWith: { certificateId: '7d1f8a8e-8a53-4e4b-9a3e-2f0c6f1c9b11', kind: 'acme' },
  createdAt: '2026-12-01T07:59:00.000Z',
  updatedAt: '2026-12-01T08:00:00.000Z',
};

export const AcmeCertificateResponse = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    hostname: Type.String(),
    challenge: AcmeChallengeType,
    state: AcmeState,
    problem: Problem,
    attempts: Type.Integer({ description: 'Consecutive failed attempts (backoff doubles with each)' }),
    nextAttemptAt: Type.Union([Timestamp, Type.Null()], { description: 'When the worker acts next (order, retry or renewal); null: nothing scheduled' }),
    renewAt: Type.Union([Timestamp, Type.Null()], { description: 'Planned renewal: ARI window when the CA offers it, else when a third of the lifetime remains' }),
    lastIssuedAt: Type.Union([Timestamp, Type.Null()]),
    certificate: Type.Union(
      [
        Type.Object({
          id: Type.String({ format: 'uuid' }),
          fingerprint: Type.String(),
          issuer: Type.String(),
          notBefore: Timestamp,
          notAfter: Timestamp,
          expiresInDays: Type.Integer(),
          publiclyTrusted: Type.Boolean({ description: 'Chains to a root in the public (Mozilla) trust store: clients verify with sslrootcert=system' }),
        }),
        Type.Null(),
      ],
      { description: 'The issued ACME certificate (GET …/certificates/:id for its chain); null until the first issuance' },
    ),
    servedWith: Type.Union([Type.Object({ certificateId: Type.String(), kind: Type.String() }), Type.Null()], {
      description: 'What the route presents right now: kind `issued` (the platform CA) until the ACME certificate is issued, then `acme`',
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'AcmeCertificate', examples: [ACME_EXAMPLE] },
);
export type AcmeCertificateResponse = Static<typeof AcmeCertificateResponse>;

export const AcmeCertificateList = ListOf(AcmeCertificateResponse, ACME_EXAMPLE);

export const RequestAcmeBody = Type.Object(
  {
    hostname: Type.String({ format: 'route-hostname', minLength: 1, maxLength: 253, description: 'The host name of one of the tenant’s terminate-mode routes (exact; no wildcards)' }),
    challenge: Type.Optional(AcmeChallengeType),
  },
  { additionalProperties: false, examples: [{ hostname: 'orders.acme.db.example.com' }, { hostname: 'orders.acme.db.example.com', challenge: 'http-01' }] },
);
export type RequestAcmeBody = Static<typeof RequestAcmeBody>;

export const AcmeParams = Type.Object({ tenant: Slug('Tenant slug'), acmeId: UuidInput('ACME certificate id') }, { additionalProperties: false });
