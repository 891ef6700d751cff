/**
 * Engines Switchyard can expose, and how each one reaches the proxy.
 *
 * Every engine speaks TLS from the client; they differ in how TLS starts:
 * PostgreSQL negotiates it in-band (SSLRequest → 'S', then the ClientHello; or
 * direct TLS since PostgreSQL 17), the others open with a TLS ClientHello.
 */
export const ENGINES = ['postgres', 'redis', 'mongodb', 'kubernetes-api', 'tls', 'http'] as const;
export type Engine = (typeof ENGINES)[number];

export function isEngine(value: unknown): value is Engine {
  return typeof value === 'string' && (ENGINES as readonly string[]).includes(value);
}

/** Listener protocol needed to sniff the engine's first bytes (the default listener kind). */
export function listenerProtocolFor(engine: Engine): 'postgres' | 'tls' | 'http' {
  if (engine === 'http') return 'http';
  return engine === 'postgres' ? 'postgres' : 'tls';
}

/**
 * Whether a listener kind can serve an engine. `tls` also serves PostgreSQL (direct TLS,
 * PostgreSQL 17+); `destination` forwards bytes unread, so it serves anything; `egress`
 * sniffs PostgreSQL STARTTLS or a TLS hello, so it serves every TLS engine.
 */
export function listenerServes(protocol: string, engine: Engine): boolean {
  switch (protocol) {
    case 'postgres':
      return engine === 'postgres';
    case 'tls':
    case 'egress':
      return engine !== 'http';
    case 'http':
      return engine === 'http';
    case 'destination':
      return true;
    default:
      return false;
  }
}

/** Conventional server port, used as the default upstream port in the API. */
export const DEFAULT_UPSTREAM_PORT: Record<Engine, number> = {
  postgres: 5432,
  redis: 6379,
  mongodb: 27017,
  'kubernetes-api': 443,
  tls: 443,
  http: 80,
};

/** How a route spreads connections over its endpoints. */
export const BALANCE_POLICIES = ['round-robin', 'least-connections', 'source-hash'] as const;
export type BalancePolicy = (typeof BALANCE_POLICIES)[number];

/** PROXY protocol header the proxy sends to a route's upstream (null: none). */
export const UPSTREAM_PROXY_PROTOCOLS = ['v1', 'v2'] as const;
export type UpstreamProxyProtocol = (typeof UPSTREAM_PROXY_PROTOCOLS)[number];

/**
 * Active health checks of a route's endpoints, run by every proxy off the hot path. An
 * endpoint goes down after `fall` consecutive failures and up again after `rise` successes.
 */
export interface HealthCheck {
  /** `tcp`: connect; `tls`: connect and complete a TLS handshake (after SSLRequest for PostgreSQL). */
  type: 'tcp' | 'tls';
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

export const DEFAULT_HEALTH_CHECK: HealthCheck = { type: 'tcp', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3 };

export const TLS_MODES = ['passthrough', 'terminate'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

export const DISABLE_BEHAVIORS = ['drain', 'close'] as const;
export type DisableBehavior = (typeof DISABLE_BEHAVIORS)[number];
