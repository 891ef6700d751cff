/**
 * The write side of route propagation. Every route change calls `recordRouteChange` inside
 * the transaction that changes the route, as that transaction's **last statement**: it bumps
 * the global config version, logs the change, stamps the route and queues a NOTIFY that
 * PostgreSQL delivers only if and when the transaction commits.
 *
 * The row lock taken on config_state serialises writers, so versions are gap-free and commit
 * in version order — what lets proxies apply deltas strictly in order. The lock is held from
 * this statement until COMMIT, so it is one statement (one round trip) and callers do all
 * other work (route rows, audit events) before it.
 */
import { CONFIG_CHANNEL } from '@switchyard/core';
import type { TxClient } from './prisma.js';

/** How many past changes proxies can catch up from before they must resync fully. */
export const CONFIG_CHANGE_RETENTION = 10_000;

export interface RouteChange {
  routeId: string;
  hostname: string;
  op: 'upsert' | 'delete';
}

export async function recordRouteChange(tx: TxClient, change: RouteChange): Promise<number> {
  const rows = await tx.$queryRaw<Array<{ version: bigint }>>`
    WITH v AS (
      UPDATE config_state SET version = version + 1, updated_at = clock_timestamp() WHERE id = 1 RETURNING version
    ), logged AS (
      INSERT INTO config_changes (version, route_id, hostname, op, created_at)
      SELECT version, ${change.routeId}::uuid, ${change.hostname}, ${change.op}, clock_timestamp() FROM v
    ), stamped AS (
      UPDATE routes SET version = (SELECT version FROM v) WHERE id = ${change.routeId}::uuid AND ${change.op} = 'upsert'
    ), pruned AS (
      DELETE FROM config_changes
       WHERE (SELECT version FROM v) % 100 = 0 AND version <= (SELECT version FROM v) - ${CONFIG_CHANGE_RETENTION}
    )
    SELECT version, pg_notify(${CONFIG_CHANNEL}, version::text)::text AS notified FROM v`;
  return Number(rows[0]!.version);
}

export async function currentConfigVersion(tx: Pick<TxClient, '$queryRaw'>): Promise<number> {
  const rows = await tx.$queryRaw<Array<{ version: bigint }>>`SELECT version FROM config_state WHERE id = 1`;
  return Number(rows[0]?.version ?? 0n);
}

/**
 * Several route changes in one statement (e.g. a certificate replaced under several routes):
 * one version per change, consecutive, with the same guarantees as `recordRouteChange` —
 * and, like it, the transaction's **last statement**. Returns the last version.
 */
export async function recordRouteChanges(tx: TxClient, changes: readonly RouteChange[]): Promise<number> {
  if (changes.length === 0) return currentConfigVersion(tx);
  if (changes.length === 1) return recordRouteChange(tx, changes[0]!);
  const n = changes.length;
  const ids = changes.map((c) => c.routeId);
  const hosts = changes.map((c) => c.hostname);
  const ops = changes.map((c) => c.op);
  const rows = await tx.$queryRaw<Array<{ version: bigint }>>`
    WITH v AS (
      UPDATE config_state SET version = version + ${n}::int, updated_at = clock_timestamp() WHERE id = 1 RETURNING version
    ), c AS (
      SELECT (SELECT version FROM v) - ${n}::int + u.ord AS version, u.route_id, u.hostname, u.op
        FROM unnest(${ids}::uuid[], ${hosts}::text[], ${ops}::text[]) WITH ORDINALITY AS u(route_id, hostname, op, ord)
    ), logged AS (
      INSERT INTO config_changes (version, route_id, hostname, op, created_at)
      SELECT version, route_id, hostname, op, clock_timestamp() FROM c
    ), stamped AS (
      UPDATE routes r SET version = c.version FROM c WHERE r.id = c.route_id AND c.op = 'upsert'
    ), pruned AS (
      DELETE FROM config_changes
       WHERE (SELECT version FROM v) / 100 > ((SELECT version FROM v) - ${n}::int) / 100
         AND version <= (SELECT version FROM v) - ${CONFIG_CHANGE_RETENTION}
    )
    SELECT version, pg_notify(${CONFIG_CHANNEL}, version::text)::text AS notified FROM v`;
  return Number(rows[0]!.version);
}
