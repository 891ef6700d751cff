import { Type } from 'typebox';
import type { App } from '../../app.js';
import { requirePlatformAdmin } from '../../lib/access.js';
import { errorResponses, TenantParams } from '../../lib/schemas.js';
import { actorOf } from '../../plugins/auth.js';
import { AcmeCertificateList, AcmeCertificateResponse, AcmeParams, RequestAcmeBody } from './acme.schemas.js';

export async function acmeRoutes(app: App): Promise<void> {
  const svc = app.services.acme;
  const tags = ['certificates'];
  const base = '/api/v1/tenants/:tenant/acme-certificates';

  app.get(base, {
    schema: { tags, summary: 'List the tenant’s ACME certificates: state, renewal date, last failure', params: TenantParams, response: { 200: AcmeCertificateList, ...errorResponses(403, 404) } },
  }, async (req) => ({ items: await svc.list(actorOf(req), req.params.tenant) }));

  app.post(base, {
    schema: {
      tags,
      summary: 'Request a publicly trusted certificate from the platform’s ACME CA for an enabled terminate-mode route (tenant admin)',
      description:
        'Returns at once with state `pending`; the background worker orders it, publishes the challenge to every proxy, and attaches the certificate ' +
        'to the route when issued (follow with GET). Until then the route keeps its platform-CA certificate (`servedWith.kind: issued`). ' +
        'Exact host names only: wildcards need DNS-01, which is not supported. Renewed automatically. ' +
        'A disabled, passthrough or missing route is refused (SY_ACME_ROUTE_REQUIRED). The ACME certificate is deleted with its route, ' +
        'and when the route is disabled, renamed or switched to passthrough; the issued certificate stays a certificate of the tenant.',
      params: TenantParams,
      body: RequestAcmeBody,
      response: { 202: AcmeCertificateResponse, ...errorResponses(403, 404, 409, 422, 429, 503) },
    },
  }, async (req, reply) => reply.status(202).send(await svc.request(actorOf(req), req.params.tenant, req.body)));

  app.get(`${base}/:acmeId`, {
    schema: { tags, summary: 'One ACME certificate', params: AcmeParams, response: { 200: AcmeCertificateResponse, ...errorResponses(403, 404) } },
  }, async (req) => svc.get(actorOf(req), req.params.tenant, req.params.acmeId));

  app.post(`${base}/:acmeId/renew`, {
    schema: {
      tags,
      summary: 'Renew now, or retry a failed order now instead of after its backoff (tenant admin)',
      description:
        'For an issued certificate (renew early) or a failed order (retry now). Refused with SY_CONFLICT while an order is pending (already due) or validating (running), and with SY_ACME_RATE_LIMITED (and Retry-After) when the CA’s rate limits would be exceeded.',
      params: AcmeParams,
      response: { 202: AcmeCertificateResponse, ...errorResponses(403, 404, 409, 429, 503) },
    },
  }, async (req, reply) => reply.status(202).send(await svc.renewNow(actorOf(req), req.params.tenant, req.params.acmeId)));

  app.delete(`${base}/:acmeId`, {
    schema: {
      tags,
      summary: 'Stop ordering and renewing (tenant admin); an issued certificate stays attached until replaced',
      params: AcmeParams,
      response: { 204: Type.Null(), ...errorResponses(403, 404) },
    },
  }, async (req, reply) => {
    await svc.remove(actorOf(req), req.params.tenant, req.params.acmeId);
    return reply.status(204).send(null);
  });

  app.get('/api/v1/acme/metrics', {
    schema: {
      tags: ['proxies'],
      summary: 'ACME metrics in Prometheus text format (platform admin): certificates by state, soonest expiry, orders and failures by reason',
      produces: ['text/plain'],
      response: {
        200: Type.String({
          examples: ['# HELP switchyard_acme_certificates ACME certificates by state.\n# TYPE switchyard_acme_certificates gauge\nswitchyard_acme_certificates{state="issued"} 12\n'],
        }),
        ...errorResponses(403),
      },
    },
  }, async (req, reply) => {
    requirePlatformAdmin(actorOf(req));
    return reply.type('text/plain; version=0.0.4').send(await svc.metrics());
  });
}
