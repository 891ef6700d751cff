import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { DatabaseParams, errorResponses } from '../../lib/schemas.js';
import { ExternalAccessResponse, PutExternalAccessBody, WaitQuery } from './external-access.schemas.js';

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
        'With `?wait=true` the call returns once every live proxy applied the change, or when the bounded wait ends (`propagation.state` = `timeout`).',
      params: DatabaseParams,
      querystring: WaitQuery,
      body: PutExternalAccessBody,
      response: { 200: ExternalAccessResponse, ...errorResponses(403, 404, 409, 422) },
    },
  }, async (req) =>
    svc.put(actorOf(req), req.params.tenant, req.params.database, req.body, { wait: req.query.wait === true, timeoutMs: req.query.timeoutMs }),
  );
}
