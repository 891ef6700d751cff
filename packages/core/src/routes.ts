/**
 * The route model as the proxy sees it: one row per external-access route, joined with its
 * database and tenant. The API writes routes; the proxy loads them through
 * `ROUTE_SNAPSHOT_SQL` and the change log, and never writes them.
 */
import { formatIp, parseIp } from './cidr.js';
import { BALANCE_POLICIES, type BalancePolicy, type DisableBehavior, type Engine, type HealthCheck, type TlsMode, type UpstreamProxyProtocol } from './engines.js';

/** NOTIFY channel carrying the new config version after each committed route change. */
export const CONFIG_CHANNEL = 'switchyard_config';
/** NOTIFY channel on which proxies announce `<proxyId>:<appliedVersion>` after applying. */
export const PROXY_APPLIED_CHANNEL = 'switchyard_proxy_applied';

export interface Endpoint {
  host: string;
  port: number;
}

/** What a terminating proxy needs of a route's certificate (built into a SecureContext). */
export interface RouteCertificate {
  id: string;
  /** PEM chain, leaf first. */
  certPem: string;
  /** Keyring ciphertext of the PEM private key (AAD = certificate id); never logged. */
  keyCiphertext: string | null;
  fingerprint: string;
  /** Epoch milliseconds. */
  notAfter: number;
}

/**
 * A pending ACME challenge for a route's host name (docs/certificates.md "ACME"). Proxies
 * answer it themselves: TLS-ALPN-01 (RFC 8737) on TLS listeners with `certPem` and the key
 * in `keyCiphertext` (keyring, AAD = challenge id); HTTP-01 on `http` listeners with
 * `keyAuthorization` at `/.well-known/acme-challenge/<token>`.
 */
export interface AcmeChallengeRecord {
  id: string;
  type: 'tls-alpn-01' | 'http-01';
  token: string;
  keyAuthorization: string;
  certPem: string | null;
  keyCiphertext: string | null;
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
  // Routing and upstream options: optional so records built by hand (tests, benchmarks) can
  // leave them out; absent means the default (round-robin, no checks, no PROXY header…).
  /** How connections spread over `endpoints`. */
  balance?: BalancePolicy;
  /** Active health checks of the endpoints; null: none (every endpoint counts as up). */
  healthCheck?: HealthCheck | null;
  /** PROXY protocol header sent to the upstream before any other byte; null: none. */
  proxyProtocol?: UpstreamProxyProtocol | null;
  /** Port of the route's own listener (clients without SNI); null: shared ports only. */
  dedicatedPort?: number | null;
  /** `address:port` a `destination` listener routes to this route (from the PROXY header). */
  destination?: string | null;
  /** Local address upstream connections are made from (egress with a static source IP). */
  sourceAddress?: string | null;
  /** Terminate mode: the certificate presented to clients (null in passthrough). */
  certificate: RouteCertificate | null;
  /** Terminate mode: TLS (true) or plaintext (false) towards the upstream. */
  upstreamTls: boolean;
  /** A pending ACME challenge for this host name, answered by the proxy itself (absent: none). */
  acmeChallenge?: AcmeChallengeRecord | null;
  /** Terminate mode: PEM CA the upstream certificate must chain to; null = not verified. */
  upstreamCa: string | null;
  /**
   * Terminate mode with upstream TLS: the name sent as SNI and checked against the upstream's
   * certificate; absent or null: the endpoint's host name (an IP address: no SNI, checked
   * against the address).
   */
  upstreamServerName?: string | null;
}

/** What the proxy needs of a route, from `routes r` and its joins (ROUTE_FROM). */
const ROUTE_COLUMNS = `
         r.id, r.hostname, r.listener, r.tls_mode, r.enabled, r.disable_behavior,
         r.source_cidrs, r.max_connections, r.version::float8 AS version,
         t.id AS tenant_id, t.slug AS tenant_slug, t.max_connections AS tenant_max_connections,
         d.id AS database_id, d.name AS database_name, d.engine,
         d.upstream_host, d.upstream_port, d.endpoints, d.balance_policy, d.health_check,
         r.proxy_protocol, r.dedicated_port, r.destination, r.source_address,
         r.upstream_tls, r.upstream_ca, r.upstream_server_name, c.id AS certificate_id, c.cert_pem, c.key_ciphertext,
         c.fingerprint AS certificate_fingerprint, c.not_after AS certificate_not_after,
         ch.id AS acme_id, ch.type AS acme_type, ch.token AS acme_token,
         ch.key_authorization AS acme_key_authorization, ch.cert_pem AS acme_cert_pem,
         ch.key_ciphertext AS acme_key_ciphertext`;

const ROUTE_FROM = `
    FROM routes r
    JOIN databases d ON d.id = r.database_id
    JOIN tenants t ON t.id = r.tenant_id
    LEFT JOIN certificates c ON c.id = r.certificate_id AND r.tls_mode = 'terminate'
    LEFT JOIN acme_challenges ch ON ch.hostname = r.hostname`;

/**
 * Selects every route with what the proxy needs. `$1` (nullable uuid[]) narrows to some
 * routes; null loads all.
 */
export const ROUTE_SNAPSHOT_SQL = `
  SELECT ${ROUTE_COLUMNS}
  ${ROUTE_FROM}
   WHERE $1::uuid[] IS NULL OR r.id = ANY($1::uuid[])`;

/**
 * A proxy's delta, in one round trip and one snapshot: a simple-protocol batch (several
 * statements, so the numbers are inlined — integers only) in a REPEATABLE READ READ ONLY
 * transaction. Results, in order: BEGIN; the current version and the commit time of the
 * change the table ends with (`fence`, checked after a reconnect); the changes after `have`
 * (at most 10,001: the log holds 10,000, so more reads as a gap); the changed routes as
 * they are now (a changed id without a row was deleted); COMMIT. Each statement is planned
 * on its own with real estimates — one statement joining all of it cost the server twice
 * the planning time, for every proxy and every change.
 */
export function routeDeltaSql(have: number, fence: number): string {
  if (!Number.isSafeInteger(have) || !Number.isSafeInteger(fence)) throw new Error(`route delta: versions must be integers (${have}, ${fence})`);
  const changes = `SELECT version, route_id, created_at FROM config_changes WHERE version > ${have} ORDER BY version LIMIT 10001`;
  return [
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    `SELECT s.version::float8 AS latest, f.created_at AS fence_at FROM config_state s LEFT JOIN config_changes f ON f.version = ${fence} WHERE s.id = 1`,
    changes.replace('SELECT version,', 'SELECT version::float8 AS version,'),
    `SELECT ${ROUTE_COLUMNS} ${ROUTE_FROM} WHERE r.id IN (SELECT route_id FROM (${changes}) ch)`,
    'COMMIT',
  ].join(';\n');
}

export interface RouteDeltaHead {
  latest: number;
  fence_at: Date | null;
}

export interface RouteDeltaChange {
  version: number;
  route_id: string;
  created_at: Date;
}

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
  balance_policy: string | null;
  health_check: HealthCheck | null;
  proxy_protocol: string | null;
  dedicated_port: number | null;
  destination?: string | null;
  source_address: string | null;
  upstream_tls?: boolean;
  upstream_ca?: string | null;
  upstream_server_name?: string | null;
  certificate_id?: string | null;
  cert_pem?: string | null;
  key_ciphertext?: string | null;
  certificate_fingerprint?: string | null;
  certificate_not_after?: Date | null;
  acme_id?: string | null;
  acme_type?: string | null;
  acme_token?: string | null;
  acme_key_authorization?: string | null;
  acme_cert_pem?: string | null;
  acme_key_ciphertext?: string | null;
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
    tenantMaxConnections: row.tenant_max_connections ?? null,
    databaseId: row.database_id,
    databaseName: row.database_name,
    engine: row.engine as Engine,
    endpoints,
    balance: (BALANCE_POLICIES as readonly string[]).includes(row.balance_policy ?? '') ? (row.balance_policy as BalancePolicy) : 'round-robin',
    healthCheck: row.health_check ?? null,
    proxyProtocol: row.proxy_protocol === 'v1' || row.proxy_protocol === 'v2' ? row.proxy_protocol : null,
    dedicatedPort: row.dedicated_port ?? null,
    destination: row.destination ?? null,
    sourceAddress: row.source_address ?? null,
    certificate:
      row.certificate_id && row.cert_pem
        ? {
            id: row.certificate_id,
            certPem: row.cert_pem,
            keyCiphertext: row.key_ciphertext ?? null,
            fingerprint: row.certificate_fingerprint ?? '',
            notAfter: row.certificate_not_after ? new Date(row.certificate_not_after).getTime() : 0,
          }
        : null,
    upstreamTls: row.upstream_tls ?? true,
    upstreamCa: row.upstream_ca ?? null,
    upstreamServerName: row.upstream_server_name ?? null,
    acmeChallenge:
      row.acme_id && (row.acme_type === 'tls-alpn-01' || row.acme_type === 'http-01')
        ? {
            id: row.acme_id,
            type: row.acme_type,
            token: row.acme_token ?? '',
            keyAuthorization: row.acme_key_authorization ?? '',
            certPem: row.acme_cert_pem ?? null,
            keyCiphertext: row.acme_key_ciphertext ?? null,
          }
        : null,
  };
}

/**
 * `10.1.2.3:443` / `[fd00::1]:443` → canonical `address:port` (IPv4-mapped IPv6 as IPv4),
 * the key a `destination` listener matches the PROXY header's destination against.
 * Null when not an IP literal with a port.
 */
export function canonicalDestination(text: string): string | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  const ip = parseIp(m[1] ?? m[2]!);
  if (!ip) return null;
  return destinationKey(formatIp(ip), ip.family, port);
}

export function destinationKey(address: string, family: 4 | 6, port: number): string {
  return family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}
