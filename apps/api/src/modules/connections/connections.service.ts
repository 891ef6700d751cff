/**
 * Operations on connections the proxies hold right now: the live list (what each proxy
 * reported in its last heartbeat), terminating one, and the proxies themselves.
 *
 * Proxies report their newest open routed connections in their heartbeat row (written at
 * most every 300 ms while connections open and close, and every heartbeat interval). A
 * terminate order is a row in `control_orders` plus a NOTIFY on the control channel every
 * proxy LISTENs on, committed in the same transaction as its audit event; the proxy named in
 * it (its primary forwards the order to the worker holding the connection) closes both sides
 * and records the event with reason `terminated` and `endedBy`. A proxy whose LISTEN
 * connection was reconnecting at the commit misses the NOTIFY and reads the row once LISTEN
 * is back (apps/proxy/src/control/orders.ts).
 */
import { CONTROL_CHANNEL, ORDER_TTL_MS, type ListenerSpec, type OpenConnectionInfo, type TerminateOrder } from '@switchyard/core';
import { currentConfigVersion, type PrismaClient } from '@switchyard/db';
import { requirePlatformAdmin, requireTenantRole, type Actor } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import type { ExternalAccessService } from '../external-access/external-access.service.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import { summarize } from './check.js';
import { runCheck, runDedicatedCheck, runEndpointCheck } from './check-runner.js';
import type { CheckResponse, LiveConnection, LiveQuery, ProxyStatus } from './connections.schemas.js';

/** Stale proxies stay listed this long after their last heartbeat (then they are history). */
const STALE_LISTED_MS = 24 * 3600_000;
/** What each proxy reports at most (control/heartbeat.ts MAX_REPORTED_CONNECTIONS). */
const REPORT_CAP = 500;

/** One open connection as a proxy reports it (@switchyard/core OpenConnectionInfo). */
type ReportedConnection = OpenConnectionInfo;

function reported(v: unknown): ReportedConnection[] {
  if (!Array.isArray(v)) return [];
  return v.filter(
    (c): c is ReportedConnection =>
      typeof c === 'object' && c !== null && typeof c.id === 'string' && typeof c.tenantId === 'string' && typeof c.startedAt === 'number',
  );
}

/**
 * The event a proxy recorded for a Check connection's own connection: same source port, same
 * SNI (or none: dedicated ports and clients without SNI), started after the check, and of the
 * checking tenant or of no tenant (refused before routing). Another tenant's event is never
 * taken: a stranger's connection without SNI from the same port number (another machine, same
 * few seconds) used to be, and its reason and `upstream` (that tenant's database host:port)
 * were shown in this tenant's check. Proxies write events in batches (PROXY_AUDIT_FLUSH_MS,
 * 1 s by default), so this polls for up to `waitMs`.
 */
export async function findCheckEvent(
  prisma: Pick<PrismaClient, '$queryRaw'>,
  q: { tenantId: string; hostname: string; localPort: number; since: Date; waitMs?: number },
): Promise<{ reason: string; upstream: string | null } | null> {
  const deadline = Date.now() + (q.waitMs ?? 3000);
  for (;;) {
    const rows = await prisma.$queryRaw<Array<{ reason: string; upstream: string | null }>>`
      SELECT reason, upstream FROM connection_events
       WHERE (sni = ${q.hostname} OR sni IS NULL) AND client_port = ${q.localPort} AND started_at >= ${new Date(q.since.getTime() - 1000)}
         AND (tenant_id = ${q.tenantId}::uuid OR tenant_id IS NULL)
       ORDER BY started_at DESC, id DESC LIMIT 1`;
    if (rows[0]) return rows[0];
    if (Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, 150));
  }
}

export class ConnectionsService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly tenants: Pick<TenantsService, 'resolve'>,
    private readonly livenessMs: number,
    private readonly checkDeps: {
      externalAccess: Pick<ExternalAccessService, 'get'>;
      listeners: ListenerSpec[];
      check: { host: string | null; timeoutMs: number };
    },
  ) {}

  /** Where the API reaches a listener: SWITCHYARD_CHECK_HOST + public port, else its own address. */
  private dialAddress(l: ListenerSpec): { host: string; port: number } {
    const { check } = this.checkDeps;
    if (check.host) return { host: check.host, port: l.publicPort };
    const wildcard = l.host === '0.0.0.0' || l.host === '::' || l.host === '[::]' || l.host === '';
    return { host: wildcard ? '127.0.0.1' : l.host.replace(/^\[|\]$/g, ''), port: l.port };
  }

  /**
   * Check connection (tenant members): dials the route's listener like a client would and
   * reports each step (check.ts, check-runner.ts).
   */
  async check(actor: Actor, tenantSlug: string, dbName: string): Promise<CheckResponse> {
    const access = await this.checkDeps.externalAccess.get(actor, tenantSlug, dbName);
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'member');
    const listener = this.checkDeps.listeners.find((l) => l.name === access.listener);
    if (!listener) throw new AppError('SY_LISTENER_MISMATCH', `The route's listener ${access.listener} is not configured`);
    const { host, port } = this.dialAddress(listener);
    const database = await this.prisma.database.findFirst({ where: { name: dbName, tenant: { slug: tenantSlug } }, select: { engine: true, upstreamHost: true, upstreamPort: true, endpoints: true } });
    const engine = database?.engine ?? 'tls';
    // Named in explanations when the proxy reached no endpoint (its event has no upstream).
    const endpoints = Array.isArray(database?.endpoints) && database.endpoints.length > 0
      ? (database.endpoints as Array<{ host: string; port: number }>).map((e) => `${e.host}:${e.port}`).join(', ')
      : database ? `${database.upstreamHost}:${database.upstreamPort}` : null;
    const caSource = access.tlsMode !== 'terminate' ? 'database' : access.ca === null ? 'system' : access.ca.url ? 'platform' : 'route';
    let proxyReason: string | null = null;
    const outcome = await runCheck(
      {
        host,
        port,
        hostname: access.hostname,
        engine,
        listenerProtocol: listener.protocol,
        tlsMode: access.tlsMode,
        caPem: access.ca?.pem ?? null,
        caSource,
        timeoutMs: this.checkDeps.check.timeoutMs,
      },
      async (localPort, since) => {
        const found = await this.findCheckEvent(tenant.id, access.hostname, localPort, since);
        proxyReason = found?.reason ?? null;
        return found ? { reason: found.reason, upstream: found.upstream ?? endpoints } : null;
      },
    );
    // The other ways in, each its own step: the dedicated port (same host as the listener, or
    // SWITCHYARD_CHECK_HOST), and for terminate-mode PostgreSQL the endpoint option.
    const lookup = async (localPort: number, since: Date) => {
      const found = await this.findCheckEvent(tenant.id, access.hostname, localPort, since);
      return found ? { reason: found.reason, upstream: found.upstream ?? endpoints } : null;
    };
    const path = { hostname: access.hostname, engine, timeoutMs: this.checkDeps.check.timeoutMs };
    const extra = await Promise.all([
      access.dedicatedPort !== null ? runDedicatedCheck({ ...path, host, port: access.dedicatedPort }, lookup) : null,
      engine === 'postgres' && access.tlsMode === 'terminate' && listener.protocol === 'postgres' ? runEndpointCheck({ ...path, host, port }, lookup) : null,
    ]);
    for (const step of extra) if (step) outcome.steps.push(step);
    const summary = summarize(outcome.steps);
    return {
      ok: summary.ok,
      failedStep: summary.failedStep,
      summary: summary.message,
      hostname: access.hostname,
      listener: listener.name,
      address: `${host}:${port}`,
      tlsMode: access.tlsMode,
      enabled: access.enabled,
      checkedAt: outcome.startedAt.toISOString(),
      steps: outcome.steps,
      certificate: outcome.certificate,
      proxyReason,
    };
  }

  /** The event the proxy recorded for the check's own connection (findCheckEvent). */
  private findCheckEvent(tenantId: string, hostname: string, localPort: number, since: Date): Promise<{ reason: string; upstream: string | null } | null> {
    return findCheckEvent(this.prisma, { tenantId, hostname, localPort, since });
  }

  private liveRows() {
    return this.prisma.proxyInstance.findMany({
      where: { heartbeatAt: { gt: new Date(Date.now() - this.livenessMs) } },
      select: { id: true, heartbeatAt: true, connections: true },
      orderBy: { id: 'asc' },
    });
  }

  /** Open routed connections, newest first: a tenant's (members), or every tenant's (platform admins). */
  async live(actor: Actor, tenantSlug: string | null, q: LiveQuery): Promise<{ items: LiveConnection[]; reportedAt: string | null; truncated: boolean }> {
    let tenantId: string | null = null;
    if (tenantSlug) tenantId = (await this.tenants.resolve(actor, tenantSlug, 'member')).id;
    else {
      requirePlatformAdmin(actor);
      if (q.tenant) tenantId = (await this.tenants.resolve(actor, q.tenant, 'member')).id;
    }
    const rows = await this.liveRows();
    const now = Date.now();
    let conns = rows.flatMap((r) => reported(r.connections).map((c) => ({ proxyId: r.id, c })));
    if (tenantId) conns = conns.filter((x) => x.c.tenantId === tenantId);
    const [tenants, databases] = await Promise.all([
      this.prisma.tenant.findMany({ where: { id: { in: [...new Set(conns.map((x) => x.c.tenantId))] } }, select: { id: true, slug: true } }),
      this.prisma.database.findMany({ where: { id: { in: [...new Set(conns.map((x) => x.c.databaseId))] } }, select: { id: true, name: true } }),
    ]);
    const slug = new Map(tenants.map((t) => [t.id, t.slug]));
    const dbName = new Map(databases.map((d) => [d.id, d.name]));
    const items = conns
      .filter((x) => slug.has(x.c.tenantId) && (!q.database || dbName.get(x.c.databaseId) === q.database))
      .sort((a, b) => b.c.startedAt - a.c.startedAt)
      .map(({ proxyId, c }) => ({
        proxyId,
        id: c.id,
        listener: c.listener,
        tenant: slug.get(c.tenantId)!,
        database: dbName.get(c.databaseId) ?? null,
        routeId: c.routeId,
        clientAddress: c.clientAddress,
        clientPort: c.clientPort,
        sni: c.sni,
        mode: c.mode,
        startedAt: new Date(c.startedAt).toISOString(),
        durationMs: Math.max(0, now - c.startedAt),
        bytesIn: c.bytesIn,
        bytesOut: c.bytesOut,
      }));
    const oldest = rows.reduce<Date | null>((m, r) => (m === null || r.heartbeatAt < m ? r.heartbeatAt : m), null);
    return { items, reportedAt: oldest?.toISOString() ?? null, truncated: rows.some((r) => reported(r.connections).length >= REPORT_CAP) };
  }

  /** How the connection event names whoever ended it. */
  private async actorLabel(actor: Actor): Promise<string> {
    const p = actor.principal;
    if (p.actorType === 'admin-token') return 'admin-token';
    if (p.actorType === 'user') {
      const u = await this.prisma.user.findUnique({ where: { id: p.actorId }, select: { email: true } });
      return `user:${u?.email ?? p.actorId}`;
    }
    const t = await this.prisma.apiToken.findUnique({ where: { id: p.actorId }, select: { name: true } });
    return `token:${t?.name ?? p.actorId}`;
  }

  /**
   * Orders the proxy holding a connection to close it. Platform admins, and admins of the
   * connection's tenant; anyone else is told there is no such connection.
   */
  async terminate(actor: Actor, proxyId: string, connectionId: string) {
    const row = await this.prisma.proxyInstance.findFirst({
      where: { id: proxyId, heartbeatAt: { gt: new Date(Date.now() - this.livenessMs) } },
      select: { connections: true, startedAt: true },
    });
    const conn = row ? reported(row.connections).find((c) => c.id === connectionId) : undefined;
    if (!conn) throw new AppError('SY_CONNECTION_NOT_FOUND');
    try {
      requireTenantRole(actor, conn.tenantId, 'admin');
    } catch (err) {
      // Members see the connection in the live list; outsiders must not learn it exists.
      if (err instanceof AppError && err.code === 'SY_FORBIDDEN') throw err;
      throw new AppError('SY_CONNECTION_NOT_FOUND');
    }
    const tenant = await this.prisma.tenant.findUnique({ where: { id: conn.tenantId }, select: { slug: true } });
    if (!tenant) throw new AppError('SY_CONNECTION_NOT_FOUND');
    const by = await this.actorLabel(actor);
    const requestedAt = new Date();
    await this.prisma.$transaction(async (tx) => {
      // Kept for proxies that miss the NOTIFY; expired ones are pruned here, on the next write.
      await tx.controlOrder.deleteMany({ where: { expiresAt: { lt: new Date(requestedAt.getTime() - ORDER_TTL_MS) } } });
      const order_ = await tx.controlOrder.create({
        data: { proxyId, proxyStartedAt: row!.startedAt, op: 'terminate', connectionId, endedBy: by, expiresAt: new Date(requestedAt.getTime() + ORDER_TTL_MS) },
        select: { id: true },
      });
      const order: TerminateOrder = { op: 'terminate', proxyId, connectionId, by, orderId: order_.id.toString(), proxyStartedAt: row!.startedAt.getTime() };
      await recordAudit(tx, actor, {
        tenantId: conn.tenantId,
        action: 'connection.terminate',
        targetType: 'connection',
        targetId: `${proxyId}/${connectionId}`,
        changes: {
          state: { from: 'open', to: 'terminated' },
          routeId: conn.routeId,
          sni: conn.sni,
          clientAddress: conn.clientAddress,
          startedAt: new Date(conn.startedAt).toISOString(),
        },
      });
      // Delivered on commit, with the audit event and the order's row.
      await tx.$executeRaw`SELECT pg_notify(${CONTROL_CHANNEL}, ${JSON.stringify(order)})`;
    });
    return { proxyId, connectionId, tenant: tenant.slug, endedBy: by, requestedAt: requestedAt.toISOString() };
  }

  /**
   * Every proxy that heartbeated within a day; those past PROXY_LIVENESS_MS are marked stale.
   * Platform admins only: host names and every tenant's route and connection counts. Tenants
   * see propagation on their own changes (the `propagation` of each route change).
   */
  async proxies(actor: Actor): Promise<{ currentVersion: number; livenessMs: number; items: ProxyStatus[] }> {
    requirePlatformAdmin(actor);
    const now = Date.now();
    const [currentVersion, rows] = await Promise.all([
      currentConfigVersion(this.prisma),
      this.prisma.proxyInstance.findMany({ where: { heartbeatAt: { gt: new Date(now - STALE_LISTED_MS) } }, orderBy: { id: 'asc' } }),
    ]);
    return {
      currentVersion,
      livenessMs: this.livenessMs,
      items: rows.map((p) => {
        const stats = (p.stats ?? {}) as Record<string, number>;
        const applied = Number(p.appliedVersion);
        const age = now - p.heartbeatAt.getTime();
        return {
          id: p.id,
          hostname: p.hostname,
          version: p.version,
          appliedVersion: applied,
          lag: Math.max(0, currentVersion - applied),
          upToDate: applied >= currentVersion,
          stale: age > this.livenessMs,
          heartbeatAt: p.heartbeatAt.toISOString(),
          heartbeatAgeMs: Math.max(0, age),
          startedAt: p.startedAt.toISOString(),
          appliedAt: p.appliedAt?.toISOString() ?? null,
          workers: stats.workers ?? 1,
          openConnections: stats.openConnections ?? 0,
          routes: stats.routes ?? 0,
          eventsDropped: stats.auditDropped ?? 0,
          eventsPending: stats.auditPending ?? 0,
          listeners: p.listeners as Array<{ name: string; protocol: string; port: number }>,
          stats,
        };
      }),
    };
  }
}
