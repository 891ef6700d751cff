/**
 * Engines Switchyard can expose, and how each one reaches the proxy.
 *
 * Every engine speaks TLS from the client; they differ in how TLS starts:
 * PostgreSQL negotiates it in-band (SSLRequest → 'S', then the ClientHello; or
 * direct TLS since PostgreSQL 17), the others open with a TLS ClientHello.
 */
export const ENGINES = ['postgres', 'redis', 'mongodb', 'kubernetes-api', 'tls'] as const;
export type Engine = (typeof ENGINES)[number];

export function isEngine(value: unknown): value is Engine {
  return typeof value === 'string' && (ENGINES as readonly string[]).includes(value);
}

/** Listener protocol needed to sniff the engine's first bytes. */
export function listenerProtocolFor(engine: Engine): 'postgres' | 'tls' {
  return engine === 'postgres' ? 'postgres' : 'tls';
}

/** Conventional server port, used as the default upstream port in the API. */
export const DEFAULT_UPSTREAM_PORT: Record<Engine, number> = {
  postgres: 5432,
  redis: 6379,
  mongodb: 27017,
  'kubernetes-api': 443,
  tls: 443,
};

export const TLS_MODES = ['passthrough', 'terminate'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

export const DISABLE_BEHAVIORS = ['drain', 'close'] as const;
export type DisableBehavior = (typeof DISABLE_BEHAVIORS)[number];
