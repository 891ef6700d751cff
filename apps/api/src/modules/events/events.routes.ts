import type { FastifyReply } from 'fastify';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses, TenantParams } from '../../lib/schemas.js';
import {
  AuditEventsPage,
  AuditEventsQuery,
  ConnectionEventsPage,
  ConnectionEventsQuery,
  PlatformAuditEventsQuery,
  PlatformConnectionEventsQuery,
  PlatformStatsQuery,
  StatsQuery,
  StatsResponse,
} from './events.schemas.js';
import type { Page } from '../../lib/pagination.js';
import type { CsvExport } from './events.service.js';

function send<T>(reply: FastifyReply, result: Page<T> | CsvExport) {
  if ('csv' in result) {
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${result.filename}"`)
      .send(result.csv);
  }
  return result;
}

const csvNote = ' With `format=csv` the response is `text/csv` with every matching row (streamed, no pagination).';

export async function eventsRoutes(app: App): Promise<void> {
  const svc = app.services.events;

  app.get('/api/v1/tenants/:tenant/connection-events', {
    schema: {
      tags: ['audit'],
      summary: 'Connections through the proxies to the tenant’s databases',
      description: 'Newest first, keyset-paginated (`nextCursor`). Default range: the last 24 h; at most 93 days.' + csvNote,
      params: TenantParams,
      querystring: ConnectionEventsQuery,
      response: { 200: ConnectionEventsPage, ...errorResponses(404) },
    },
  }, async (req, reply) => send(reply, await svc.connections(actorOf(req), req.params.tenant, req.query)));

  app.get('/api/v1/tenants/:tenant/connection-events/stats', {
    schema: {
      tags: ['audit'],
      summary: 'Connections, bytes and failures by reason per interval (for charts)',
      description: 'Same filters as the list. Buckets are aligned to whole intervals (UTC) and include empty ones; at most 2000 buckets. Also the top 10 client addresses.',
      params: TenantParams,
      querystring: StatsQuery,
      response: { 200: StatsResponse, ...errorResponses(404) },
    },
  }, async (req) => svc.stats(actorOf(req), req.params.tenant, req.query));

  app.get('/api/v1/tenants/:tenant/audit-events', {
    schema: {
      tags: ['audit'],
      summary: 'The tenant’s audit trail (tenant admin)',
      description: 'Every change made through the API, newest first. Default range: the last 30 days.' + csvNote,
      params: TenantParams,
      querystring: AuditEventsQuery,
      response: { 200: AuditEventsPage, ...errorResponses(403, 404) },
    },
  }, async (req, reply) => send(reply, await svc.audit(actorOf(req), req.params.tenant, req.query)));

  app.get('/api/v1/connection-events', {
    schema: {
      tags: ['audit'],
      summary: 'All connection events, including unrouted ones (platform admin)',
      querystring: PlatformConnectionEventsQuery,
      response: { 200: ConnectionEventsPage, ...errorResponses(403, 404) },
    },
  }, async (req, reply) => send(reply, await svc.platformConnections(actorOf(req), req.query)));

  app.get('/api/v1/connection-events/stats', {
    schema: {
      tags: ['audit'],
      summary: 'Stats over all connection events, including unrouted ones (platform admin)',
      description: 'As the tenant stats, across tenants unless `tenant` is given.',
      querystring: PlatformStatsQuery,
      response: { 200: StatsResponse, ...errorResponses(403, 404) },
    },
  }, async (req) => svc.platformStats(actorOf(req), req.query));

  app.get('/api/v1/audit-events', {
    schema: {
      tags: ['audit'],
      summary: 'The whole audit trail (platform admin)',
      querystring: PlatformAuditEventsQuery,
      response: { 200: AuditEventsPage, ...errorResponses(403, 404) },
    },
  }, async (req, reply) => send(reply, await svc.platformAudit(actorOf(req), req.query)));
}
