import { Type } from 'typebox';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses, EXAMPLE_PEM, TenantParams } from '../../lib/schemas.js';
import { Propagation, WaitQuery } from '../external-access/external-access.schemas.js';
import { CA_PEM_PATH } from './certificates.service.js';
import {
  CERTIFICATE_EXAMPLE,
  CertificateList,
  CertificateParams,
  CertificateResponse,
  IssueCertificateBody,
  ReplaceCertificateBody,
  UploadCertificateBody,
} from './certificates.schemas.js';

export async function certificatesRoutes(app: App): Promise<void> {
  const svc = app.services.certificates;
  const tags = ['certificates'];
  const base = '/api/v1/tenants/:tenant/certificates';

  app.get(CA_PEM_PATH, {
    config: { public: true },
    schema: {
      tags,
      summary: 'The platform CA certificate (PEM) that verifies platform-issued certificates',
      description: 'Public. Clients use it as `sslrootcert` (libpq), `--cacert` (redis-cli, curl), `tlsCAFile` (mongosh).',
      security: [],
      produces: ['application/x-pem-file'],
      response: { 200: Type.String({ description: 'PEM certificate', examples: [EXAMPLE_PEM] }), ...errorResponses(503) },
    },
  }, async (_req, reply) => reply.type('application/x-pem-file').header('content-disposition', 'attachment; filename="switchyard-ca.pem"').send(await svc.caPem()));

  app.get(base, {
    schema: { tags, summary: 'List the tenant’s certificates with expiry (soonest first)', params: TenantParams, response: { 200: CertificateList, ...errorResponses(403, 404) } },
  }, async (req) => ({ items: await svc.list(actorOf(req), req.params.tenant) }));

  app.post(base, {
    schema: {
      tags,
      summary: 'Issue a certificate: signed by the platform CA, or self-signed (tenant admin)',
      description: 'Host names must be under `<tenant>.<base domain>` or one of the tenant’s allowed custom domains.',
      params: TenantParams,
      body: IssueCertificateBody,
      response: { 201: CertificateResponse, ...errorResponses(403, 404, 409, 422, 503) },
    },
  }, async (req, reply) => reply.status(201).send(await svc.issue(actorOf(req), req.params.tenant, req.body)));

  app.post(`${base}/upload`, {
    schema: {
      tags,
      summary: 'Upload a certificate chain and its private key (tenant admin)',
      description:
        'Validated: parsable PEM, supported key (RSA ≥ 2048, ECDSA P-256/384/521, Ed25519), key matches the leaf, chain ordered leaf first, ' +
        'a leaf that is not a CA and has DNS or IP subjectAltNames, currently valid, and covering `hostnames` when given. ' +
        'The key is encrypted at rest and never returned.',
      params: TenantParams,
      body: UploadCertificateBody,
      response: { 201: CertificateResponse, ...errorResponses(403, 404, 409, 422, 503) },
    },
  }, async (req, reply) => reply.status(201).send(await svc.upload(actorOf(req), req.params.tenant, req.body)));

  app.get(`${base}/:certificateId`, {
    schema: { tags, summary: 'One certificate (never its key)', params: CertificateParams, response: { 200: CertificateResponse, ...errorResponses(403, 404) } },
  }, async (req) => svc.get(actorOf(req), req.params.tenant, req.params.certificateId));

  app.put(`${base}/:certificateId`, {
    schema: {
      tags,
      summary: 'Replace a certificate in place: re-issue, or upload a new chain and key (tenant admin)',
      description:
        'Routes using it get a new config version in the same transaction; proxies use the new certificate for new handshakes and ' +
        'keep established sessions. With `?wait=true` the call returns once every live proxy applied it.',
      params: CertificateParams,
      querystring: WaitQuery,
      body: ReplaceCertificateBody,
      response: {
        200: Type.Object(
          { certificate: CertificateResponse, propagation: Type.Union([Propagation, Type.Null()]) },
          {
            examples: [
              {
                certificate: { ...CERTIFICATE_EXAMPLE, updatedAt: '2026-12-01T08:00:00.000Z' },
                propagation: { version: 43, state: 'applied', proxies: [{ id: 'switchyard-proxy-7d9f-abcde', appliedVersion: 43, applied: true }] },
              },
            ],
          },
        ),
        ...errorResponses(403, 404, 409, 422, 503),
      },
    },
  }, async (req) =>
    svc.replace(actorOf(req), req.params.tenant, req.params.certificateId, req.body, { wait: req.query.wait === true, timeoutMs: req.query.timeoutMs }),
  );

  app.delete(`${base}/:certificateId`, {
    schema: {
      tags,
      summary: 'Delete a certificate that no route uses and no ACME certificate renews (tenant admin)',
      description:
        'Refused with `SY_CERTIFICATE_IN_USE` (409) while routes use it (`details[].routes`: attach another certificate or switch them to passthrough first) ' +
        'or while an ACME certificate renews it (`details[].acmeHostnames`: delete that ACME certificate first, which keeps this one).',
      params: CertificateParams,
      response: { 204: Type.Null(), ...errorResponses(403, 404, 409) },
    },
  }, async (req, reply) => {
    await svc.remove(actorOf(req), req.params.tenant, req.params.certificateId);
    return reply.status(204).send(null);
  });
}
