/**
 * A tenant's upstream policy binds the databases it already has, not only new ones
 * (docs/accounts.md "Upstream policy"). A platform admin who narrows the policy while a
 * database still points outside the new one is refused (409 SY_UPSTREAM_POLICY_CONFLICT,
 * naming them) and nothing changes: otherwise the proxies would keep forwarding to a network
 * the tenant may no longer reach.
 *
 * Locking, so neither side can slip past the other: the policy change holds the tenant's row
 * `FOR NO KEY UPDATE` from before it reads the databases until it commits; every database
 * write that sets upstreams re-reads the policy with the row share-locked (`FOR SHARE`) in
 * its own transaction before writing. Whichever locks first, the other sees its result: a
 * database written first is read by the policy check (READ COMMITTED: each statement takes a
 * new snapshot, after the lock); a policy changed first makes the database write stop, since
 * it checked its upstreams against the old one.
 */
import { isIpLiteral, normalizeHostname, type Endpoint } from '@switchyard/core';
import type { Prisma } from '@switchyard/db';
import { AppError, type ErrorDetail } from '../../lib/errors.js';
import { checkUpstream, type UpstreamPolicyInput } from './upstream-policy.js';

type PolicyRow = { allowed_upstream_suffixes: string[]; allowed_upstream_cidrs: string[] };

/** Databases named in a refusal's message and in each detail; the count says how many in all. */
const SHOWN = 5;

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/**
 * Only the tenant's part of checkUpstream: the platform's rules (control database, loopback,
 * link-local) are the same before and after a policy change, so they are left out here; a
 * database they refuse was refused before the change too.
 */
const NO_CONTROL_DATABASE = { host: '', port: -1 };

interface Outside {
  name: string;
  endpoints: string[];
  reason: string;
  field: 'body.upstreamPolicy.hostSuffixes' | 'body.upstreamPolicy.cidrs';
}

function endpointsOf(db: { upstreamHost: string; upstreamPort: number; endpoints: Prisma.JsonValue }): Endpoint[] {
  const list = Array.isArray(db.endpoints) ? (db.endpoints as unknown as Endpoint[]) : [];
  return list.length > 0 ? list : [{ host: db.upstreamHost, port: db.upstreamPort }];
}

const named = (list: Outside[]) => {
  const shown = list.slice(0, SHOWN).map((o) => `${o.name} (${o.endpoints.join(', ')}: ${o.reason})`);
  return list.length > SHOWN ? `${shown.join('; ')}; and ${list.length - SHOWN} more` : shown.join('; ');
};

/**
 * Call first in the transaction of a tenant update, with the normalised policy of the body
 * (an omitted list is unchanged). Locks the tenant row until commit. Throws
 * SY_UPSTREAM_POLICY_CONFLICT when an endpoint of a database of the tenant (Kubernetes-owned
 * ones included) that the current policy allows would be outside the new one. An unchanged
 * policy is not checked; a wider one passes by construction.
 */
export async function requirePolicyHoldsForDatabases(
  tx: Prisma.TransactionClient,
  tenantId: string,
  next: { hostSuffixes?: string[]; cidrs?: string[] },
): Promise<void> {
  if (next.hostSuffixes === undefined && next.cidrs === undefined) return;
  const rows = await tx.$queryRaw<PolicyRow[]>`
    SELECT allowed_upstream_suffixes, allowed_upstream_cidrs FROM tenants WHERE id = ${tenantId}::uuid FOR NO KEY UPDATE`;
  const row = rows[0];
  if (!row) throw new AppError('SY_TENANT_NOT_FOUND');
  const before: UpstreamPolicyInput = { hostSuffixes: row.allowed_upstream_suffixes, cidrs: row.allowed_upstream_cidrs };
  const after: UpstreamPolicyInput = { hostSuffixes: next.hostSuffixes ?? before.hostSuffixes, cidrs: next.cidrs ?? before.cidrs };
  if (sameSet(before.hostSuffixes, after.hostSuffixes) && sameSet(before.cidrs, after.cidrs)) return;

  const dbs = await tx.database.findMany({ where: { tenantId }, select: { name: true, upstreamHost: true, upstreamPort: true, endpoints: true }, orderBy: { name: 'asc' } });
  if (dbs.length === 0) return;
  const others = await tx.tenant.findMany({ where: { id: { not: tenantId } }, select: { slug: true, allowedUpstreamSuffixes: true, allowedUpstreamCidrs: true } });
  const platform = { allowLoopback: true, otherTenants: others.map((o) => ({ slug: o.slug, hostSuffixes: o.allowedUpstreamSuffixes, cidrs: o.allowedUpstreamCidrs })) };

  const outside: Outside[] = [];
  for (const db of dbs) {
    let hit: Outside | null = null;
    for (const e of endpointsOf(db)) {
      if (!checkUpstream(e.host, e.port, before, NO_CONTROL_DATABASE, platform).ok) continue; // outside already: not this change's doing
      const v = checkUpstream(e.host, e.port, after, NO_CONTROL_DATABASE, platform);
      if (v.ok) continue;
      const ip = isIpLiteral(normalizeHostname(e.host.replace(/^\[|\]$/g, '')) ?? '');
      hit ??= { name: db.name, endpoints: [], reason: v.reason, field: ip ? 'body.upstreamPolicy.cidrs' : 'body.upstreamPolicy.hostSuffixes' };
      hit.endpoints.push(`${e.host}:${e.port}`);
    }
    if (hit) outside.push(hit);
  }
  if (outside.length === 0) return;

  const n = (k: number) => `${k} database${k === 1 ? '' : 's'}`;
  // One detail per policy field, so a form shows it beside the list that took the upstream away.
  const details: ErrorDetail[] = [];
  for (const field of ['body.upstreamPolicy.hostSuffixes', 'body.upstreamPolicy.cidrs'] as const) {
    const list = outside.filter((o) => o.field === field);
    if (list.length === 0) continue;
    details.push({
      field,
      message: `would leave ${n(list.length)} pointing outside it: ${named(list)}. Move or delete them first`,
      count: list.length,
      databases: list.slice(0, SHOWN).map((o) => ({ name: o.name, endpoints: o.endpoints, reason: o.reason })),
    });
  }
  throw new AppError(
    'SY_UPSTREAM_POLICY_CONFLICT',
    `The new upstream policy would leave ${n(outside.length)} of the tenant pointing outside it: ${named(outside)}. Move or delete them first; nothing was changed`,
    details,
  );
}

/**
 * Call in the transaction of a database write that sets upstreams, before the write, with the
 * tenant as read when its upstreams were checked. Share-locks the tenant row until commit (a
 * policy change waits for this write, and sees it); if the policy changed since the check,
 * refuses with SY_CONFLICT: the upstreams were checked against a policy no longer in force.
 */
export async function requireUpstreamPolicyUnchanged(
  tx: Prisma.TransactionClient,
  tenant: { id: string; allowedUpstreamSuffixes: string[]; allowedUpstreamCidrs: string[] },
): Promise<void> {
  const rows = await tx.$queryRaw<PolicyRow[]>`
    SELECT allowed_upstream_suffixes, allowed_upstream_cidrs FROM tenants WHERE id = ${tenant.id}::uuid FOR SHARE`;
  const row = rows[0];
  if (!row) throw new AppError('SY_TENANT_NOT_FOUND');
  if (sameSet(row.allowed_upstream_suffixes, tenant.allowedUpstreamSuffixes) && sameSet(row.allowed_upstream_cidrs, tenant.allowedUpstreamCidrs)) return;
  throw new AppError('SY_CONFLICT', 'The tenant’s upstream policy changed while this request ran; send it again');
}
