import { Type } from 'typebox';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { DatabaseParams, errorResponses, TenantParams } from '../../lib/schemas.js';
import { CheckResponse, LiveConnectionsResponse, LiveQuery, TerminateParams, TerminateResponse } from './connections.schemas.js';

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

  app.get('/api/v1/tenants/:tenant/databases/:database/external-access/check', {
    schema: {
      tags,
      summary: 'Check connection: the platform connects to the route like a client and reports each step',
      description:
        'Dials the route’s public listener with its host name as SNI and performs the engine’s handshake (SSLRequest + TLS for PostgreSQL, TLS otherwise): `reach` the proxy, `tls` (the proxy routed the host name), `certificate` (subject, issuer, expiry, and whether it verifies with the CA the connect panel offers), `upstream` (PostgreSQL: the database’s first message after a StartupMessage with a placeholder user — no credentials); then, as their own steps, the route’s other ways in: `dedicated` (the same handshake through the route’s dedicated port, where the database itself answers the SSLRequest) when the route has one, and `endpoint` for PostgreSQL terminate-mode routes (TLS without SNI and `options=endpoint=<host name>`, as clients without SNI connect; optional, because it needs the proxy’s default certificate). Each step is timed; the first failing one is `failedStep`, explained in plain words using the reason the proxy recorded for the check’s own connection. Always 200 when the check ran; `ok` says whether it passed. Tenant members.',
      params: DatabaseParams,
      response: { 200: CheckResponse, ...errorResponses(404, 422) },
    },
  }, async (req) => svc.check(actorOf(req), req.params.tenant, req.params.database));

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
