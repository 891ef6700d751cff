/**
 * Routing by the `endpoint` startup option (the Neon convention) for PostgreSQL clients that
 * send no SNI: libpq before 14 or with `sslsni=0`, `host` given as an IP address, drivers
 * without SNI. The client puts `endpoint=<name>` in the `options` startup parameter
 * (`options=endpoint%3Dorders.acme` in a URI, `options=endpoint=orders.acme` as a keyword,
 * or `PGOPTIONS=endpoint=orders.acme`); the proxy sees it only after terminating TLS.
 *
 * How a name maps to a route host name (on the listener the client connected to):
 *  1. a name ending in the platform's base domain is the full host name;
 *  2. otherwise `<name>.<base domain>` — `orders.acme` → `orders.acme.db.example.com`, i.e.
 *     the host name's labels below the base domain (`<database>.<tenant>`);
 *  3. otherwise the name as a full host name (custom host names such as `pg.acme.com`).
 * Names are matched like SNI (lower case, one trailing dot ignored, wildcard routes apply).
 * A single label (`orders`) names no route: database names repeat across tenants.
 */
import type { RefusalCode } from '../errors.js';
import { normalizeServerName, type RouteEntry, type RouteTable } from '../router/route-table.js';

export function routeForEndpoint(
  table: Pick<RouteTable, 'match'>,
  listener: string,
  name: string,
  baseDomain: string,
): RouteEntry | Extract<RefusalCode, 'unknown_host' | 'endpoint_invalid'> {
  const host = normalizeServerName(name);
  if (host === null || !host.includes('.')) return 'endpoint_invalid';
  const base = baseDomain.toLowerCase();
  if (host === base || host.endsWith(`.${base}`)) return table.match(listener, host) ?? 'unknown_host';
  return table.match(listener, `${host}.${base}`) ?? table.match(listener, host) ?? 'unknown_host';
}
