/**
 * Other tenants' upstream namespaces, read by key instead of whole. checkUpstream refuses a
 * host inside another tenant's more specific suffix or CIDR ("no open proxy"); only the
 * tenants holding one of the host's keys (upstream-policy.ts namespaceKeys) can do that, and
 * PostgreSQL finds them through a GIN index on each policy list (array overlap, `&&`;
 * prisma/migrations/20261212010000_upstream_policy_keys): a database write costs the same at
 * 10 tenants and at 10,000, where it used to read every tenant's policy.
 */
import { Prisma } from '@switchyard/db';
import type { NamespaceKeys } from './upstream-policy.js';

export interface TenantNamespace {
  id: string;
  slug: string;
  hostSuffixes: string[];
  cidrs: string[];
}

type Row = { id: string; slug: string; host_suffixes: string[]; cidrs: string[] };

/** Merges the keys of several hosts (duplicates dropped). */
export function mergeKeys(list: Iterable<NamespaceKeys>): NamespaceKeys {
  const hostSuffixes = new Set<string>();
  const cidrs = new Set<string>();
  for (const k of list) {
    for (const s of k.hostSuffixes) hostSuffixes.add(s);
    for (const c of k.cidrs) cidrs.add(c);
  }
  return { hostSuffixes: [...hostSuffixes], cidrs: [...cidrs] };
}

/**
 * The tenants (but `except`) whose policy holds one of `keys`, in id order. No keys, no query.
 * `lock`: their rows `FOR NO KEY UPDATE` until commit, which a database write of theirs (it
 * share-locks its tenant's row, upstream-policy-holds.ts) waits for; taken in id order so two
 * such changes queue instead of deadlocking where they can.
 */
export async function tenantsHolding(
  db: Pick<Prisma.TransactionClient, '$queryRaw'>,
  except: string | null,
  keys: NamespaceKeys,
  lock = false,
): Promise<TenantNamespace[]> {
  const match: Prisma.Sql[] = [];
  if (keys.hostSuffixes.length > 0) match.push(Prisma.sql`allowed_upstream_suffixes && ${keys.hostSuffixes}::text[]`);
  if (keys.cidrs.length > 0) match.push(Prisma.sql`allowed_upstream_cidrs && ${keys.cidrs}::text[]`);
  if (match.length === 0) return [];
  const rows = await db.$queryRaw<Row[]>`
    SELECT id::text AS id, slug, allowed_upstream_suffixes AS host_suffixes, allowed_upstream_cidrs AS cidrs
      FROM tenants
     WHERE (${Prisma.join(match, ' OR ')})${except ? Prisma.sql` AND id <> ${except}::uuid` : Prisma.empty}
     ORDER BY id${lock ? Prisma.sql` FOR NO KEY UPDATE` : Prisma.empty}`;
  return rows.map((r) => ({ id: r.id, slug: r.slug, hostSuffixes: r.host_suffixes, cidrs: r.cidrs }));
}
