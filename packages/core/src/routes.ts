/**
 * The route model as the proxy sees it: one row per external-access route, joined with its
 * database and tenant. The API writes routes; the proxy loads them through
 * `ROUTE_SNAPSHOT_SQL` and the change log, and never writes them.
 */
import type { DisableBehavior, Engine, TlsMode } from './engines.js';

/** NOTIFY channel carrying the new config version after each committed route change. */
export const CONFIG_CHANNEL = 'switchyard_config';
/** NOTIFY channel on which proxies announce `<proxyId>:<appliedVersion>` after applying. */
export const PROXY_APPLIED_CHANNEL = 'switchyard_proxy_applied';

export interface Endpoint {
  host: string;
  port: number;
}

export interface RouteRecord {
  id: string;
  hostname: string;
  listener: string;
  tlsMode: TlsMode;
  enabled: boolean;
  disableBehavior: DisableBehavior;
  sourceCidrs: string[];
  maxConnections: number | null;
  version: number;
  tenantId: string;
  /** The tenant's cap on concurrent connections across all its routes (null: none). */
  tenantMaxConnections: number | null;
  tenantSlug: string;
  databaseId: string;
  databaseName: string;
  engine: Engine;
  endpoints: Endpoint[];
}

/**
 * Selects every route with what the proxy needs. `$1` (nullable uuid[]) narrows to some
 * routes for delta application; null loads all.
 */
export const ROUTE_SNAPSHOT_SQL = `
  SELECT r.id, r.hostname, r.listener, r.tls_mode, r.enabled, r.disable_behavior,
         r.source_cidrs, r.max_connections, r.version::float8 AS version,
         t.id AS tenant_id, t.slug AS tenant_slug, t.max_connections AS tenant_max_connections,
         d.id AS database_id, d.name AS database_name, d.engine,
         d.upstream_host, d.upstream_port, d.endpoints
    FROM routes r
    JOIN databases d ON d.id = r.database_id
    JOIN tenants t ON t.id = r.tenant_id
   WHERE $1::uuid[] IS NULL OR r.id = ANY($1::uuid[])`;

export interface RouteSnapshotRow {
  id: string;
  hostname: string;
  listener: string;
  tls_mode: string;
  enabled: boolean;
  disable_behavior: string;
  source_cidrs: string[] | null;
  max_connections: number | null;
  version: number;
  tenant_id: string;
  tenant_slug: string;
  tenant_max_connections: number | null;
  database_id: string;
  database_name: string;
  engine: string;
  upstream_host: string;
  upstream_port: number;
  endpoints: Endpoint[] | null;
}

export function routeFromRow(row: RouteSnapshotRow): RouteRecord {
  const endpoints = row.endpoints && row.endpoints.length > 0 ? row.endpoints : [{ host: row.upstream_host, port: row.upstream_port }];
  return {
    id: row.id,
    hostname: row.hostname,
    listener: row.listener,
    tlsMode: row.tls_mode as TlsMode,
    enabled: row.enabled,
    disableBehavior: row.disable_behavior as DisableBehavior,
    sourceCidrs: row.source_cidrs ?? [],
    maxConnections: row.max_connections,
    version: Number(row.version),
    tenantId: row.tenant_id,
    tenantSlug: row.tenant_slug,
    tenantMaxConnections: row.tenant_max_connections,
    databaseId: row.database_id,
    databaseName: row.database_name,
    engine: row.engine as Engine,
    endpoints,
  };
}
