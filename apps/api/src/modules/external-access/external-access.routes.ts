import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { DatabaseParams, errorResponses, TenantParams } from '../../lib/schemas.js';
import { BatchExternalAccessBody, BatchExternalAccessResponse, ExternalAccessResponse, PutExternalAccessBody, WaitQuery } from './external-access.schemas.js';

export async function externalAccessRoutes(app: App): Promise<void> {
  const svc = app.services.externalAccess;
  const tags = ['external access'];
  const path = '/api/v1/tenants/:tenant/databases/:database/external-access';

  app.get(path, {
    schema: { tags, summary: 'External access of a database, with propagation state', params: DatabaseParams, response: { 200: ExternalAccessResponse, ...errorResponses(404) } },
  }, async (req) => svc.get(actorOf(req), req.params.tenant, req.params.database));

  app.put(path, {
    schema: {
      tags,
      summary: 'Enable or disable external access (tenant admin)',
      description:
        'Commits the route and a config-version bump in one transaction and notifies the proxies. ' +
        'With `?wait=true` the call returns once every live proxy applied the change, or when the bounded wait ends (`propagation.state` = `timeout`). ' +
        'With `acme` (terminate mode) the same transaction records an ACME certificate request (`acme.state` = `pending`); ' +
        'the platform-CA certificate is served until it is issued. Its refusals (SY_ACME_*, 429 with Retry-After for rate limits) name `body.acme`.',
      params: DatabaseParams,
      querystring: WaitQuery,
      body: PutExternalAccessBody,
      response: { 200: ExternalAccessResponse, ...errorResponses(403, 404, 409, 422, 429, 503) },
    },
  }, async (req) =>
    svc.put(actorOf(req), req.params.tenant, req.params.database, req.body, { wait: req.query.wait === true, timeoutMs: req.query.timeoutMs }),
  );

  app.post('/api/v1/tenants/:tenant/external-access/batch', {
    schema: {
      tags,
      summary: 'Enable, disable or change several databases’ external access at once (tenant admin)',
      description:
        'Up to 500 databases of the tenant in one request and one transaction: each item is checked as `PUT …/databases/:database/external-access` checks it ' +
        '(permissions, Kubernetes ownership, host name and listener policy) and gets its own audit event; every changed route gets its own consecutive config version, ' +
        'and the proxies are notified once. All or nothing: if any item fails nothing is written, and the error lists every failing item’s fields as ' +
        '`details[].field` = `body.items.<index>.<field>` (the status and `code` are those of the first failing item). ' +
        'With `?wait=true` the call returns once every live proxy applied the batch’s last version (bounded).',
      params: TenantParams,
      querystring: WaitQuery,
      body: BatchExternalAccessBody,
      response: { 200: BatchExternalAccessResponse, ...errorResponses(403, 404, 409, 422) },
    },
  }, async (req) => svc.putBatch(actorOf(req), req.params.tenant, req.body.items, { wait: req.query.wait === true, timeoutMs: req.query.timeoutMs }));
}
