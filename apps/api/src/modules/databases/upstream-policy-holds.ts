/**
 * A tenant's upstream policy binds the databases it already has, not only new ones
 * (docs/accounts.md "Upstream policy"). A platform admin who narrows the policy while a
 * database still points outside the new one is refused (409 SY_UPSTREAM_POLICY_CONFLICT,
 * naming them) and nothing changes: otherwise the proxies would keep forwarding to a network
 * the tenant may no longer reach.
 *
 * The same holds across tenants: a policy that gives this tenant a more specific namespace
 * inside another tenant's grant (`beta.svc.cluster.local` inside `svc.cluster.local`,
 * `10.9.0.0/16` inside `10.0.0.0/8`) is refused while that tenant has databases there, named
 * with their tenant (policy edits are for platform admins only) — and so is creating a tenant
 * with such a policy (`requireNewTenantTakesNoDatabases`).
 *
 * Locking, so neither side can slip past the other: the policy change holds the tenant's row
 * `FOR NO KEY UPDATE` from before it reads the databases until it commits, and so the rows of
 * the tenants with a broader grant around what it adds; every database write that sets
 * upstreams re-reads the policy with its tenant's row share-locked (`FOR SHARE`) in its own
 * transaction, then re-reads the other tenants' namespaces, before writing. Whichever locks
 * first, the other sees its result: a database written first is read by the policy check
 * (READ COMMITTED: each statement takes a new snapshot, after the lock); a policy changed
 * first makes the database write stop, since it checked its upstreams against the old one
 * (its own tenant's: SY_CONFLICT) or finds the new namespace in its re-check (another
 * tenant's: SY_UPSTREAM_NOT_ALLOWED, as if it had come later).
 */
import { isIpLiteral, normalizeHostname, parseCidr, type Endpoint } from '@switchyard/core';
import type { Prisma } from '@switchyard/db';
import { AppError, type ErrorDetail } from '../../lib/errors.js';
import { mergeKeys, tenantsHolding } from './upstream-namespaces.js';
import { checkUpstream, labelSuffixes, namespaceKeys, networksOf, type UpstreamPolicyInput } from './upstream-policy.js';

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

type DatabaseRow = { name: string; upstreamHost: string; upstreamPort: number; endpoints: Prisma.JsonValue };

interface Outside {
  /** Set for a database of another tenant (its slug). */
  tenant?: string;
  name: string;
  endpoints: string[];
  reason: string;
  field: 'body.upstreamPolicy.hostSuffixes' | 'body.upstreamPolicy.cidrs';
}

function endpointsOf(db: DatabaseRow): Endpoint[] {
  const list = Array.isArray(db.endpoints) ? (db.endpoints as unknown as Endpoint[]) : [];
  return list.length > 0 ? list : [{ host: db.upstreamHost, port: db.upstreamPort }];
}

const fieldOf = (host: string): Outside['field'] =>
  isIpLiteral(normalizeHostname(host.replace(/^\[|\]$/g, '')) ?? '') ? 'body.upstreamPolicy.cidrs' : 'body.upstreamPolicy.hostSuffixes';

const named = (list: Outside[]) => {
  const shown = list.slice(0, SHOWN).map((o) => `${o.tenant ? `${o.tenant}/` : ''}${o.name} (${o.endpoints.join(', ')}: ${o.reason})`);
  return list.length > SHOWN ? `${shown.join('; ')}; and ${list.length - SHOWN} more` : shown.join('; ');
};

/** A policy with the other tenants' namespaces checkUpstream weighs it against. */
interface Situation {
  policy: UpstreamPolicyInput;
  /** A superset of the tenants whose namespace could take the hosts checked (checkUpstream sorts them out). */
  others: ReadonlyArray<{ slug: string } & UpstreamPolicyInput>;
}

/**
 * Each database with an endpoint allowed `before` and refused `after`, with those endpoints
 * and the first reason. The platform's rules are left out (the same before and after).
 */
function stranded(dbs: DatabaseRow[], before: Situation, after: Situation, tenant?: string): Outside[] {
  const out: Outside[] = [];
  for (const db of dbs) {
    let hit: Outside | null = null;
    for (const e of endpointsOf(db)) {
      if (!checkUpstream(e.host, e.port, before.policy, NO_CONTROL_DATABASE, { allowLoopback: true, otherTenants: before.others }).ok) continue; // outside already: not this change's doing
      const v = checkUpstream(e.host, e.port, after.policy, NO_CONTROL_DATABASE, { allowLoopback: true, otherTenants: after.others });
      if (v.ok) continue;
      hit ??= { ...(tenant ? { tenant } : {}), name: db.name, endpoints: [], reason: v.reason, field: fieldOf(e.host) };
      hit.endpoints.push(`${e.host}:${e.port}`);
    }
    if (hit) out.push(hit);
  }
  return out;
}

/**
 * The databases of other tenants that this tenant's new policy would carve out of their
 * namespace. What the policy adds can refuse another tenant's upstream only where that tenant
 * holds a broader grant (checkUpstream: the more specific namespace wins): one of the added
 * suffix's label suffixes, or a CIDR containing the added one with a shorter prefix. Those
 * tenants are found by key (a few; usually none, and then nothing else is read), their rows
 * locked `FOR NO KEY UPDATE` until commit — their database writes share-lock the row and
 * re-check other tenants' namespaces after it (databases.service.ts), so whichever goes first,
 * the other sees it — and only their databases are read. An endpoint counts when their policy
 * allowed it with the namespaces around it as they are, and does not with this tenant's new
 * policy among them.
 */
async function strandedElsewhere(
  tx: Prisma.TransactionClient,
  self: { id: string; slug: string },
  before: UpstreamPolicyInput,
  after: UpstreamPolicyInput,
): Promise<Outside[]> {
  const added = { hostSuffixes: after.hostSuffixes.filter((s) => !before.hostSuffixes.includes(s)), cidrs: after.cidrs.filter((c) => !before.cidrs.includes(c)) };
  const broader = await tenantsHolding(
    tx,
    self.id,
    mergeKeys([
      { hostSuffixes: added.hostSuffixes.flatMap(labelSuffixes), cidrs: [] },
      ...added.cidrs.map((text) => {
        const c = parseCidr(text);
        return { hostSuffixes: [], cidrs: c && c.prefix > 0 ? networksOf({ family: c.family, value: c.network }, 0, c.prefix - 1) : [] };
      }),
    ]),
    true,
  );
  if (broader.length === 0) return [];
  const dbs = await tx.database.findMany({
    where: { tenantId: { in: broader.map((t) => t.id) } },
    select: { tenantId: true, name: true, upstreamHost: true, upstreamPort: true, endpoints: true },
    orderBy: { name: 'asc' },
  });
  // The databases with an endpoint inside what this tenant adds (no query) …
  const mine = { slug: self.slug, ...added };
  const inside = dbs.filter((db) => {
    const policy = broader.find((t) => t.id === db.tenantId)!;
    return endpointsOf(db).some((e) => !checkUpstream(e.host, e.port, policy, NO_CONTROL_DATABASE, { allowLoopback: true, otherTenants: [mine] }).ok);
  });
  if (inside.length === 0) return [];
  // … and every tenant whose namespace could take their endpoints, this one as it still is.
  const keys = inside.flatMap((db) => endpointsOf(db).map((e) => namespaceKeys(e.host, broader.find((t) => t.id === db.tenantId)!)));
  const around = await tenantsHolding(tx, null, mergeKeys(keys));
  const out: Outside[] = [];
  for (const t of broader) {
    const theirs = inside.filter((db) => db.tenantId === t.id);
    if (theirs.length === 0) continue;
    const others = around.filter((o) => o.id !== t.id);
    const next = [...others.filter((o) => o.id !== self.id), { slug: self.slug, ...after }];
    out.push(...stranded(theirs, { policy: t, others }, { policy: t, others: next }, t.slug));
  }
  return out.sort((a, b) => a.tenant!.localeCompare(b.tenant!) || a.name.localeCompare(b.name));
}

/**
 * Call first in the transaction of a tenant update, with the normalised policy of the body
 * (an omitted list is unchanged). Locks the tenant row until commit. Throws
 * SY_UPSTREAM_POLICY_CONFLICT when an endpoint that is allowed now would not be after the
 * change: of a database of the tenant (Kubernetes-owned ones included) that the new policy
 * leaves outside, or of a database of another tenant inside a namespace the new policy takes
 * from it (a more specific suffix or CIDR inside that tenant's grant). An unchanged policy is
 * not checked; a wider one strands none of the tenant's own databases by construction, and
 * one that only removes entries takes none of another tenant's. Platform admins only
 * (tenants.service.ts): the refusal names other tenants' databases.
 */
export async function requirePolicyHoldsForDatabases(
  tx: Prisma.TransactionClient,
  tenantId: string,
  next: { hostSuffixes?: string[]; cidrs?: string[] },
): Promise<void> {
  if (next.hostSuffixes === undefined && next.cidrs === undefined) return;
  const rows = await tx.$queryRaw<Array<PolicyRow & { slug: string }>>`
    SELECT slug, allowed_upstream_suffixes, allowed_upstream_cidrs FROM tenants WHERE id = ${tenantId}::uuid FOR NO KEY UPDATE`;
  const row = rows[0];
  if (!row) throw new AppError('SY_TENANT_NOT_FOUND');
  const before: UpstreamPolicyInput = { hostSuffixes: row.allowed_upstream_suffixes, cidrs: row.allowed_upstream_cidrs };
  const after: UpstreamPolicyInput = { hostSuffixes: next.hostSuffixes ?? before.hostSuffixes, cidrs: next.cidrs ?? before.cidrs };
  if (sameSet(before.hostSuffixes, after.hostSuffixes) && sameSet(before.cidrs, after.cidrs)) return;

  const outside: Outside[] = [];
  const dbs = await tx.database.findMany({ where: { tenantId }, select: { name: true, upstreamHost: true, upstreamPort: true, endpoints: true }, orderBy: { name: 'asc' } });
  if (dbs.length > 0) {
    // Other tenants' namespaces, read for the keys of both policies (the longer key list).
    const keys = dbs.flatMap((db) => endpointsOf(db).flatMap((e) => [namespaceKeys(e.host, before), namespaceKeys(e.host, after)]));
    const others = await tenantsHolding(tx, tenantId, mergeKeys(keys));
    outside.push(...stranded(dbs, { policy: before, others }, { policy: after, others }));
  }
  const own = outside.length;
  outside.push(...(await strandedElsewhere(tx, { id: tenantId, slug: row.slug }, before, after)));
  if (outside.length === 0) return;

  throw policyConflict(outside, own);
}


/** The refusal: the first `own` of `outside` are the tenant's own databases, the rest other tenants'. */
function policyConflict(outside: Outside[], own: number): AppError {
  const n = (k: number) => `${k} database${k === 1 ? '' : 's'}`;
  const elsewhere = outside.length - own;
  const takes = (k: number) => `would take ${n(k)} of other tenants into this tenant’s namespace, out of their own policy’s reach`;
  // One detail per policy field, so a form shows it beside the list that took the upstream away.
  const details: ErrorDetail[] = [];
  for (const field of ['body.upstreamPolicy.hostSuffixes', 'body.upstreamPolicy.cidrs'] as const) {
    const list = outside.filter((o) => o.field === field);
    if (list.length === 0) continue;
    const mineHere = list.filter((o) => !o.tenant).length;
    const parts = [
      ...(mineHere > 0 ? [`would leave ${n(mineHere)} pointing outside it`] : []),
      ...(list.length > mineHere ? [takes(list.length - mineHere)] : []),
    ];
    details.push({
      field,
      message: `${parts.join(' and ')}: ${named(list)}. Move or delete them first`,
      count: list.length,
      databases: list.slice(0, SHOWN).map((o) => ({ ...(o.tenant ? { tenant: o.tenant } : {}), name: o.name, endpoints: o.endpoints, reason: o.reason })),
    });
  }
  const sentences = [
    ...(own > 0 ? [`would leave ${n(own)} of the tenant pointing outside it: ${named(outside.slice(0, own))}`] : []),
    ...(elsewhere > 0 ? [`${takes(elsewhere)}: ${named(outside.slice(own))}`] : []),
  ];
  return new AppError('SY_UPSTREAM_POLICY_CONFLICT', `The new upstream policy ${sentences.join('; it ')}. Move or delete them first; nothing was changed`, details);
}

/**
 * Call first in the transaction of a tenant creation, before the tenant is inserted, with the
 * id it will be inserted with and its normalised policy: the same cross-tenant rule as a
 * policy change (`requirePolicyHoldsForDatabases`), for a tenant whose policy was empty
 * before. Throws SY_UPSTREAM_POLICY_CONFLICT naming the other tenants' databases the new
 * tenant's namespace would take; locks those tenants' rows until commit.
 */
export async function requireNewTenantTakesNoDatabases(
  tx: Prisma.TransactionClient,
  self: { id: string; slug: string },
  policy: UpstreamPolicyInput,
): Promise<void> {
  const outside = await strandedElsewhere(tx, self, { hostSuffixes: [], cidrs: [] }, policy);
  if (outside.length > 0) throw policyConflict(outside, 0);
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
