/**
 * The API's whole configuration, validated once at boot. Nothing else reads process.env.
 */
import { readFileSync } from 'node:fs';
import { configProblems, DEFAULT_LISTENERS_TEXT, isValidHostname, parseCidr, parseListeners, parseIp, parsePortPool, type ListenerSpec } from '@switchyard/core';
import { keyringFromConfig, type Keyring } from '@switchyard/pki';
import { z } from 'zod';

/** Every variable this process reads; config.test.ts holds docs/configuration.md to it. */
export const EnvSchema = z.object({
  DATABASE_URL: z.string().url({ message: 'DATABASE_URL must be a postgres:// URL' }),
  API_HOST: z.string().default('0.0.0.0'),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(8480),
  /**
   * Reverse proxies / load balancers in front of the API (comma-separated IPs or CIDRs). From
   * these peers only, `X-Forwarded-For` gives the client address (login throttling, the audit
   * trail, `/auth/me`) and `X-Forwarded-Proto` the scheme (Secure cookies with COOKIE_SECURE=auto).
   * Empty: the headers are ignored and the peer is the client.
   */
  API_TRUSTED_PROXIES: z.string().default(''),
  /**
   * Prometheus metrics (`GET /metrics`) on their own listener, never on API_PORT (which faces
   * users and the ingress). 0.0.0.0 so Prometheus can reach the pod; keep the port closed to
   * everyone else (NetworkPolicy). Port 0 or empty: no metrics listener.
   */
  API_METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  API_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9482),
  /** Domain under which route hostnames are minted: <database>.<tenant>.<base domain>. */
  SWITCHYARD_BASE_DOMAIN: z
    .string()
    .toLowerCase()
    .refine((v) => isValidHostname(v), 'must be a DNS name such as db.example.com')
    .default('db.switchyard.localhost'),
  /** Host name clients dial when a route hostname has no DNS record of its own. */
  SWITCHYARD_PUBLIC_ADDRESS: z.string().optional(),
  SWITCHYARD_LISTENERS: z.string().default(DEFAULT_LISTENERS_TEXT),
  /**
   * Where Check connection dials the proxies' listeners (a Service name in Kubernetes); it
   * then uses each listener's public port. Unset: the listener's own address and port (an
   * unspecified bind address means this host).
   */
  SWITCHYARD_CHECK_HOST: z.string().min(1).optional(),
  /** Deadline of each Check connection step. */
  CHECK_CONNECTION_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  /**
   * Bootstrap platform-admin bearer token. Optional: admins can also use database tokens with
   * the platform-admin role. Must be long enough not to be guessable.
   */
  SWITCHYARD_ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * Upstream suffixes a new tenant may use unless the admin sets its policy; `{tenant}` is
   * replaced by the tenant slug. Comma-separated.
   */
  SWITCHYARD_DEFAULT_UPSTREAM_SUFFIXES: z.string().default('{tenant}.svc.cluster.local'),
  /**
   * Limits a new tenant gets unless the platform admin sets them when creating it:
   * `databases=50,externalAccess=20,dedicatedPorts=2`; an omitted one stays unlimited. Existing
   * tenants are not changed.
   */
  SWITCHYARD_TENANT_DEFAULT_LIMITS: z.string().default(''),
  /** Upper bound for `?wait=true` on route changes. */
  PROPAGATION_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** A proxy counts as live when its last heartbeat is this recent. */
  PROXY_LIVENESS_MS: z.coerce.number().int().min(1000).max(600_000).default(15_000),
  /** Connection events older than this are deleted (hourly, in batches). */
  CONNECTION_EVENTS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /** Folder with the built dashboard (apps/web/dist); served at / when present. */
  WEB_DIST_DIR: z.string().optional(),
  /** Absolute lifetime of a dashboard session, from login. */
  SESSION_TTL_MINUTES: z.coerce.number().int().min(5).max(43_200).default(720),
  /** A session unused for this long ends (checked per request, refreshed at most once a minute). */
  SESSION_IDLE_MINUTES: z.coerce.number().int().min(1).max(43_200).default(60),
  /**
   * Secure flag of the session cookie: `auto` sets it when the request came over TLS (the API
   * itself serving https); set `true` behind a TLS-terminating load balancer.
   */
  COOKIE_SECURE: z.enum(['auto', 'true', 'false']).default('auto'),
  /** Failed logins per account within the window before further attempts are refused. */
  LOGIN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).max(10_000).default(10),
  /** Login attempts per client address within the window. */
  LOGIN_MAX_ATTEMPTS_PER_ADDRESS: z.coerce.number().int().min(1).max(100_000).default(50),
  LOGIN_RATE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Pool of dedicated ports (`10000-10099`; outside the kernel's local port range) for routes whose clients cannot send SNI; empty: none. */
  SWITCHYARD_DEDICATED_PORTS: z.string().default(''),
  /** Local addresses the proxies can use as a route's egress source (comma-separated IPs). */
  SWITCHYARD_EGRESS_SOURCE_ADDRESSES: z.string().default(''),
  /** Let databases point at loopback addresses (development and tests only). */
  SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: z.enum(['true', 'false']).default('false'),
  NODE_ENV: z.string().optional(),
  /** Keyring encrypting certificate private keys at rest (`id:base64key,…`); never logged. */
  SWITCHYARD_KEYS: z.string().optional(),
  /**
   * ACME (docs/certificates.md "ACME"): the CA's directory URL — Let's Encrypt production
   * https://acme-v02.api.letsencrypt.org/directory, staging
   * https://acme-staging-v02.api.letsencrypt.org/directory, or any RFC 8555 CA. Unset: off.
   */
  ACME_DIRECTORY_URL: z.string().url().optional(),
  /** Contact address registered with the ACME account (expiry notices). */
  ACME_EMAIL: z.string().email().optional(),
  /** External account binding, for CAs that require it (ZeroSSL, Google, most private CAs). */
  ACME_EAB_KID: z.string().min(1).optional(),
  ACME_EAB_HMAC_KEY: z.string().min(1).optional(),
  /** PEM bundle trusted for the ACME directory's own HTTPS (a private CA; pebble in tests). */
  ACME_CA_FILE: z.string().optional(),
  /**
   * PEM bundle of the root(s) a private ACME CA's certificates chain to (step-ca, pebble in
   * tests). ACME serves chains that end at an intermediate; clients are handed the root from
   * here as their CA file. Not needed for publicly trusted CAs (clients use the system store).
   */
  ACME_ROOTS_FILE: z.string().optional(),
  /** Challenge used when a request names none: tls-alpn-01 (port 443) or http-01 (port 80). */
  ACME_DEFAULT_CHALLENGE: z.enum(['tls-alpn-01', 'http-01']).default('tls-alpn-01'),
  /**
   * The platform's public addresses (comma-separated IPs). When set, a host name must resolve
   * to one of them before an order is placed; a name that does not is refused with a clear
   * error instead of burning a failed validation.
   */
  ACME_PUBLIC_ADDRESSES: z.string().default(''),
  /** Rate limits, checked before the CA would refuse (defaults: Let's Encrypt's). */
  ACME_LIMIT_CERTS_PER_DOMAIN_WEEK: z.coerce.number().int().min(1).max(1_000_000).default(50),
  ACME_LIMIT_DUPLICATES_WEEK: z.coerce.number().int().min(1).max(1_000_000).default(5),
  ACME_LIMIT_FAILED_PER_HOUR: z.coerce.number().int().min(1).max(1_000_000).default(5),
  /** First retry after a failure; doubles per consecutive failure, capped at a day. */
  ACME_RETRY_BASE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(3600),
  /** How often the worker looks for due orders and renewals. */
  ACME_WORKER_INTERVAL_MS: z.coerce.number().int().min(50).max(3_600_000).default(30_000),
  /** A mounted file (Kubernetes Secret) with more `id:base64key` lines. */
  SWITCHYARD_KEYS_FILE: z.string().optional(),
  /** Key that encrypts; defaults to the last key listed. */
  SWITCHYARD_ACTIVE_KEY_ID: z.string().optional(),
});

/** A comma-separated list of IP addresses; each one that is not an address is a problem of `name`. */
function ipList(name: string, text: string | undefined, problems: string[]): string[] {
  const list = (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((a) => !parseIp(a));
  if (bad.length > 0) problems.push(`${name}: ${bad.map((a) => `"${a}"`).join(', ')} ${bad.length === 1 ? 'is not an IP address' : 'are not IP addresses'}`);
  return list;
}

/** A comma-separated list of IP addresses or CIDRs (zero host bits), canonical; bad entries are problems of `name`. */
function cidrList(name: string, text: string | undefined, problems: string[]): string[] {
  const list = (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((a) => !parseCidr(a));
  if (bad.length > 0) problems.push(`${name}: ${bad.map((a) => `"${a}"`).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not an IP address or a CIDR with zero host bits`);
  return list.map((a) => parseCidr(a)?.text ?? a);
}

export interface ApiConfig {
  databaseUrl: string;
  host: string;
  port: number;
  /** Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (CIDRs); empty: none. */
  trustedProxies: string[];
  /** The metrics listener (metrics-server.ts); port 0: none. */
  metrics: { host: string; port: number };
  baseDomain: string;
  publicAddress: string | null;
  listeners: ListenerSpec[];
  check: { host: string | null; timeoutMs: number };
  adminToken: string | null;
  defaultUpstreamSuffixes: string[];
  /** SWITCHYARD_TENANT_DEFAULT_LIMITS: what a new tenant gets for each limit not in its create body. */
  tenantDefaultLimits: TenantLimitDefaults;
  propagationTimeoutMs: number;
  proxyLivenessMs: number;
  webDistDir: string | null;
  connectionEventsRetentionDays: number;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
  sessions: {
    ttlMs: number;
    idleMs: number;
    cookieSecure: 'auto' | 'always' | 'never';
  };
  loginRateLimit: {
    maxFailuresPerAccount: number;
    maxAttemptsPerAddress: number;
    windowMs: number;
  };
  /** Encrypts certificate keys at rest. Null (development only): certificates cannot be created. */
  keyring: Keyring | null;
  /** host:port of the control database, which no route may point at. */
  controlDatabase: { host: string; port: number };
  /** Ports the API may assign as dedicated ports, ascending. */
  dedicatedPorts: number[];
  egressSourceAddresses: string[];
  allowLoopbackUpstreams: boolean;
  /** ACME certificates; null when ACME_DIRECTORY_URL is unset. */
  acme: AcmeConfig | null;
}

export interface AcmeConfig {
  directoryUrl: string;
  email: string | null;
  eab: { kid: string; hmacKey: string } | null;
  /** Extra PEM trusted for the directory's HTTPS (private CAs). */
  caPem: string | null;
  /** Roots the CA's certificates chain to when it is not publicly trusted (handed to clients). */
  rootsPem: string | null;
  defaultChallenge: 'tls-alpn-01' | 'http-01';
  publicAddresses: string[];
  limits: { certsPerDomainWeek: number; duplicatesWeek: number; failedPerHour: number };
  retryBaseMs: number;
  workerIntervalMs: number;
}

export interface TenantLimitDefaults {
  maxDatabases: number | null;
  maxExternalAccess: number | null;
  maxDedicatedPorts: number | null;
}

const LIMIT_KEYS = { databases: 'maxDatabases', externalAccess: 'maxExternalAccess', dedicatedPorts: 'maxDedicatedPorts' } as const;

/** `databases=50,externalAccess=20,dedicatedPorts=2` → the limits; empty: none. */
export function parseTenantDefaultLimits(text: string): TenantLimitDefaults {
  const out: TenantLimitDefaults = { maxDatabases: null, maxExternalAccess: null, maxDedicatedPorts: null };
  const seen = new Set<string>();
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z]+)\s*=\s*(\S+)$/.exec(item);
    if (!m) throw new Error(`"${item}" is not name=number (e.g. databases=50,externalAccess=20,dedicatedPorts=2)`);
    const key = Object.hasOwn(LIMIT_KEYS, m[1]!) ? LIMIT_KEYS[m[1] as keyof typeof LIMIT_KEYS] : undefined;
    if (!key) throw new Error(`unknown limit "${m[1]}"; known: ${Object.keys(LIMIT_KEYS).join(', ')}`);
    if (seen.has(key)) throw new Error(`${m[1]} is given twice`);
    seen.add(key);
    if (!/^\d{1,7}$/.test(m[2]!) || Number(m[2]) > 1_000_000) throw new Error(`${m[1]}=${m[2]}: the limit must be a whole number from 0 to 1000000`);
    out[key] = Number(m[2]);
  }
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  // Every bad variable in one message (the schema's problems and the checks below together).
  const { problems, env: e, check } = configProblems(EnvSchema.safeParse(env), env);
  const listeners = check('SWITCHYARD_LISTENERS', () => parseListeners(e.SWITCHYARD_LISTENERS ?? DEFAULT_LISTENERS_TEXT));
  const dedicatedPorts = check('SWITCHYARD_DEDICATED_PORTS', () => parsePortPool(e.SWITCHYARD_DEDICATED_PORTS ?? ''));
  const tenantDefaultLimits = check('SWITCHYARD_TENANT_DEFAULT_LIMITS', () => parseTenantDefaultLimits(e.SWITCHYARD_TENANT_DEFAULT_LIMITS ?? ''));
  const trustedProxies = cidrList('API_TRUSTED_PROXIES', e.API_TRUSTED_PROXIES, problems);
  const egressSourceAddresses = ipList('SWITCHYARD_EGRESS_SOURCE_ADDRESSES', e.SWITCHYARD_EGRESS_SOURCE_ADDRESSES, problems);
  const publicAddresses = ipList('ACME_PUBLIC_ADDRESSES', e.ACME_PUBLIC_ADDRESSES, problems);
  const keysFile = e.SWITCHYARD_KEYS_FILE ? check('SWITCHYARD_KEYS_FILE', () => readFileSync(e.SWITCHYARD_KEYS_FILE!, 'utf8')) : null;
  const keyring =
    keysFile === undefined ? undefined : check('SWITCHYARD_KEYS', () => keyringFromConfig({ keys: e.SWITCHYARD_KEYS, fileText: keysFile, activeKeyId: e.SWITCHYARD_ACTIVE_KEY_ID }));
  if (keyring === null && e.NODE_ENV === 'production') {
    problems.push('SWITCHYARD_KEYS: production needs a keyring to encrypt private keys at rest; set SWITCHYARD_KEYS or SWITCHYARD_KEYS_FILE (id:base64key, openssl rand -base64 32)');
  }
  if (Boolean(e.ACME_EAB_KID) !== Boolean(e.ACME_EAB_HMAC_KEY)) problems.push('ACME_EAB_KID / ACME_EAB_HMAC_KEY: set both (external account binding) or neither');
  // Read only when ACME is on (unused otherwise).
  const caPem = e.ACME_DIRECTORY_URL && e.ACME_CA_FILE ? check('ACME_CA_FILE', () => readFileSync(e.ACME_CA_FILE!, 'utf8')) : null;
  const rootsPem = e.ACME_DIRECTORY_URL && e.ACME_ROOTS_FILE ? check('ACME_ROOTS_FILE', () => readFileSync(e.ACME_ROOTS_FILE!, 'utf8')) : null;
  if (problems.length > 0) throw new Error(`invalid API configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  // Past the throw every check passed: the values are set.
  const db = new URL(e.DATABASE_URL);
  const acme: AcmeConfig | null = e.ACME_DIRECTORY_URL
    ? {
        directoryUrl: e.ACME_DIRECTORY_URL,
        email: e.ACME_EMAIL ?? null,
        eab: e.ACME_EAB_KID && e.ACME_EAB_HMAC_KEY ? { kid: e.ACME_EAB_KID, hmacKey: e.ACME_EAB_HMAC_KEY } : null,
        caPem: caPem ?? null,
        rootsPem: rootsPem ?? null,
        defaultChallenge: e.ACME_DEFAULT_CHALLENGE,
        publicAddresses,
        limits: { certsPerDomainWeek: e.ACME_LIMIT_CERTS_PER_DOMAIN_WEEK, duplicatesWeek: e.ACME_LIMIT_DUPLICATES_WEEK, failedPerHour: e.ACME_LIMIT_FAILED_PER_HOUR },
        retryBaseMs: e.ACME_RETRY_BASE_SECONDS * 1000,
        workerIntervalMs: e.ACME_WORKER_INTERVAL_MS,
      }
    : null;
  return {
    acme,
    databaseUrl: e.DATABASE_URL,
    host: e.API_HOST,
    port: e.API_PORT,
    trustedProxies,
    metrics: { host: e.API_METRICS_HOST, port: e.API_METRICS_PORT },
    baseDomain: e.SWITCHYARD_BASE_DOMAIN,
    publicAddress: e.SWITCHYARD_PUBLIC_ADDRESS ?? null,
    listeners: listeners!,
    check: { host: e.SWITCHYARD_CHECK_HOST ?? null, timeoutMs: e.CHECK_CONNECTION_TIMEOUT_MS },
    adminToken: e.SWITCHYARD_ADMIN_TOKEN ?? null,
    defaultUpstreamSuffixes: e.SWITCHYARD_DEFAULT_UPSTREAM_SUFFIXES.split(',').map((s) => s.trim()).filter(Boolean),
    tenantDefaultLimits: tenantDefaultLimits!,
    propagationTimeoutMs: e.PROPAGATION_TIMEOUT_MS,
    proxyLivenessMs: e.PROXY_LIVENESS_MS,
    webDistDir: e.WEB_DIST_DIR ?? null,
    connectionEventsRetentionDays: e.CONNECTION_EVENTS_RETENTION_DAYS,
    logLevel: e.LOG_LEVEL,
    sessions: {
      ttlMs: e.SESSION_TTL_MINUTES * 60_000,
      idleMs: e.SESSION_IDLE_MINUTES * 60_000,
      cookieSecure: e.COOKIE_SECURE === 'auto' ? 'auto' : e.COOKIE_SECURE === 'true' ? 'always' : 'never',
    },
    loginRateLimit: {
      maxFailuresPerAccount: e.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      maxAttemptsPerAddress: e.LOGIN_MAX_ATTEMPTS_PER_ADDRESS,
      windowMs: e.LOGIN_RATE_WINDOW_SECONDS * 1000,
    },
    keyring: keyring ?? null,
    controlDatabase: { host: db.hostname.replace(/^\[|\]$/g, ''), port: Number(db.port || 5432) },
    dedicatedPorts: dedicatedPorts!,
    egressSourceAddresses,
    allowLoopbackUpstreams: e.SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS === 'true',
  };
}
