/**
 * Concurrent-connection caps per route and per tenant.
 *
 * A connection takes a slot after its route matched and the route's own checks passed
 * (`admit`), and gives it back when it ends. In one process the counts live here and the
 * answer is synchronous. In cluster mode (`cluster/`) the primary owns the counts so that
 * a cap means the same with one worker or sixteen: a worker asks the primary over IPC —
 * only for routes that have a cap, so uncapped routes never leave the worker.
 */
import type { RefusalCode } from '../errors.js';
import type { RouteEntry } from '../router/route-table.js';

/** What a cap check needs to know about a route; plain data so it can cross IPC. */
export interface SlotKey {
  routeId: string;
  routeMax: number | null;
  tenantId: string;
  tenantMax: number | null;
}

/** One key per route entry (entries are immutable), so a held slot costs a connection no object. */
const KEYS = new WeakMap<RouteEntry, SlotKey>();

export function slotKey(route: RouteEntry): SlotKey {
  let key = KEYS.get(route);
  if (key === undefined) {
    key = { routeId: route.id, routeMax: route.maxConnections, tenantId: route.tenantId, tenantMax: route.tenantMaxConnections };
    KEYS.set(route, key);
  }
  return key;
}

export function isCapped(key: SlotKey): boolean {
  return key.routeMax !== null || key.tenantMax !== null;
}

export interface ConnectionLimits {
  /** Reserves a slot; null when admitted, else the refusal. May be a promise (cluster). */
  acquire(key: SlotKey): RefusalCode | null | Promise<RefusalCode | null>;
  /** Returns a slot taken by `acquire`. */
  release(key: SlotKey): void;
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/** Counts open connections by route and tenant and enforces the caps. */
export class ConnectionCounts implements ConnectionLimits {
  private readonly routes = new Map<string, number>();
  private readonly tenants = new Map<string, number>();

  acquire(key: SlotKey): RefusalCode | null {
    if (key.routeMax !== null && (this.routes.get(key.routeId) ?? 0) >= key.routeMax) return 'route_connection_limit';
    if (key.tenantMax !== null && (this.tenants.get(key.tenantId) ?? 0) >= key.tenantMax) return 'tenant_connection_limit';
    bump(this.routes, key.routeId, 1);
    bump(this.tenants, key.tenantId, 1);
    return null;
  }

  release(key: SlotKey): void {
    bump(this.routes, key.routeId, -1);
    bump(this.tenants, key.tenantId, -1);
  }

  route(routeId: string): number {
    return this.routes.get(routeId) ?? 0;
  }

  tenant(tenantId: string): number {
    return this.tenants.get(tenantId) ?? 0;
  }
}
