import type { SecureContext } from 'node:tls';
import type { ListenerSpec } from '@switchyard/core';
import type { Logger } from 'pino';
import type { ConnectionEventInput } from '../audit/connection-log.js';
import type { ProxyConfig } from '../config.js';
import type { ListenerCounters, ProxyMetrics } from '../metrics.js';
import type { CancelRouter } from '../pg/cancel.js';
import type { ConnectionLimits } from '../policy/limits.js';
import type { ClientRateLimiter } from '../policy/rate-limit.js';
import type { RouteTable } from '../router/route-table.js';
import type { Upstreams } from '../upstream/connector.js';
import type { SecureContextStore } from '../tls/context-store.js';
import type { RecentRefusals } from './recent-refusals.js';
import type { Closable, ConnectionRegistry } from './registry.js';

export type LiveConnection = Closable & { closeForShutdown(): void };

/** What a connection handler may use. All of it is in memory: no database on the hot path. */
export interface ListenerContext {
  spec: ListenerSpec;
  config: ProxyConfig;
  getTable(): RouteTable | null;
  registry: ConnectionRegistry;
  /** Route and tenant connection caps (in-process counts, or the primary's in cluster mode). */
  limits: ConnectionLimits;
  /** New-connection rate per client address; null when off. */
  rateLimiter: ClientRateLimiter | null;
  /** Idle timeout of proxied connections on this listener; 0 = none. */
  idleTimeoutMs: number;
  recentRefusals: RecentRefusals;
  /** Prebuilt TLS contexts of terminate-mode routes (absent: terminate routes are refused). */
  tlsContexts?: Pick<SecureContextStore, 'get' | 'challenge'>;
  /** Certificate for PostgreSQL handshakes without SNI (endpoint option); absent: no_sni alert. */
  defaultTlsContext?: SecureContext | null;
  /** Cancel keys of terminate-mode PostgreSQL sessions (absent: BackendKeyData passes unchanged). */
  cancels?: Pick<CancelRouter, 'handleCancel' | 'mint' | 'release'>;
  metrics: ProxyMetrics;
  /** This listener's per-connection counts, resolved once (metrics.ts `Cells`). */
  counters: ListenerCounters;
  log: Logger;
  onConnectionStart(conn: LiveConnection): void;
  onConnectionDone(conn: LiveConnection, event: ConnectionEventInput): void;
  /** Endpoint choice, health and dial-time guard shared by every listener. */
  upstreams: Upstreams;
  /**
   * Accepted sockets inherit TCP_NODELAY and keepalive from the listening socket (set by
   * `ProxyListener` once listening); false: each connection sets them.
   */
  socketOptionsInherited?: boolean;
  /** Set on a route's dedicated-port listener: the port whose route every connection takes. */
  dedicatedPort?: number;
}
