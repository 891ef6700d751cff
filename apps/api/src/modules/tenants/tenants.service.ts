/**
 * Tenants: created and governed by platform admins; readable by their members.
 */
import { randomUUID } from 'node:crypto';
import { isSlug, isValidHostname, normalizeHostname, parseCidr } from '@switchyard/core';
import { Prisma, recordRouteChanges, type PrismaClient, type Tenant } from '@switchyard/db';
import { requirePlatformAdmin, requireTenantRole, type Actor, type TenantRole } from '../../lib/access.js';
import { AppError, type ErrorDetail } from '../../lib/errors.js';
import { decodeCursor, pageOf, type Page } from '../../lib/pagination.js';
import { releaseAcmeCertificates } from '../acme/acme.lifecycle.js';
import { diff, recordAudit } from '../audit/audit.service.js';
import { requireNewTenantTakesNoDatabases, requirePolicyHoldsForDatabases } from '../databases/upstream-policy-holds.js';
import { tenantUsage, ZERO_USAGE, type LimitName, type TenantLimits, type TenantUsage } from './tenant-limits.js';
import { TENANT_PAGE, type CreateTenantBody, type TenantResponse, type TenantsQuery, type UpdateTenantBody } from './tenants.schemas.js';

/** `text` for LIKE/ILIKE with `\\` as the escape: matches itself, wildcards and all. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** What the platform admin sets on a tenant (and what its audit events compare). */
function settingsOf(t: Tenant): Omit<TenantResponse, 'usage'> {
  return {
    id: t.id,
    slug: t.slug,
    name: t.name,
    upstreamPolicy: { hostSuffixes: t.allowedUpstreamSuffixes, cidrs: t.allowedUpstreamCidrs },
    allowedCustomDomains: t.allowedCustomDomains,
    maxConnections: t.maxConnections,
    maxDatabases: t.maxDatabases,
    maxExternalAccess: t.maxExternalAccess,
    maxDedicatedPorts: t.maxDedicatedPorts,
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  };
}

export function toTenantResponse(t: Tenant, usage: TenantUsage): TenantResponse {
  return { ...settingsOf(t), usage };
}

/** Normalises and validates policy lists; throws SY_VALIDATION naming each bad entry. */
export function normalizePolicy(input: { hostSuffixes?: string[]; cidrs?: string[]; customDomains?: string[] }): {
  hostSuffixes?: string[];
  cidrs?: string[];
  customDomains?: string[];
} {
  const details: ErrorDetail[] = [];
  const hosts = (list: string[] | undefined, field: string) =>
    list?.map((raw, i) => {
      const h = normalizeHostname(raw.replace(/^\*?\./, ''));
      // Single-label suffixes ("local", "com") would allow far too much.
      if (!h || !isValidHostname(h)) details.push({ field: `${field}.${i}`, message: `"${raw}" is not a DNS suffix with at least two labels` });
      return h ?? raw;
    });
  const hostSuffixes = hosts(input.hostSuffixes, 'body.upstreamPolicy.hostSuffixes');
  const customDomains = hosts(input.customDomains, 'body.allowedCustomDomains');
  const cidrs = input.cidrs?.map((raw, i) => {
    const c = parseCidr(raw);
    if (!c) details.push({ field: `body.upstreamPolicy.cidrs.${i}`, message: `"${raw}" is not a CIDR with zero host bits` });
    return c?.text ?? raw;
  });
  if (details.length > 0) throw new AppError('SY_VALIDATION', `${details[0]!.field} ${details[0]!.message}`, details);
  return { hostSuffixes, cidrs, customDomains };
}

export class TenantsService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly defaults: { upstreamSuffixes: string[]; limits: TenantLimits },
  ) {}

  /** Finds a tenant the actor may act on with at least `min`; 404 otherwise. */
  async resolve(actor: Actor, slug: string, min: TenantRole): Promise<Tenant> {
    const tenant = await this.prisma.tenant.findUnique({ where: { slug } });
    if (!tenant) throw new AppError('SY_TENANT_NOT_FOUND');
    requireTenantRole(actor, tenant.id, min);
    return tenant;
  }

  async create(actor: Actor, body: CreateTenantBody): Promise<TenantResponse> {
    requirePlatformAdmin(actor);
    const suffixes = body.upstreamPolicy?.hostSuffixes ?? this.defaults.upstreamSuffixes.map((s) => s.replaceAll('{tenant}', body.slug));
    const policy = normalizePolicy({ hostSuffixes: suffixes, cidrs: body.upstreamPolicy?.cidrs ?? [], customDomains: body.allowedCustomDomains ?? [] });
    // Omitted: the platform's default (SWITCHYARD_TENANT_DEFAULT_LIMITS); null: no limit.
    const limit = (name: LimitName) => (body[name] === undefined ? this.defaults.limits[name] : body[name]);
    // Chosen here so that the check below, which runs before the row exists, knows the new
    // tenant apart from the others.
    const id = randomUUID();
    try {
      const tenant = await this.prisma.$transaction(async (tx) => {
        // A taken slug is that, whatever else the body holds.
        if (await tx.tenant.findUnique({ where: { slug: body.slug }, select: { id: true } })) throw new AppError('SY_TENANT_EXISTS');
        // A namespace more specific than another tenant's grant takes that tenant's databases
        // in it: refused, as a policy change would be (upstream-policy-holds.ts).
        await requireNewTenantTakesNoDatabases(tx, { id, slug: body.slug }, { hostSuffixes: policy.hostSuffixes!, cidrs: policy.cidrs! });
        const t = await tx.tenant.create({
          data: {
            id,
            slug: body.slug,
            name: body.name,
            allowedUpstreamSuffixes: policy.hostSuffixes!,
            allowedUpstreamCidrs: policy.cidrs!,
            allowedCustomDomains: policy.customDomains!,
            maxConnections: body.maxConnections ?? null,
            maxDatabases: limit('maxDatabases'),
            maxExternalAccess: limit('maxExternalAccess'),
            maxDedicatedPorts: limit('maxDedicatedPorts'),
          },
        });
        await recordAudit(tx, actor, { tenantId: t.id, action: 'tenant.create', targetType: 'tenant', targetId: t.id, changes: diff(null, settingsOf(t)) });
        return t;
      });
      return toTenantResponse(tenant, { ...ZERO_USAGE });
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw new AppError('SY_TENANT_EXISTS');
      throw err;
    }
  }

  /**
   * One page of the tenants the actor may see, in slug order (keyset on the unique slug,
   * lib/pagination.ts), with the usage of the page's tenants only: one grouped count over
   * their ids (tenant-limits.ts), so a page costs the same at 50 tenants or 5,000
   * (docs/performance.md "Tenants at scale").
   */
  async list(actor: Actor, query: TenantsQuery = {}): Promise<Page<TenantResponse>> {
    const limit = query.limit ?? TENANT_PAGE.default;
    // The cursor's key is the slug of the previous page's last tenant.
    const after = query.cursor ? decodeCursor(query.cursor, (key) => (isSlug(key) ? key : undefined)) : undefined;
    const search = query.q?.trim();
    // Prisma's `contains` is LIKE: `%` and `_` would match anything (prisma/orm#19506), so
    // they are escaped (backslash is PostgreSQL's default LIKE escape).
    const pattern = search ? escapeLike(search) : undefined;
    const where: Prisma.TenantWhereInput = {
      AND: [
        actor.principal.isPlatformAdmin ? {} : { id: { in: [...actor.principal.tenantRoles.keys()] } },
        after === undefined ? {} : { slug: { gt: after } },
        pattern === undefined ? {} : { OR: [{ slug: { contains: pattern, mode: 'insensitive' } }, { name: { contains: pattern, mode: 'insensitive' } }] },
      ],
    };
    const rows = await this.prisma.tenant.findMany({ where, orderBy: { slug: 'asc' }, take: limit + 1 });
    const page = pageOf(rows, limit, (last) => last.slug);
    // A tenant deleted between the two reads counts zero; it is gone from the next page anyway.
    const usage = await tenantUsage(this.prisma, page.items.map((t) => t.id));
    return { items: page.items.map((t) => toTenantResponse(t, usage.get(t.id) ?? { ...ZERO_USAGE })), nextCursor: page.nextCursor };
  }

  /** The tenant with its usage: members see their own limits and how much of them is taken. */
  async get(actor: Actor, slug: string): Promise<TenantResponse> {
    return this.withUsage(await this.resolve(actor, slug, 'member'));
  }

  private async withUsage(t: Tenant): Promise<TenantResponse> {
    return toTenantResponse(t, (await tenantUsage(this.prisma, [t.id])).get(t.id)!);
  }

  async update(actor: Actor, slug: string, body: UpdateTenantBody): Promise<TenantResponse> {
    requirePlatformAdmin(actor);
    const before = await this.resolve(actor, slug, 'owner');
    const policy = normalizePolicy({
      hostSuffixes: body.upstreamPolicy?.hostSuffixes,
      cidrs: body.upstreamPolicy?.cidrs,
      customDomains: body.allowedCustomDomains,
    });
    const updated = await this.prisma.$transaction(async (tx) => {
      // A narrower upstream policy must not strand existing databases outside it (locks the row).
      await requirePolicyHoldsForDatabases(tx, before.id, policy);
      // The row lock (taken here, or above for a policy change) waits for every growth in
      // flight (they share-lock the row, tenant-limits.ts) and holds back new ones until this
      // commits: a new limit binds all growth after it.
      const t = await tx.tenant.update({
        where: { id: before.id },
        data: {
          name: body.name,
          allowedUpstreamSuffixes: policy.hostSuffixes,
          allowedUpstreamCidrs: policy.cidrs,
          allowedCustomDomains: policy.customDomains,
          maxConnections: body.maxConnections,
          // A limit below the usage is allowed: nothing is taken away, growth is refused.
          maxDatabases: body.maxDatabases,
          maxExternalAccess: body.maxExternalAccess,
          maxDedicatedPorts: body.maxDedicatedPorts,
        },
      });
      await recordAudit(tx, actor, {
        tenantId: t.id,
        action: 'tenant.update',
        targetType: 'tenant',
        targetId: t.id,
        changes: diff(settingsOf(before), settingsOf(t)),
      });
      // The tenant-wide connection cap travels with each route in the proxies' snapshot, so a
      // change to it is a change of every route of the tenant (same transaction, same NOTIFY).
      if (t.maxConnections !== before.maxConnections) {
        const routes = await tx.route.findMany({ where: { tenantId: t.id }, select: { id: true, hostname: true } });
        // Last statement, and one statement for all routes: the bump holds the config lock until COMMIT.
        if (routes.length > 0) await recordRouteChanges(tx, routes.map((r) => ({ routeId: r.id, hostname: r.hostname, op: 'upsert' as const })));
      }
      return t;
    });
    // With the usage, so an admin who lowered a limit below it sees by how much.
    return this.withUsage(updated);
  }

  /** Deletes a tenant; its routes leave every proxy through the change log first. */
  async delete(actor: Actor, slug: string): Promise<{ version: number | null }> {
    requirePlatformAdmin(actor);
    const tenant = await this.resolve(actor, slug, 'owner');
    return this.prisma.$transaction(async (tx) => {
      const routes = await tx.route.findMany({ where: { tenantId: tenant.id }, select: { id: true, hostname: true } });
      // Its ACME certificates go with its routes, each with an audit event (the tenant's
      // cascade would delete them silently). Read by tenant: a few rows, where a tenant may
      // have many thousands of routes.
      const acme = await tx.acmeCertificate.findMany({ where: { tenantId: tenant.id }, select: { hostname: true } });
      await releaseAcmeCertificates(tx, actor, acme.map((a) => ({ hostname: a.hostname, reason: 'tenant-deleted' as const })));
      await tx.route.deleteMany({ where: { tenantId: tenant.id } });
      await tx.tenant.delete({ where: { id: tenant.id } });
      await recordAudit(tx, actor, { tenantId: null, action: 'tenant.delete', targetType: 'tenant', targetId: tenant.id, changes: { slug: { from: slug, to: null } } });
      // Last statement, one for all routes: the version bump holds the config lock until COMMIT.
      const version = routes.length > 0 ? await recordRouteChanges(tx, routes.map((r) => ({ routeId: r.id, hostname: r.hostname, op: 'delete' as const }))) : null;
      return { version };
    });
  }
}
