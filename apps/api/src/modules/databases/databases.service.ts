/**
 * Databases a tenant exposes. Upstreams are checked against the tenant's policy on every
 * write; changing or deleting a database with a route propagates to the proxies.
 */
import { listenerServes, type BalancePolicy, type Endpoint, type Engine, type HealthCheck } from '@switchyard/core';
import { Prisma, recordRouteChange, type Certificate, type Database, type PrismaClient, type Route, type Tenant } from '@switchyard/db';
import type { Actor } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { assertMayChange, ownerColumns, ownerOf } from '../../lib/ownership.js';
import { releaseAcmeCertificates } from '../acme/acme.lifecycle.js';
import { diff, recordAudit } from '../audit/audit.service.js';
import type { ExternalAccessService } from '../external-access/external-access.service.js';
import { requireRoom } from '../tenants/tenant-limits.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import type { CreateDatabaseBody, DatabaseResponse, UpdateDatabaseBody } from './databases.schemas.js';
import { mergeKeys, tenantsHolding } from './upstream-namespaces.js';
import { checkUpstream, namespaceKeys, type UpstreamPlatform } from './upstream-policy.js';
import { requireUpstreamPolicyUnchanged } from './upstream-policy-holds.js';

export interface DatabasesDeps {
  prisma: PrismaClient;
  tenants: Pick<TenantsService, 'resolve'>;
  access: Pick<ExternalAccessService, 'describe' | 'defaultListener' | 'listenerKind'>;
  controlDatabase: { host: string; port: number };
  /** Loopback upstreams (development and tests only). */
  allowLoopbackUpstreams?: boolean;
  /** A proxy whose last heartbeat is older than this is stale: its reported connections do not count. */
  proxyLivenessMs: number;
}

type Upstreams = { endpoints: Endpoint[]; balance: BalancePolicy; healthCheck: HealthCheck | null };

function endpointsOf(db: Database): Endpoint[] {
  const list = Array.isArray(db.endpoints) ? (db.endpoints as unknown as Endpoint[]) : [];
  return list.length > 0 ? list : [{ host: db.upstreamHost, port: db.upstreamPort }];
}

export class DatabasesService {
  constructor(private readonly deps: DatabasesDeps) {}

  /**
   * Open connections per database of one tenant, summed over the reports of live proxies
   * (each proxy's heartbeat row holds its newest open routed connections, OpenConnectionInfo
   * in @switchyard/core). Only reports naming this tenant count, whatever database id they
   * carry. One query over the few proxy rows; the JSON is never sent to the API.
   */
  private async openConnections(tenant: Tenant): Promise<Map<string, number>> {
    const since = new Date(Date.now() - this.deps.proxyLivenessMs);
    const rows = await this.deps.prisma.$queryRaw<Array<{ database_id: string; n: number }>>`
      SELECT c->>'databaseId' AS database_id, count(*)::int AS n
        FROM proxy_instances p
       CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.connections) = 'array' THEN p.connections ELSE '[]'::jsonb END) AS c
       WHERE p.heartbeat_at > ${since} AND c->>'tenantId' = ${tenant.id}
       GROUP BY 1`;
    return new Map(rows.map((r) => [r.database_id, r.n]));
  }

  private async view(tenant: Tenant, db: Database & { route: (Route & { certificate: Certificate | null }) | null }, openConnections: number): Promise<DatabaseResponse> {
    return {
      id: db.id,
      tenant: tenant.slug,
      name: db.name,
      engine: db.engine as Engine,
      upstream: { host: db.upstreamHost, port: db.upstreamPort },
      endpoints: endpointsOf(db),
      balance: db.balancePolicy as BalancePolicy,
      healthCheck: (db.healthCheck as HealthCheck | null) ?? null,
      externalAccess: await this.deps.access.describe(tenant, db, db.route),
      openConnections,
      owner: ownerOf(db),
      createdAt: db.createdAt.toISOString(),
      updatedAt: db.updatedAt.toISOString(),
    };
  }

  /**
   * Every endpoint checked against the tenant's policy and the platform's rules (no open
   * proxy); returns them normalised. `field` names the body field in errors. Of the other
   * tenants, only those whose namespace could take one of these hosts are read (an index
   * lookup, none at all for a host directly under the tenant's own most specific grant;
   * upstream-namespaces.ts). `db`: the transaction when re-checked inside one.
   */
  private async allowedEndpoints(
    tenant: Tenant,
    endpoints: Endpoint[],
    field: 'body.upstream' | 'body.endpoints',
    db: Pick<Prisma.TransactionClient, '$queryRaw'> = this.deps.prisma,
  ): Promise<Endpoint[]> {
    const policy = { hostSuffixes: tenant.allowedUpstreamSuffixes, cidrs: tenant.allowedUpstreamCidrs };
    const others = await tenantsHolding(db, tenant.id, mergeKeys(endpoints.map((e) => namespaceKeys(e.host, policy))));
    const platform: UpstreamPlatform = { allowLoopback: this.deps.allowLoopbackUpstreams ?? false, otherTenants: others };
    const out: Endpoint[] = [];
    for (const [i, e] of endpoints.entries()) {
      const v = checkUpstream(e.host, e.port, policy, this.deps.controlDatabase, platform);
      const where = field === 'body.upstream' ? 'body.upstream.host' : `body.endpoints.${i}.host`;
      if (!v.ok) throw new AppError('SY_UPSTREAM_NOT_ALLOWED', `Upstream refused: ${v.reason}`, [{ field: where, message: v.reason }]);
      if (out.some((o) => o.host === v.host && o.port === e.port)) {
        throw new AppError('SY_VALIDATION', `${where} repeats ${v.host}:${e.port}`, [{ field: where, message: 'is listed twice' }]);
      }
      out.push({ host: v.host, port: e.port });
    }
    return out;
  }

  /**
   * A registration from a discovered Kubernetes service: the upstream is the Service's cluster
   * name and port (or its ready endpoints), as the controller last saw them. Still checked
   * against the tenant's policy like any other upstream.
   */
  private async fromDiscovered(tenant: Tenant, body: CreateDatabaseBody): Promise<{ list: Endpoint[]; field: 'body.upstream' | 'body.endpoints' } | null> {
    const ref = body.discoveredService;
    if (!ref) return null;
    if (body.upstream || body.endpoints) {
      throw new AppError('SY_VALIDATION', 'Give discoveredService or upstream/endpoints, not both', [{ field: 'body.discoveredService', message: 'conflicts with body.upstream / body.endpoints' }]);
    }
    const svc = await this.deps.prisma.discoveredService.findUnique({ where: { tenantId_namespace_name: { tenantId: tenant.id, namespace: ref.namespace, name: ref.name } } });
    if (!svc) throw new AppError('SY_DISCOVERED_SERVICE_NOT_FOUND', undefined, [{ field: 'body.discoveredService', message: `${ref.namespace}/${ref.name} was not discovered in the tenant’s namespaces` }]);
    const ready = (svc.readyEndpoints as unknown as Endpoint[]) ?? [];
    if (ref.endpoints) {
      if (ready.length === 0) throw new AppError('SY_VALIDATION', `${ref.namespace}/${ref.name} has no ready endpoints`, [{ field: 'body.discoveredService.endpoints', message: 'no ready endpoints' }]);
      return { list: ready.slice(0, 16), field: 'body.endpoints' };
    }
    return { list: [{ host: svc.host, port: svc.port }], field: 'body.upstream' };
  }

  /** The endpoint list a create/update body asks for (exactly one of upstream / endpoints). */
  private requested(body: { upstream?: Endpoint; endpoints?: Endpoint[] }, required: boolean): { list: Endpoint[]; field: 'body.upstream' | 'body.endpoints' } | null {
    if (body.upstream && body.endpoints) {
      throw new AppError('SY_VALIDATION', 'Give upstream or endpoints, not both', [{ field: 'body.endpoints', message: 'conflicts with body.upstream' }]);
    }
    if (body.endpoints) return { list: body.endpoints, field: 'body.endpoints' };
    if (body.upstream) return { list: [body.upstream], field: 'body.upstream' };
    if (required) throw new AppError('SY_VALIDATION', 'body.upstream is required (or body.endpoints)', [{ field: 'body.upstream', message: 'is required' }]);
    return null;
  }

  private upstreamData(u: Upstreams) {
    return {
      upstreamHost: u.endpoints[0]!.host,
      upstreamPort: u.endpoints[0]!.port,
      endpoints: u.endpoints.map((e) => ({ host: e.host, port: e.port })),
      balancePolicy: u.balance,
      healthCheck: u.healthCheck ? { ...u.healthCheck } : Prisma.DbNull,
    };
  }

  async create(actor: Actor, tenantSlug: string, body: CreateDatabaseBody): Promise<DatabaseResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const req = (await this.fromDiscovered(tenant, body)) ?? this.requested(body, true)!;
    const endpoints = await this.allowedEndpoints(tenant, req.list, req.field);
    const upstreams: Upstreams = { endpoints, balance: body.balance ?? 'round-robin', healthCheck: body.healthCheck ?? null };
    this.deps.access.defaultListener(body.engine); // fails early if no listener serves the engine
    try {
      const db = await this.deps.prisma.$transaction(async (tx) => {
        // The tenant's quota, checked in this transaction (docs/accounts.md "Limits").
        await requireRoom(tx, tenant.id, 'maxDatabases', 'body.name');
        await requireUpstreamPolicyUnchanged(tx, tenant); // the policy the upstreams were checked against
        // Other tenants' namespaces again, now that the tenant row is share-locked: a policy
        // change giving another tenant a slice of this tenant's namespace locks this row
        // first (upstream-policy-holds.ts), so either it sees this database or this sees it.
        await this.allowedEndpoints(tenant, endpoints, req.field, tx);
        const d = await tx.database.create({
          data: {
            tenantId: tenant.id,
            name: body.name,
            engine: body.engine,
            ...this.upstreamData(upstreams),
            ...ownerColumns(actor.owner),
          },
        });
        await recordAudit(tx, actor, {
          tenantId: tenant.id,
          action: 'database.create',
          targetType: 'database',
          targetId: d.id,
          changes: diff(null, { name: d.name, engine: d.engine, ...summary(upstreams) }),
        });
        return d;
      });
      return this.view(tenant, { ...db, route: null }, 0);
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw new AppError('SY_DATABASE_EXISTS');
      throw err;
    }
  }

  async list(actor: Actor, tenantSlug: string): Promise<DatabaseResponse[]> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'member');
    const [rows, open] = await Promise.all([
      this.deps.prisma.database.findMany({ where: { tenantId: tenant.id }, include: { route: { include: { certificate: true } } }, orderBy: { name: 'asc' } }),
      this.openConnections(tenant),
    ]);
    return Promise.all(rows.map((d) => this.view(tenant, d, open.get(d.id) ?? 0)));
  }

  private async find(tenant: Tenant, name: string) {
    const db = await this.deps.prisma.database.findUnique({ where: { tenantId_name: { tenantId: tenant.id, name } }, include: { route: { include: { certificate: true } } } });
    if (!db) throw new AppError('SY_DATABASE_NOT_FOUND');
    return db;
  }

  async get(actor: Actor, tenantSlug: string, name: string): Promise<DatabaseResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'member');
    const [db, open] = await Promise.all([this.find(tenant, name), this.openConnections(tenant)]);
    return this.view(tenant, db, open.get(db.id) ?? 0);
  }

  async update(actor: Actor, tenantSlug: string, name: string, body: UpdateDatabaseBody): Promise<DatabaseResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const before = await this.find(tenant, name);
    assertMayChange(actor, before, `Database ${before.name}`);
    const current: Upstreams = {
      endpoints: endpointsOf(before),
      balance: before.balancePolicy as BalancePolicy,
      healthCheck: (before.healthCheck as HealthCheck | null) ?? null,
    };
    const req = this.requested(body, false);
    const next: Upstreams = {
      endpoints: req ? await this.allowedEndpoints(tenant, req.list, req.field) : current.endpoints,
      balance: body.balance ?? current.balance,
      healthCheck: body.healthCheck === undefined ? current.healthCheck : body.healthCheck,
    };
    const engine = body.engine ?? (before.engine as Engine);
    if (engine !== before.engine) {
      // The route's listener must still be able to sniff the new engine's first bytes.
      const kind = before.route ? this.deps.access.listenerKind(before.route.listener) : null;
      if (before.route && (!kind || !listenerServes(kind, engine))) {
        throw new AppError('SY_LISTENER_MISMATCH', `The route's listener ${before.route.listener} cannot serve ${engine} databases; disable and re-create external access`, [
          { field: 'body.engine', message: 'does not match the route’s listener' },
        ]);
      }
      if (!before.route) this.deps.access.defaultListener(engine);
    }
    const updated = await this.deps.prisma.$transaction(async (tx) => {
      if (req) {
        await requireUpstreamPolicyUnchanged(tx, tenant); // the policy the upstreams were checked against
        await this.allowedEndpoints(tenant, next.endpoints, req.field, tx); // other tenants' namespaces again, row share-locked (as in create)
      }
      const d = await tx.database.update({
        where: { id: before.id },
        data: { engine, ...this.upstreamData(next) },
        include: { route: { include: { certificate: true } } },
      });
      await recordAudit(tx, actor, {
        tenantId: tenant.id,
        action: 'database.update',
        targetType: 'database',
        targetId: d.id,
        changes: diff({ engine: before.engine, ...summary(current) }, { engine, ...summary(next) }),
      });
      // Last statement: the version bump holds the config lock until COMMIT.
      if (d.route) {
        const v = await recordRouteChange(tx, { routeId: d.route.id, hostname: d.route.hostname, op: 'upsert' });
        d.route.version = BigInt(v);
      }
      return d;
    });
    return this.view(tenant, updated, (await this.openConnections(tenant)).get(updated.id) ?? 0);
  }

  async delete(actor: Actor, tenantSlug: string, name: string): Promise<void> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const db = await this.find(tenant, name);
    assertMayChange(actor, db, `Database ${db.name}`);
    await this.deps.prisma.$transaction(async (tx) => {
      if (db.route) await tx.route.delete({ where: { id: db.route.id } });
      await tx.database.delete({ where: { id: db.id } });
      await recordAudit(tx, actor, { tenantId: tenant.id, action: 'database.delete', targetType: 'database', targetId: db.id, changes: { name: { from: db.name, to: null } } });
      // The route's ACME certificate goes with it (acme.lifecycle.ts).
      if (db.route) await releaseAcmeCertificates(tx, actor, [{ hostname: db.route.hostname, reason: 'database-deleted' }]);
      // Last statement: the version bump holds the config lock until COMMIT.
      if (db.route) await recordRouteChange(tx, { routeId: db.route.id, hostname: db.route.hostname, op: 'delete' });
    });
  }
}

/** What the audit trail records about a database's upstreams. */
function summary(u: Upstreams): Record<string, unknown> {
  return {
    upstream: u.endpoints.map((e) => `${e.host}:${e.port}`).join(','),
    balance: u.balance,
    healthCheck: u.healthCheck ? `${u.healthCheck.type} every ${u.healthCheck.intervalMs} ms, rise ${u.healthCheck.rise}, fall ${u.healthCheck.fall}` : null,
  };
}
