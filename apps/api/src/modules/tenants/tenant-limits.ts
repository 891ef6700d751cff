/**
 * Per-tenant quotas set by the platform admin (docs/accounts.md "Limits"): databases, enabled
 * external access and dedicated ports. Each change that grows a count checks it inside its own
 * transaction (requireRoom), so two concurrent requests at the boundary cannot both pass and a
 * limit set during a growth cannot be overrun by it. Lowering a limit below the usage takes
 * nothing away; it only refuses growth.
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
 * "Tenants at scale"). With ids, each count reads only their rows (index scans): the tenant
 * list passes the ids of one page (at most 1,000; 100 by default). `'all'` passes no id array
 * at all (the whole list did before it was paginated: planning this statement with a 5,000-id
 * array took 45–60 ms); bench/tenants.ts still measures it.
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

/** Each usage of one tenant on its own (the groups of usageQuery count the same rows). */
const COUNT_ONE: Record<keyof TenantUsage, (tenantId: string) => Prisma.Sql> = {
  databases: (id) => Prisma.sql`SELECT count(*)::int AS n FROM databases WHERE tenant_id = ${id}::uuid`,
  externalAccess: (id) => Prisma.sql`SELECT count(*)::int AS n FROM routes WHERE tenant_id = ${id}::uuid AND enabled`,
  dedicatedPorts: (id) => Prisma.sql`SELECT count(*)::int AS n FROM routes WHERE tenant_id = ${id}::uuid AND dedicated_port IS NOT NULL`,
};

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
 * Namespace of the per-tenant advisory lock that serialises limit checks (the two-int form:
 * pg_locks objsubid 2, so it cannot meet the single-bigint keys of leader.ts and the sweeps).
 */
const LIMIT_CHECK_LOCK_SPACE = 0x73796c74; // "sylt"

const LIMIT_COLUMN: Record<LimitName, string> = { maxDatabases: 'max_databases', maxExternalAccess: 'max_external_access', maxDedicatedPorts: 'max_dedicated_ports' };

/**
 * The first statement of a check (exported for its test). It share-locks the tenant row until
 * commit and returns the limits, and — only when `limit` is set, or for dedicated ports always
 * — then takes the tenant's advisory lock: the outer SELECT evaluates the CASE on the row the
 * inner one has locked (a subquery with FOR SHARE is never flattened; EXPLAIN shows the call
 * above LockRows). Always row lock first, then advisory lock, in every transaction: a growth
 * holding the advisory lock never waits for the row while another holds the row and waits for
 * the advisory lock.
 *
 * FOR SHARE, not FOR NO KEY UPDATE: growth of one tenant does not wait for other growth (nor
 * for the FOR KEY SHARE locks that inserting a database or route takes), but every change to
 * the tenant row — a platform admin's PATCH of a limit, or an UPDATE by hand — needs FOR NO
 * KEY UPDATE, so it waits until every growth holding the share lock has committed, and growth
 * that asks after it waits for its commit and then reads the new row (READ COMMITTED locking
 * reads return the latest version). So no limit changes between this read and the commit.
 */
export function holdLimitsStatement(tenantId: string, limit: LimitName): Prisma.Sql {
  return Prisma.sql`
    SELECT s.max_databases, s.max_external_access, s.max_dedicated_ports,
           CASE WHEN ${limit === 'maxDedicatedPorts'}::boolean OR s.${Prisma.raw(LIMIT_COLUMN[limit])} IS NOT NULL
                THEN pg_advisory_xact_lock(${LIMIT_CHECK_LOCK_SPACE}::int, hashtext(s.id::text))::text END AS serialised
      FROM (SELECT id, max_databases, max_external_access, max_dedicated_ports FROM tenants WHERE id = ${tenantId}::uuid FOR SHARE) s`;
}

/**
 * Throws SY_TENANT_LIMIT unless the tenant may take one more of what `limit` counts. Call
 * inside the change's transaction, before its write; `field` is the request field the caller
 * would change (`body.name`, `body.enabled`, `body.dedicatedPort`).
 *
 * Why this is exact (docs/accounts.md "Limits"): the limits read here are the ones in force at
 * this transaction's commit (holdLimitsStatement). Without a limit on what grows there is
 * nothing to check, and nothing to wait for. With one, the check holds the tenant's advisory
 * lock before it counts, and counts in a statement of its own, whose snapshot is taken after
 * the lock: every check that passed earlier has committed and is counted. Growth that skipped
 * the check read no limit while holding its share lock, so the PATCH that set this limit
 * waited for it to commit, before this transaction read the limit: it is counted too.
 */
export async function requireRoom(tx: Prisma.TransactionClient, tenantId: string, limit: LimitName, field: string): Promise<void> {
  const rows = await tx.$queryRaw<Array<{ max_databases: number | null; max_external_access: number | null; max_dedicated_ports: number | null }>>(holdLimitsStatement(tenantId, limit));
  const r = rows[0];
  if (!r) throw new AppError('SY_TENANT_NOT_FOUND');
  const limits: TenantLimits = { maxDatabases: r.max_databases, maxExternalAccess: r.max_external_access, maxDedicatedPorts: r.max_dedicated_ports };
  const max = limits[limit];
  // No limit: nothing to count. (Dedicated ports took the advisory lock anyway, as the row
  // lock did before: assignPort takes the lowest free port of the shared pool, and one
  // tenant's concurrent requests would otherwise collide on it, SY_CONFLICT.)
  if (max === null) return;
  const c = COUNTED[limit];
  // Only what this limit counts, in a statement of its own: its snapshot is taken after the locks.
  const usage = (await tx.$queryRaw<Array<{ n: number }>>(COUNT_ONE[c.usage](tenantId)))[0]!.n;
  if (usage < max) return;
  const noun = (n: number) => (n === 1 ? c.what[0] : c.what[1]);
  // The detail says it all too: the dashboard shows it beside the field, without the message.
  const message = `The tenant may have at most ${max} ${noun(max)} (${limit}) and has ${usage}; ${c.release}, or ask a platform admin to raise the limit`;
  throw new AppError('SY_TENANT_LIMIT', message, [{ field, message, limit, max, usage }]);
}
