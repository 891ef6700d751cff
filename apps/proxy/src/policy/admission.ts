/**
 * Per-route admission checks, run after a route matched and before dialing. Pure and
 * in-memory: CIDR matching is a couple of bigint operations; counts come from the registry.
 */
import { anyCidrContains, type IpAddress } from '@switchyard/core';
import type { RefusalCode } from '../errors.js';
import type { RouteEntry } from '../router/route-table.js';

export interface AdmissionState {
  /** Open connections of a route (routed, including those still dialing). */
  count(routeId: string): number;
}

export function admit(route: RouteEntry, client: IpAddress | null, state: AdmissionState): RefusalCode | null {
  if (!route.enabled) return 'route_disabled';
  if (route.allowedSources.length > 0 && (!client || !anyCidrContains(route.allowedSources, client))) return 'source_not_allowed';
  if (route.maxConnections !== null && state.count(route.id) >= route.maxConnections) return 'route_connection_limit';
  return null;
}
