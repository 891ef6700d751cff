import { Type } from 'typebox';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses, TenantParams } from '../../lib/schemas.js';
import { LiveConnectionsResponse, LiveQuery, TerminateParams, TerminateResponse } from './connections.schemas.js';

const liveDescription =
  'Routed connections open right now, newest first, as each live proxy reported them in its last heartbeat (at most about a second old; byte counts as of that report; 500 per proxy). Poll it, together with `connection-events` for rows newer than the first one shown, for a live view.';

export async function connectionsRoutes(app: App): Promise<void> {
  const svc = app.services.connections;
  const tags = ['connections'];

  app.get('/api/v1/tenants/:tenant/connections/live', {
    schema: {
      tags,
      summary: 'Open connections to the tenant’s databases',
      description: liveDescription,
      params: TenantParams,
      querystring: Type.Omit(LiveQuery, ['tenant'], { additionalProperties: false }),
      response: { 200: LiveConnectionsResponse, ...errorResponses(404) },
    },
  }, async (req) => svc.live(actorOf(req), req.params.tenant, req.query));

  app.get('/api/v1/connections/live', {
    schema: {
      tags,
      summary: 'Open connections of every tenant (platform admin)',
      description: liveDescription,
      querystring: LiveQuery,
      response: { 200: LiveConnectionsResponse, ...errorResponses(403, 404) },
    },
  }, async (req) => svc.live(actorOf(req), null, req.query));

  app.delete('/api/v1/proxies/:proxyId/connections/:connectionId', {
    schema: {
      tags,
      summary: 'Terminate an open connection (platform admin, or admin of the connection’s tenant)',
      description:
        'Sends the order to the proxy holding the connection (its primary hands it to the worker), which closes both sides at once; the connection event records reason `terminated` and `endedBy`, and the audit trail `connection.terminate`. 202: the order is committed; the connection disappears from the live list within about a second. A connection of a tenant the caller cannot administer is reported as not found.',
      params: TerminateParams,
      response: { 202: TerminateResponse, ...errorResponses(403, 404) },
    },
  }, async (req, reply) => reply.status(202).send(await svc.terminate(actorOf(req), req.params.proxyId, req.params.connectionId)));
}
