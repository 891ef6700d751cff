/**
 * The data plane of one process: listeners (shared and dedicated ports), the route table in
 * use, TLS contexts, upstream balancing and health, the registry of routed connections, and
 * the drain. It knows nothing about where tables, caps and connection events come from:
 * `proxy.ts` (one process) feeds it from route sync and writes events itself; a cluster
 * worker (`cluster/worker.ts`) feeds it from the primary over IPC.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { ConnectionEventInput } from './audit/connection-log.js';
import type { ProxyConfig } from './config.js';
import { SHUTDOWN_CLOSE_MAX_MS } from './listener/connection.js';
import type { ListenerContext } from './listener/context.js';
import { DedicatedPorts } from './listener/dedicated-ports.js';
import { ProxyListener } from './listener/listener.js';
import { RecentRefusals } from './listener/recent-refusals.js';
import { ConnectionRegistry } from './listener/registry.js';
import { ListenerCounters, type ProxyMetrics } from './metrics.js';
import { CancelRouter, deliverCancel, type SessionTarget } from './pg/cancel.js';
import { CancelKeyStore } from './pg/cancel-keys.js';
import type { ConnectionLimits } from './policy/limits.js';
import type { ClientRateLimiter } from './policy/rate-limit.js';
import { touchedRoutes, type RouteTable } from './router/route-table.js';
import type { TableChange } from './routesync/route-sync.js';
import { SecureContextStore } from './tls/context-store.js';
import { Upstreams } from './upstream/connector.js';
import { UpstreamGuard } from './upstream/guard.js';
import { HealthMonitor } from './upstream/health.js';

export interface DataPlaneDeps {
  config: ProxyConfig;
  log: Logger;
  metrics: ProxyMetrics;
  limits: ConnectionLimits;
  rateLimiter: ClientRateLimiter | null;
  /** Every finished connection's event (queued for the audit writer, here or in the primary). */
  recordEvent(event: ConnectionEventInput): void;
  /** Called for every accepted connection (cluster: per-worker accounting). */
  onAccept?(): void;
  /** Cluster workers: refusals remembered across workers (default: this process only). */
  recentRefusals?: RecentRefusals;
  /** Cluster workers: this worker's id (1–127), the top byte of the cancel keys it mints; 0 otherwise. */
  workerId?: number;
  /** Cluster workers: hands a CancelRequest for a key another worker minted to that worker. */
  forwardCancelToWorker?: (workerId: number, request: Buffer) => void;
}

type Live = { closeForShutdown(): void; closeForRoute(): void };

/**
 * After the drain deadline, beyond the longest a connection takes to close then
 * (SHUTDOWN_CLOSE_MAX_MS): time for the close handlers to record their events.
 */
const DRAIN_RECORD_MARGIN_MS = 500;

export class DataPlane {
  readonly registry: ConnectionRegistry;
  readonly upstreams: Upstreams;
  readonly dedicated: DedicatedPorts;
  /** Cancel keys of terminate-mode PostgreSQL sessions (pg/cancel.ts). */
  readonly cancels: CancelRouter;
  /** Presented to PostgreSQL clients that send no SNI (endpoint option); built once at boot. */
  private readonly defaultTlsContext: SecureContext | null;
  private readonly health: HealthMonitor;
  private readonly tlsContexts: SecureContextStore;
  private readonly recentRefusals: RecentRefusals;
  private readonly listeners: ProxyListener[];
  private readonly open = new Set<Live>();
  private current: RouteTable | null = null;
  private onIdle: (() => void) | null = null;
  private readonly versionWaiters: Array<{ version: number; resolve: () => void }> = [];

  constructor(private readonly deps: DataPlaneDeps) {
    const { config, log, metrics } = deps;
    this.registry = new ConnectionRegistry(deps.workerId ?? 0);
    this.recentRefusals = deps.recentRefusals ?? new RecentRefusals();
    const dnsLog = log.child({ component: 'dns' });
    const guard = new UpstreamGuard({
      allowLoopback: config.allowLoopbackUpstreams,
      denyCidrs: config.upstreamDenyCidrs,
      dns: {
        ...config.dns,
        events: {
          onLookup: (outcome) => metrics.dnsLookups.inc({ outcome }),
          onStaleServed: () => metrics.dnsStaleAnswers.inc(),
          onRefreshFailing: (host, err, until) =>
            dnsLog.warn({ host, err: err.message, until: new Date(until).toISOString() }, 'upstream name lookup failing; using its last answer meanwhile'),
          onRecovered: (host) => dnsLog.info({ host }, 'upstream name resolves again'),
        },
      },
    });
    this.health = new HealthMonitor(guard, log, {
      onTransition: (_key, up) => metrics.endpointTransitions.inc({ to: up ? 'up' : 'down' }),
      onCheck: (ok) => metrics.healthChecks.inc({ result: ok ? 'ok' : 'failed' }),
    });
    this.upstreams = new Upstreams({ guard, health: this.health, egressSources: config.egressSourceAddresses });
    this.tlsContexts = new SecureContextStore(config.keyring, log.child({ component: 'tls' }));
    const upstreams = this.upstreams;
    this.cancels = new CancelRouter({
      store: new CancelKeyStore<SessionTarget>(deps.workerId ?? 0),
      deliver: (target, request) => deliverCancel(upstreams, target, request, config.connectTimeoutMs),
      forwardCancelToWorker: deps.forwardCancelToWorker ?? null,
    });
    this.defaultTlsContext = config.defaultCertificate
      ? createSecureContext({ cert: config.defaultCertificate.certPem, key: config.defaultCertificate.keyPem, minVersion: 'TLSv1.2' })
      : null;
    this.listeners = config.listeners.map((spec) => new ProxyListener(this.contextFor(spec)));
    this.dedicated = new DedicatedPorts(
      config.dedicatedPorts,
      (port) => this.contextFor({ name: 'dedicated', protocol: 'tls', host: config.dedicatedHost, port, publicPort: port, proxyProtocolFrom: [] }, port),
      log.child({ listener: 'dedicated' }),
    );
  }

  /** The table in use (null until the first one arrived). */
  get table(): RouteTable | null {
    return this.current;
  }

  /** Connections open (sniffing or proxied). */
  get openConnections(): number {
    return this.open.size;
  }

  /**
   * Publishes a new table. Certificates are loaded before the table is published, so no
   * connection sees one without the other; health checks, dedicated ports and routes
   * disabled with `close` follow, off the hot path.
   */
  apply(change: TableChange): void {
    const { registry, upstreams, health } = this;
    const touched = touchedRoutes(change.table, change.previous, change.changedIds);
    this.tlsContexts.apply(change, touched);
    this.current = change.table;
    for (const { id, after: r } of touched) {
      if (!r) upstreams.balancer.forget(id);
      const check = r?.enabled ? r.healthCheck : null;
      health.setRoute(
        id,
        check && r ? r.endpoints.map((endpoint) => ({ endpoint, check, postgres: r.engine === 'postgres', sourceAddress: r.sourceAddress ?? null })) : [],
      );
    }
    this.dedicated.sync(change.table, touched);
    // Routes now disabled or gone whose owners chose `close`: end their open connections.
    for (const { id, before, after } of touched) {
      const closeBehavior = (after ?? before)?.disableBehavior === 'close';
      if (closeBehavior && (!after || !after.enabled) && registry.count(id) > 0) {
        const n = registry.closeRoute(id);
        this.deps.log.info({ routeId: id, closed: n }, 'route disabled with close: ended its connections');
      }
    }
    for (let i = this.versionWaiters.length - 1; i >= 0; i--) {
      if (this.versionWaiters[i]!.version <= change.table.version) this.versionWaiters.splice(i, 1)[0]!.resolve();
    }
  }

  /** Resolves once a table with at least this version is in use. */
  waitForVersion(version: number): Promise<void> {
    if (this.current && this.current.version >= version) return Promise.resolve();
    return new Promise((resolve) => this.versionWaiters.push({ version, resolve }));
  }

  /** Binds the shared listeners; ports by listener name (useful with port 0). */
  async listen(): Promise<Record<string, number>> {
    const ports: Record<string, number> = {};
    for (const l of this.listeners) ports[l.name] = await l.listen();
    return ports;
  }

  /** Stops accepting on every listener (open connections are left alone) and stops health checks. */
  async stopAccepting(): Promise<void> {
    await Promise.all([...this.listeners.map((l) => l.close()), this.dedicated.stop()]);
    this.health.stop();
  }

  /**
   * Waits until open connections end or `timeoutMs` passes, then closes the rest (their
   * close handlers record their connection events; those are waited for, briefly).
   */
  async drain(timeoutMs: number): Promise<void> {
    const { log } = this.deps;
    if (this.open.size === 0) return;
    log.info({ open: this.open.size, timeoutMs }, 'draining connections');
    await this.idle(timeoutMs);
    if (this.open.size > 0) {
      log.warn({ open: this.open.size }, 'drain deadline reached; closing remaining connections');
      for (const c of [...this.open]) c.closeForShutdown();
      await this.idle(SHUTDOWN_CLOSE_MAX_MS + DRAIN_RECORD_MARGIN_MS);
    }
  }

  private idle(ms: number): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    return new Promise<void>((resolve) => {
      this.onIdle = resolve;
      timer = setTimeout(resolve, ms);
    }).finally(() => {
      clearTimeout(timer);
      this.onIdle = null;
    });
  }

  private contextFor(spec: ListenerContext['spec'], dedicatedPort?: number): ListenerContext {
    const { config, log, metrics, limits, rateLimiter } = this.deps;
    return {
      spec,
      upstreams: this.upstreams,
      dedicatedPort,
      config,
      getTable: () => this.current,
      registry: this.registry,
      limits,
      rateLimiter,
      idleTimeoutMs: config.idleTimeoutMs.byListener[spec.name] ?? config.idleTimeoutMs.default,
      recentRefusals: this.recentRefusals,
      defaultTlsContext: this.defaultTlsContext,
      cancels: this.cancels,
      tlsContexts: this.tlsContexts,
      metrics,
      counters: new ListenerCounters(metrics, spec.name),
      log: log.child({ listener: spec.name }),
      onConnectionStart: (conn) => {
        this.open.add(conn);
        this.deps.onAccept?.();
      },
      onConnectionDone: (conn, event: ConnectionEventInput) => {
        this.open.delete(conn);
        this.deps.recordEvent(event);
        if (this.open.size === 0) this.onIdle?.();
      },
    };
  }
}
