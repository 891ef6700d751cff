/**
 * Databases a tenant exposes. Upstreams are checked against the tenant's policy on every
 * write; changing or deleting a database with a route propagates to the proxies.
 */
import type { Engine } from '@switchyard/core';
import { Prisma, recordRouteChange, type Certificate, type Database, type PrismaClient, type Route, type Tenant } from '@switchyard/db';
import type { Actor } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { diff, recordAudit } from '../audit/audit.service.js';
import type { ExternalAccessService } from '../external-access/external-access.service.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import type { CreateDatabaseBody, DatabaseResponse, UpdateDatabaseBody } from './databases.schemas.js';
import { checkUpstream } from './upstream-policy.js';

export interface DatabasesDeps {
  prisma: PrismaClient;
  tenants: Pick<TenantsService, 'resolve'>;
  access: Pick<ExternalAccessService, 'describe' | 'defaultListener'>;
  controlDatabase: { host: string; port: number };
}

export class DatabasesService {
  constructor(private readonly deps: DatabasesDeps) {}

  private async view(tenant: Tenant, db: Database & { route: (Route & { certificate: Certificate | null }) | null }): Promise<DatabaseResponse> {
    return {
      id: db.id,
      tenant: tenant.slug,
      name: db.name,
      engine: db.engine as Engine,
      upstream: { host: db.upstreamHost, port: db.upstreamPort },
      externalAccess: await this.deps.access.describe(tenant, db, db.route),
      createdAt: db.createdAt.toISOString(),
      updatedAt: db.updatedAt.toISOString(),
    };
  }

  private allowedUpstream(tenant: Tenant, upstream: { host: string; port: number }): string {
    const v = checkUpstream(upstream.host, upstream.port, { hostSuffixes: tenant.allowedUpstreamSuffixes, cidrs: tenant.allowedUpstreamCidrs }, this.deps.controlDatabase);
    if (!v.ok) {
      throw new AppError('SY_UPSTREAM_NOT_ALLOWED', `Upstream refused: ${v.reason}`, [{ field: 'body.upstream.host', message: v.reason }]);
    }
    return v.host;
  }

  async create(actor: Actor, tenantSlug: string, body: CreateDatabaseBody): Promise<DatabaseResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const host = this.allowedUpstream(tenant, body.upstream);
    this.deps.access.defaultListener(body.engine); // fails early if no listener serves the engine
    try {
      const db = await this.deps.prisma.$transaction(async (tx) => {
        const d = await tx.database.create({
          data: {
            tenantId: tenant.id,
            name: body.name,
            engine: body.engine,
            upstreamHost: host,
            upstreamPort: body.upstream.port,
            endpoints: [{ host, port: body.upstream.port }],
          },
        });
        await recordAudit(tx, actor, {
          tenantId: tenant.id,
          action: 'database.create',
          targetType: 'database',
          targetId: d.id,
          changes: diff(null, { name: d.name, engine: d.engine, upstream: `${host}:${body.upstream.port}` }),
        });
        return d;
      });
      return this.view(tenant, { ...db, route: null });
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw new AppError('SY_DATABASE_EXISTS');
      throw err;
    }
  }

  async list(actor: Actor, tenantSlug: string): Promise<DatabaseResponse[]> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'member');
    const rows = await this.deps.prisma.database.findMany({ where: { tenantId: tenant.id }, include: { route: { include: { certificate: true } } }, orderBy: { name: 'asc' } });
    return Promise.all(rows.map((d) => this.view(tenant, d)));
  }

  private async find(tenant: Tenant, name: string) {
    const db = await this.deps.prisma.database.findUnique({ where: { tenantId_name: { tenantId: tenant.id, name } }, include: { route: { include: { certificate: true } } } });
    if (!db) throw new AppError('SY_DATABASE_NOT_FOUND');
    return db;
  }

  async get(actor: Actor, tenantSlug: string, name: string): Promise<DatabaseResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'member');
    return this.view(tenant, await this.find(tenant, name));
  }

  async update(actor: Actor, tenantSlug: string, name: string, body: UpdateDatabaseBody): Promise<DatabaseResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const before = await this.find(tenant, name);
    const host = this.allowedUpstream(tenant, body.upstream);
    const updated = await this.deps.prisma.$transaction(async (tx) => {
      const d = await tx.database.update({
        where: { id: before.id },
        data: { upstreamHost: host, upstreamPort: body.upstream.port, endpoints: [{ host, port: body.upstream.port }] },
        include: { route: { include: { certificate: true } } },
      });
      if (d.route) {
        const v = await recordRouteChange(tx, { routeId: d.route.id, hostname: d.route.hostname, op: 'upsert' });
        d.route.version = BigInt(v);
      }
      await recordAudit(tx, actor, {
        tenantId: tenant.id,
        action: 'database.update',
        targetType: 'database',
        targetId: d.id,
        changes: diff({ upstream: `${before.upstreamHost}:${before.upstreamPort}` }, { upstream: `${host}:${body.upstream.port}` }),
      });
      return d;
    });
    return this.view(tenant, updated);
  }

  async delete(actor: Actor, tenantSlug: string, name: string): Promise<void> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const db = await this.find(tenant, name);
    await this.deps.prisma.$transaction(async (tx) => {
      if (db.route) {
        await tx.route.delete({ where: { id: db.route.id } });
        await recordRouteChange(tx, { routeId: db.route.id, hostname: db.route.hostname, op: 'delete' });
      }
      await tx.database.delete({ where: { id: db.id } });
      await recordAudit(tx, actor, { tenantId: tenant.id, action: 'database.delete', targetType: 'database', targetId: db.id, changes: { name: { from: db.name, to: null } } });
    });
  }
}
