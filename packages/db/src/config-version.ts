/**
 * The write side of route propagation. Every route change runs `recordRouteChange` inside
 * the transaction that changes the route: it bumps the global config version (the row lock
 * on config_state serialises writers, so versions are gap-free and commit in order), logs
 * the change, stamps the route, and queues a NOTIFY that PostgreSQL delivers only if and
 * when the transaction commits.
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
    UPDATE config_state SET version = version + 1, updated_at = now() WHERE id = 1 RETURNING version`;
  const version = rows[0]!.version;
  await tx.$executeRaw`
    INSERT INTO config_changes (version, route_id, hostname, op, created_at)
    VALUES (${version}, ${change.routeId}::uuid, ${change.hostname}, ${change.op}, clock_timestamp())`;
  if (change.op === 'upsert') {
    await tx.$executeRaw`UPDATE routes SET version = ${version} WHERE id = ${change.routeId}::uuid`;
  }
  if (version % 100n === 0n) {
    await tx.$executeRaw`DELETE FROM config_changes WHERE version <= ${version - BigInt(CONFIG_CHANGE_RETENTION)}`;
  }
  await tx.$executeRaw`SELECT pg_notify(${CONFIG_CHANNEL}, ${version.toString()})`;
  return Number(version);
}

export async function currentConfigVersion(tx: Pick<TxClient, '$queryRaw'>): Promise<number> {
  const rows = await tx.$queryRaw<Array<{ version: bigint }>>`SELECT version FROM config_state WHERE id = 1`;
  return Number(rows[0]?.version ?? 0n);
}
