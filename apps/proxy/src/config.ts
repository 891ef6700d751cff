/**
 * The proxy's whole configuration, validated once at boot. Nothing else reads process.env.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { configProblems, DEFAULT_LISTENERS_TEXT, parseCidr, parseIp, parseListeners, parsePortPool, type Cidr, type ListenerSpec } from '@switchyard/core';
import { keyringFromConfig, type Keyring } from '@switchyard/pki';
import { DEFAULT_MAX_CLIENT_HELLO_BYTES } from '@switchyard/wire';
import { z } from 'zod';

const ms = (def: number) => z.coerce.number().int().min(1).max(24 * 3600 * 1000).default(def);
/** Like `ms`, but 0 means off. */
const msOrOff = (def: number) => z.coerce.number().int().min(0).max(7 * 24 * 3600 * 1000).default(def);

/** `20/s`, `600/m` or a bare number (per second); `0` or `off` disables. */
const RATE = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|second|m|min|minute))?\s*$/i;
function parseRate(text: string): number | null {
  if (/^\s*(off|0)?\s*$/i.test(text)) return null;
  const m = RATE.exec(text);
  if (!m) throw new Error(`expected e.g. 20/s or 600/m, got "${text}"`);
  const n = Number(m[1]);
  const perSec = m[2] && m[2].toLowerCase().startsWith('m') ? n / 60 : n;
  return perSec > 0 ? perSec : null;
}

/** `name=ms,name=ms`: per-listener idle timeouts overriding PROXY_IDLE_TIMEOUT_MS. */
function parseIdleOverrides(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z0-9_-]+)\s*=\s*(\d+)$/i.exec(part);
    if (!m) throw new Error(`expected listener=milliseconds, got "${part}"`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Every variable this process reads; config.test.ts holds docs/configuration.md to it. */
export const EnvSchema = z.object({
  DATABASE_URL: z.string().url({ message: 'DATABASE_URL must be a postgres:// URL' }),
  SWITCHYARD_LISTENERS: z.string().default(DEFAULT_LISTENERS_TEXT),
  PROXY_ID: z.string().min(1).max(200).optional(),
  PROXY_ADMIN_HOST: z.string().default('0.0.0.0'),
  PROXY_ADMIN_PORT: z.coerce.number().int().min(0).max(65535).default(9480),
  /** Whole handshake (first byte to upstream established). Slow or silent clients are cut here. */
  PROXY_HANDSHAKE_TIMEOUT_MS: ms(10_000),
  PROXY_CONNECT_TIMEOUT_MS: ms(5_000),
  PROXY_MAX_HELLO_BYTES: z.coerce.number().int().min(512).max(65536).default(DEFAULT_MAX_CLIENT_HELLO_BYTES),
  PROXY_HEARTBEAT_INTERVAL_MS: ms(5_000),
  /** Shortest gap between the extra beats that connections opening or closing trigger (live view). */
  PROXY_HEARTBEAT_SOON_MS: ms(300),
  /** Safety net for lost notifications: compare versions this often even without NOTIFY. */
  PROXY_RESYNC_INTERVAL_MS: ms(30_000),
  PROXY_DRAIN_TIMEOUT_MS: ms(30_000),
  /** On SIGTERM: how long to keep accepting after readiness turned false (load balancer catch-up). */
  PROXY_ACCEPT_GRACE_MS: msOrOff(0),
  /** Close a proxied connection after this long without a byte either way. 0 = off (default: database sessions idle for hours legitimately). */
  PROXY_IDLE_TIMEOUT_MS: msOrOff(0),
  PROXY_IDLE_TIMEOUTS: z.string().default(''),
  /** New connections per client address (token bucket), e.g. `20/s`; off by default. */
  PROXY_CLIENT_RATE: z.string().default('off'),
  PROXY_CLIENT_BURST: z.coerce.number().int().min(1).max(1_000_000).optional(),
  PROXY_CLIENT_RATE_TRACKED: z.coerce.number().int().min(100).max(10_000_000).default(100_000),
  /** Per-route metric series: labelled by route id (default), host name, or not at all. */
  PROXY_METRICS_ROUTE_LABEL: z.enum(['id', 'hostname', 'off']).default('id'),
  /** Most distinct route label values per process; the rest are counted as route="_other". */
  PROXY_METRICS_ROUTE_MAX: z.coerce.number().int().min(1).max(100_000).default(1000),
  PROXY_AUDIT_QUEUE_MAX: z.coerce.number().int().min(100).max(10_000_000).default(100_000),
  PROXY_AUDIT_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
  PROXY_AUDIT_FLUSH_MS: ms(1_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Ports the API may assign as dedicated ports; the proxy binds only these. */
  SWITCHYARD_DEDICATED_PORTS: z.string().default(''),
  /** Address dedicated-port listeners bind. */
  PROXY_DEDICATED_HOST: z.string().default('0.0.0.0'),
  /** Local addresses routes may use as their egress source (comma-separated IPs). */
  SWITCHYARD_EGRESS_SOURCE_ADDRESSES: z.string().default(''),
  /** Let upstreams resolve to loopback (development and tests only). */
  PROXY_ALLOW_LOOPBACK_UPSTREAMS: z.enum(['true', 'false']).default('false'),
  /** Extra CIDRs no upstream may be reached in (e.g. the control database's network). */
  PROXY_UPSTREAM_DENY_CIDRS: z.string().default(''),
  /** How long an upstream name's DNS answer is used before it is refreshed; 0: look up per connection. */
  PROXY_DNS_TTL_MS: msOrOff(5_000),
  /** How long past that an answer is still used while DNS fails (not when the name is gone). */
  PROXY_DNS_STALE_MS: msOrOff(60_000),
  /** Keyring that opens certificate private keys (terminate mode); same value as the API's. */
  SWITCHYARD_KEYS: z.string().optional(),
  SWITCHYARD_KEYS_FILE: z.string().optional(),
  SWITCHYARD_ACTIVE_KEY_ID: z.string().optional(),
  /**
   * Worker processes (node:cluster) sharing the listeners; default one per core. `1` runs
   * today's single process with no cluster at all. At most 127 (worker ids fit the top byte
   * of PostgreSQL cancel keys).
   */
  PROXY_WORKERS: z.coerce.number().int().min(1).max(127).optional(),
  /**
   * How new connections reach workers: `none` (every worker accepts on the shared socket
   * itself: no hand-off, ~25–30 % less CPU per new connection in the benchmark, but the
   * kernel decides the spread — 41/59 at worst over two workers) or `rr` (node:cluster
   * round-robin: the primary accepts and hands each connection to the next worker; even
   * spread). Chosen by measurement: docs/performance.md "Cluster hand-off".
   */
  PROXY_CLUSTER_SCHEDULING: z.enum(['rr', 'none']).default('none'),
  /** Set by the cluster primary on the workers it forks (1–127); never set it yourself. */
  SWITCHYARD_WORKER_ID: z.coerce.number().int().min(1).max(127).optional(),
  /** Route host names are <database>.<tenant>.<base domain>; the endpoint option's short form is relative to it. */
  SWITCHYARD_BASE_DOMAIN: z.string().toLowerCase().default('db.switchyard.localhost'),
  /**
   * Certificate (PEM chain, leaf first) and key presented to PostgreSQL clients that send no
   * SNI, so they can name their database with the `endpoint` option (terminate-mode routes).
   * Unset: such clients get a TLS unrecognized_name alert.
   */
  PROXY_DEFAULT_CERT_FILE: z.string().optional(),
  PROXY_DEFAULT_KEY_FILE: z.string().optional(),
});

export interface ProxyConfig {
  databaseUrl: string;
  listeners: ListenerSpec[];
  proxyId: string;
  admin: { host: string; port: number };
  handshakeTimeoutMs: number;
  connectTimeoutMs: number;
  maxHelloBytes: number;
  heartbeatIntervalMs: number;
  heartbeatSoonMs: number;
  resyncIntervalMs: number;
  drainTimeoutMs: number;
  acceptGraceMs: number;
  /** Idle timeout per listener name in ms; 0 or absent = off. */
  idleTimeoutMs: { default: number; byListener: Record<string, number> };
  /** New-connection rate limit per client address; null = off. */
  clientRate: { ratePerSec: number; burst: number; maxTracked: number } | null;
  audit: { queueMax: number; batchSize: number; flushMs: number };
  metrics: { routeLabel: 'id' | 'hostname' | 'off'; routeLabelMax: number };
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
  dedicatedPorts: ReadonlySet<number>;
  dedicatedHost: string;
  egressSourceAddresses: ReadonlySet<string>;
  allowLoopbackUpstreams: boolean;
  upstreamDenyCidrs: Cidr[];
  /** Upstream names' answers: kept `ttlMs`, used `staleMs` longer while DNS fails. */
  dns: { ttlMs: number; staleMs: number };
  /** Null: terminate-mode routes are refused (passthrough needs no keys). */
  keyring: Keyring | null;
  /** Worker processes; 1 = single process, no cluster. */
  workers: number;
  /** This process's worker id in cluster mode (1–127); 0 in a single process or the primary. */
  workerId: number;
  /** Cluster connection distribution (PROXY_CLUSTER_SCHEDULING). */
  clusterScheduling: 'rr' | 'none';
  baseDomain: string;
  /** The certificate for PostgreSQL handshakes without SNI; null = refuse them (no_sni). */
  defaultCertificate: { certPem: string; keyPem: string } | null;
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  // Every bad variable in one message (the schema's problems and the checks below together).
  const { problems, env: e, check } = configProblems(EnvSchema.safeParse(env), env);
  const listeners = check('SWITCHYARD_LISTENERS', () => parseListeners(e.SWITCHYARD_LISTENERS ?? DEFAULT_LISTENERS_TEXT));
  const dedicated = check('SWITCHYARD_DEDICATED_PORTS', () => parsePortPool(e.SWITCHYARD_DEDICATED_PORTS ?? ''));
  const egress = list(e.SWITCHYARD_EGRESS_SOURCE_ADDRESSES ?? '');
  for (const a of egress) if (!parseIp(a)) problems.push(`SWITCHYARD_EGRESS_SOURCE_ADDRESSES: "${a}" is not an IP address`);
  const deny = list(e.PROXY_UPSTREAM_DENY_CIDRS ?? '').map((c) => {
    const cidr = parseCidr(c);
    if (!cidr) problems.push(`PROXY_UPSTREAM_DENY_CIDRS: "${c}" is not a CIDR`);
    return cidr;
  });
  const ratePerSec = check('PROXY_CLIENT_RATE', () => parseRate(e.PROXY_CLIENT_RATE ?? 'off'));
  const idleOverrides = check('PROXY_IDLE_TIMEOUTS', () => parseIdleOverrides(e.PROXY_IDLE_TIMEOUTS ?? ''));
  const keysFile = e.SWITCHYARD_KEYS_FILE ? check('SWITCHYARD_KEYS_FILE', () => readFileSync(e.SWITCHYARD_KEYS_FILE!, 'utf8')) : null;
  const keyring =
    keysFile === undefined ? undefined : check('SWITCHYARD_KEYS', () => keyringFromConfig({ keys: e.SWITCHYARD_KEYS, fileText: keysFile, activeKeyId: e.SWITCHYARD_ACTIVE_KEY_ID }));
  let defaultCertificate: ProxyConfig['defaultCertificate'] = null;
  if (Boolean(e.PROXY_DEFAULT_CERT_FILE) !== Boolean(e.PROXY_DEFAULT_KEY_FILE)) {
    problems.push('PROXY_DEFAULT_CERT_FILE and PROXY_DEFAULT_KEY_FILE go together');
  } else if (e.PROXY_DEFAULT_CERT_FILE && e.PROXY_DEFAULT_KEY_FILE) {
    defaultCertificate =
      check('PROXY_DEFAULT_CERT_FILE/PROXY_DEFAULT_KEY_FILE', () => ({ certPem: readFileSync(e.PROXY_DEFAULT_CERT_FILE!, 'utf8'), keyPem: readFileSync(e.PROXY_DEFAULT_KEY_FILE!, 'utf8') })) ??
      null;
  }
  if (problems.length > 0) throw new Error(`invalid proxy configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  // Past the throw every check passed: the values are set.
  return {
    databaseUrl: e.DATABASE_URL,
    baseDomain: e.SWITCHYARD_BASE_DOMAIN,
    defaultCertificate,
    listeners: listeners!,
    proxyId: e.PROXY_ID ?? `${hostname()}-${process.pid}`,
    admin: { host: e.PROXY_ADMIN_HOST, port: e.PROXY_ADMIN_PORT },
    handshakeTimeoutMs: e.PROXY_HANDSHAKE_TIMEOUT_MS,
    connectTimeoutMs: e.PROXY_CONNECT_TIMEOUT_MS,
    maxHelloBytes: e.PROXY_MAX_HELLO_BYTES,
    heartbeatIntervalMs: e.PROXY_HEARTBEAT_INTERVAL_MS,
    heartbeatSoonMs: e.PROXY_HEARTBEAT_SOON_MS,
    resyncIntervalMs: e.PROXY_RESYNC_INTERVAL_MS,
    drainTimeoutMs: e.PROXY_DRAIN_TIMEOUT_MS,
    acceptGraceMs: e.PROXY_ACCEPT_GRACE_MS,
    idleTimeoutMs: { default: e.PROXY_IDLE_TIMEOUT_MS, byListener: idleOverrides! },
    clientRate:
      ratePerSec == null
        ? null
        : { ratePerSec, burst: e.PROXY_CLIENT_BURST ?? Math.max(10, Math.ceil(ratePerSec)), maxTracked: e.PROXY_CLIENT_RATE_TRACKED },
    metrics: { routeLabel: e.PROXY_METRICS_ROUTE_LABEL, routeLabelMax: e.PROXY_METRICS_ROUTE_MAX },
    audit: { queueMax: e.PROXY_AUDIT_QUEUE_MAX, batchSize: e.PROXY_AUDIT_BATCH_SIZE, flushMs: e.PROXY_AUDIT_FLUSH_MS },
    logLevel: e.LOG_LEVEL,
    dedicatedPorts: new Set(dedicated),
    dedicatedHost: e.PROXY_DEDICATED_HOST,
    egressSourceAddresses: new Set(egress),
    allowLoopbackUpstreams: e.PROXY_ALLOW_LOOPBACK_UPSTREAMS === 'true',
    upstreamDenyCidrs: deny.filter((c): c is Cidr => c !== null),
    dns: { ttlMs: e.PROXY_DNS_TTL_MS, staleMs: e.PROXY_DNS_STALE_MS },
    keyring: keyring ?? null,
    workers: e.PROXY_WORKERS ?? Math.min(127, Math.max(1, availableParallelism())),
    workerId: e.SWITCHYARD_WORKER_ID ?? 0,
    clusterScheduling: e.PROXY_CLUSTER_SCHEDULING,
  };
}
