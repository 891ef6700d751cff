/**
 * Per-tenant quotas set by the platform admin (docs/accounts.md "Limits"): databases, enabled
 * external access and dedicated ports. Each change that grows a count checks it inside its own
 * transaction with the tenant row locked, so two concurrent requests at the boundary cannot
 * both pass. Lowering a limit below the usage takes nothing away; it only refuses growth.
 */
import { Prisma, type PrismaClient } from '@switchyard/db';
import { AppError } from '../../lib/errors.js';

export type LimitName = 'maxDatabases' | 'maxExternalAccess' | 'maxDedicatedPorts';
export type TenantLimits = Record<LimitName, number | null>;
export interface TenantUsage {
  databases: number;
  externalAccess: number;
  dedicatedPorts: number;
}
export const ZERO_USAGE: Readonly<TenantUsage> = Object.freeze({ databases: 0, externalAccess: 0, dedicatedPorts: 0 });

/** Each limit, the usage it bounds, and how a refusal names the thing counted. */
const COUNTED: Record<LimitName, { usage: keyof TenantUsage; what: [one: string, many: string]; release: string }> = {
  maxDatabases: { usage: 'databases', what: ['database', 'databases'], release: 'delete one' },
  maxExternalAccess: { usage: 'externalAccess', what: ['database with external access', 'databases with external access'], release: 'disable external access of another' },
  maxDedicatedPorts: { usage: 'dedicatedPorts', what: ['dedicated port', 'dedicated ports'], release: 'release one' },
};

type UsageRow = { tenant_id: string; databases: number; external_access: number; dedicated_ports: number };
type Reader = Pick<PrismaClient, '$queryRaw'> | Prisma.TransactionClient;

/**
 * The statement behind `tenantUsage`: one grouped count per table, joined to the tenants,
 * instead of three correlated subqueries per tenant (bench/tenants.ts, docs/performance.md
 * "Tenants at scale"). With ids, each count reads only their rows (index scans for a few
 * tenants); `'all'` (the platform admin's whole list) passes no id array at all (planning this
 * statement with a 5,000-id array took 45–60 ms).
 */
export function usageQuery(tenantIds: string[] | 'all'): Prisma.Sql {
  const only = (column: string) => (tenantIds === 'all' ? Prisma.empty : Prisma.sql`WHERE ${Prisma.raw(column)} = ANY(${tenantIds}::uuid[])`);
  return Prisma.sql`
    SELECT t.id::text AS tenant_id,
           coalesce(d.databases, 0)::int AS databases,
           coalesce(r.external_access, 0)::int AS external_access,
           coalesce(r.dedicated_ports, 0)::int AS dedicated_ports
      FROM tenants t
      LEFT JOIN (SELECT tenant_id, count(*) AS databases FROM databases ${only('tenant_id')} GROUP BY tenant_id) d ON d.tenant_id = t.id
      LEFT JOIN (SELECT tenant_id,
                        count(*) FILTER (WHERE enabled) AS external_access,
                        count(*) FILTER (WHERE dedicated_port IS NOT NULL) AS dedicated_ports
                   FROM routes ${only('tenant_id')} GROUP BY tenant_id) r ON r.tenant_id = t.id
     ${only('t.id')}`;
}

/**
 * Current usage of the given tenants, or of every tenant (one query; a tenant without any
 * row counts zero, and so does one created after the statement began: callers default to ZERO).
 */
export async function tenantUsage(db: Reader, tenantIds: string[] | 'all'): Promise<Map<string, TenantUsage>> {
  const out = new Map<string, TenantUsage>(tenantIds === 'all' ? [] : tenantIds.map((id) => [id, { ...ZERO_USAGE }]));
  if (tenantIds !== 'all' && tenantIds.length === 0) return out;
  const rows = await db.$queryRaw<UsageRow[]>(usageQuery(tenantIds));
  for (const r of rows) out.set(r.tenant_id, { databases: r.databases, externalAccess: r.external_access, dedicatedPorts: r.dedicated_ports });
  return out;
}

/**
 * Locks the tenant row for the rest of the transaction and returns its limits as committed.
 * FOR NO KEY UPDATE: it serialises the limit checks of one tenant (and the platform admin's
 * PATCH) without blocking the foreign-key locks (FOR KEY SHARE) that inserting a database or
 * route takes, so a transaction that inserted a row before checking cannot deadlock with another.
 */
export async function lockTenantLimits(tx: Prisma.TransactionClient, tenantId: string): Promise<TenantLimits> {
  const rows = await tx.$queryRaw<Array<{ max_databases: number | null; max_external_access: number | null; max_dedicated_ports: number | null }>>`
    SELECT max_databases, max_external_access, max_dedicated_ports FROM tenants WHERE id = ${tenantId}::uuid FOR NO KEY UPDATE`;
  const r = rows[0];
  if (!r) throw new AppError('SY_TENANT_NOT_FOUND');
  return { maxDatabases: r.max_databases, maxExternalAccess: r.max_external_access, maxDedicatedPorts: r.max_dedicated_ports };
}

/**
 * Throws SY_TENANT_LIMIT unless the tenant may take one more of what `limit` counts. Call
 * inside the change's transaction, before its write; `field` is the request field the caller
 * would change (`body.name`, `body.enabled`, `body.dedicatedPort`).
 */
export async function requireRoom(tx: Prisma.TransactionClient, tenantId: string, limit: LimitName, field: string): Promise<void> {
  const limits = await lockTenantLimits(tx, tenantId);
  const max = limits[limit];
  if (max === null) return;
  const c = COUNTED[limit];
  const usage = (await tenantUsage(tx, [tenantId])).get(tenantId)![c.usage];
  if (usage < max) return;
  const noun = (n: number) => (n === 1 ? c.what[0] : c.what[1]);
  // The detail says it all too: the dashboard shows it beside the field, without the message.
  const message = `The tenant may have at most ${max} ${noun(max)} (${limit}) and has ${usage}; ${c.release}, or ask a platform admin to raise the limit`;
  throw new AppError('SY_TENANT_LIMIT', message, [{ field, message, limit, max, usage }]);
}
