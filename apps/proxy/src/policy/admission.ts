/**
 * Per-route admission checks, run after a route matched and before dialing. Pure and
 * in-memory: CIDR matching is a couple of bigint operations. The connection caps (route
 * and tenant) come after these, from `limits.ts`; the new-connection rate per client
 * address comes before matching, from `rate-limit.ts`.
 */
import { anyCidrContains, type IpAddress } from '@switchyard/core';
import type { RefusalCode } from '../errors.js';
import type { RouteEntry } from '../router/route-table.js';

export function admit(route: RouteEntry, client: IpAddress | null): RefusalCode | null {
  if (!route.enabled) return 'route_disabled';
  if (route.allowedSources.length > 0 && (!client || !anyCidrContains(route.allowedSources, client))) return 'source_not_allowed';
  return null;
}
