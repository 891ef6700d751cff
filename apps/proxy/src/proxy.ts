/**
 * Assembles a proxy: listeners, route sync, heartbeat, connection audit, admin endpoint.
 * `main.ts` runs it as a process; tests run it in-process on port 0.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import pg from 'pg';
import pino, { type Logger } from 'pino';
import { createAdminServer } from './admin/admin-server.js';
import { ConnectionLog, type ConnectionEventInput } from './audit/connection-log.js';
import type { ProxyConfig } from './config.js';
import { Heartbeat } from './control/heartbeat.js';
import type { ListenerContext } from './listener/context.js';
import { ProxyListener } from './listener/listener.js';
import { DedicatedPorts } from './listener/dedicated-ports.js';
import { RecentRefusals } from './listener/recent-refusals.js';
import { ConnectionRegistry } from './listener/registry.js';
import { createMetrics, type ProxyMetrics } from './metrics.js';
import { CancelRouter, deliverCancel, type SessionTarget } from './pg/cancel.js';
import { CancelKeyStore } from './pg/cancel-keys.js';
import { ConnectionCounts } from './policy/limits.js';
import { ClientRateLimiter } from './policy/rate-limit.js';
import { RouteSync, type TableChange } from './routesync/route-sync.js';
import type { RouteTable } from './router/route-table.js';
import { Upstreams } from './upstream/connector.js';
import { UpstreamGuard } from './upstream/guard.js';
import { HealthMonitor } from './upstream/health.js';
import { SecureContextStore } from './tls/context-store.js';
import { SOFTWARE_VERSION } from './version.js';

export interface RunningProxy {
  /** Bound ports by listener name (useful with port 0). */
  ports: Record<string, number>;
  adminPort: number;
  table(): RouteTable | null;
  /** Resolves once a table with at least this version is in use. */
  waitForVersion(version: number): Promise<void>;
  stop(): Promise<void>;
  connectionLog: ConnectionLog;
  registry: ConnectionRegistry;
  metrics: ProxyMetrics;
  upstreams: Upstreams;
  dedicated: DedicatedPorts;
  /** Cancel keys of terminate-mode PostgreSQL sessions (pg/cancel.ts). */
  cancels: CancelRouter;
}

export interface ProxyOptions {
  /**
   * Cluster mode: this worker's id (1–127), written into the top byte of every cancel key it
   * mints. Single process: 0.
   */
  workerId?: number;
  /** Cluster mode: hands a CancelRequest whose key another worker minted to that worker (pg/cancel.ts). */
  forwardCancelToWorker?: (workerId: number, request: Buffer) => void;
}

type Live = { closeForShutdown(): void; closeForRoute(): void };

export async function startProxy(config: ProxyConfig, log: Logger = pino({ level: config.logLevel }), options: ProxyOptions = {}): Promise<RunningProxy> {
  const metrics = createMetrics(config.metrics);
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: 3,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    application_name: `switchyard-proxy ${config.proxyId}`,
  });
  pool.on('error', (err) => log.warn({ err: err.message }, 'control database pool error'));
  const registry = new ConnectionRegistry();
  const limits = new ConnectionCounts();
  const rateLimiter = config.clientRate ? new ClientRateLimiter(config.clientRate) : null;
  const recentRefusals = new RecentRefusals();
  const open = new Set<Live>();
  const connectionLog = new ConnectionLog(pool, { proxyId: config.proxyId, ...config.audit }, metrics, log);
  let table: RouteTable | null = null;
  let draining = false;
  const versionWaiters: Array<{ version: number; resolve: () => void }> = [];
  const guard = new UpstreamGuard({ allowLoopback: config.allowLoopbackUpstreams, denyCidrs: config.upstreamDenyCidrs });
  const health = new HealthMonitor(guard, log, {
    onTransition: (_key, up) => metrics.endpointTransitions.inc({ to: up ? 'up' : 'down' }),
    onCheck: (ok) => metrics.healthChecks.inc({ result: ok ? 'ok' : 'failed' }),
  });
  const upstreams = new Upstreams({ guard, health, egressSources: config.egressSourceAddresses });
  const cancels = new CancelRouter({
    store: new CancelKeyStore<SessionTarget>(options.workerId ?? 0),
    deliver: (target, request) => deliverCancel(upstreams, target, request, config.connectTimeoutMs),
    forwardCancelToWorker: options.forwardCancelToWorker ?? null,
  });
  // Presented to PostgreSQL clients that send no SNI (endpoint option); built once at boot.
  const defaultTlsContext = config.defaultCertificate
    ? createSecureContext({ cert: config.defaultCertificate.certPem, key: config.defaultCertificate.keyPem, minVersion: 'TLSv1.2' })
    : null;

  const heartbeat = new Heartbeat(
    pool,
    { proxyId: config.proxyId, intervalMs: config.heartbeatIntervalMs, listeners: config.listeners, softwareVersion: SOFTWARE_VERSION },
    () => ({
      appliedVersion: table?.version ?? 0,
      stats: {
        openConnections: open.size,
        routedConnections: registry.size,
        routes: table?.size ?? 0,
        auditPending: connectionLog.pending,
        auditDropped: connectionLog.dropped,
        auditWritten: connectionLog.written,
      },
    }),
    log,
  );
  let heartbeatStarted = false;

  const tlsContexts = new SecureContextStore(config.keyring, log.child({ component: 'tls' }));
  const onChange = (change: TableChange) => {
    // Certificates are loaded before the table is published, so no connection sees one without the other.
    tlsContexts.apply(change);
    table = change.table;
    // Off the hot path: health checks and dedicated ports follow the routes that changed.
    for (const id of change.changedIds) {
      const r = change.table.get(id);
      if (!r) upstreams.balancer.forget(id);
      const check = r?.enabled ? r.healthCheck : null;
      health.setRoute(
        id,
        check && r ? r.endpoints.map((endpoint) => ({ endpoint, check, postgres: r.engine === 'postgres', sourceAddress: r.sourceAddress ?? null })) : [],
      );
    }
    dedicated.sync(change.table, change.changedIds, change.previous);
    // Routes now disabled or gone whose owners chose `close`: end their open connections.
    for (const id of change.changedIds) {
      const before = change.previous?.get(id);
      const after = change.table.get(id);
      const closeBehavior = (after ?? before)?.disableBehavior === 'close';
      if (closeBehavior && (!after || !after.enabled) && registry.count(id) > 0) {
        const n = registry.closeRoute(id);
        log.info({ routeId: id, closed: n }, 'route disabled with close: ended its connections');
      }
    }
    for (let i = versionWaiters.length - 1; i >= 0; i--) {
      if (versionWaiters[i]!.version <= change.table.version) versionWaiters.splice(i, 1)[0]!.resolve();
    }
    if (!heartbeatStarted) {
      heartbeatStarted = true;
      heartbeat.start();
    } else {
      void heartbeat.beat();
    }
  };

  const sync = new RouteSync({
    connectionString: config.databaseUrl,
    pool,
    resyncIntervalMs: config.resyncIntervalMs,
    log,
    metrics,
    onChange,
    applicationName: `switchyard-proxy ${config.proxyId}`,
  });

  const contextFor = (spec: ListenerContext['spec'], dedicatedPort?: number): ListenerContext => {
    const ctx: ListenerContext = {
      spec,
      upstreams,
      dedicatedPort,
      config,
      getTable: () => table,
      registry,
      limits,
      rateLimiter,
      idleTimeoutMs: config.idleTimeoutMs.byListener[spec.name] ?? config.idleTimeoutMs.default,
      recentRefusals,
      tlsContexts,
      defaultTlsContext,
      cancels,
      metrics,
      log: log.child({ listener: spec.name }),
      onConnectionStart: (conn) => {
        open.add(conn);
      },
      onConnectionDone: (conn, event: ConnectionEventInput) => {
        open.delete(conn);
        connectionLog.record(event);
        if (open.size === 0) onIdle?.();
      },
    };
    return ctx;
  };
  const listeners = config.listeners.map((spec) => new ProxyListener(contextFor(spec)));
  const dedicated = new DedicatedPorts(
    config.dedicatedPorts,
    (port) => contextFor({ name: 'dedicated', protocol: 'tls', host: config.dedicatedHost, port, publicPort: port, proxyProtocolFrom: [] }, port),
    log.child({ listener: 'dedicated' }),
  );
  let onIdle: (() => void) | null = null;

  const admin: Server = createAdminServer(metrics.registry, {
    ready: () => table !== null && !draining,
    status: () => ({ version: table?.version ?? null, routes: table?.size ?? 0, draining, controlDb: sync.listening }),
  });

  sync.start();
  connectionLog.start();
  const ports: Record<string, number> = {};
  for (const l of listeners) ports[l.name] = await l.listen();
  const adminPort = await new Promise<number>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(config.admin.port, config.admin.host, () => resolve((admin.address() as AddressInfo).port));
  });
  log.info({ ports, adminPort, proxyId: config.proxyId }, 'proxy listening');

  /**
   * Readiness turns false first (a load balancer polling /readyz stops sending), then, after
   * PROXY_ACCEPT_GRACE_MS, the listeners stop accepting; open connections drain until they
   * end or PROXY_DRAIN_TIMEOUT_MS passes (then they are closed); queued connection events
   * are flushed; the heartbeat row is removed.
   */
  let stopping: Promise<void> | null = null;
  const shutdown = async () => {
    draining = true;
    log.info({ open: open.size, graceMs: config.acceptGraceMs }, 'readiness off; draining');
    if (config.acceptGraceMs > 0) await new Promise((r) => setTimeout(r, config.acceptGraceMs));
    await Promise.all([...listeners.map((l) => l.close()), dedicated.stop()]);
    health.stop();
    log.info({ open: open.size }, 'listeners closed');
    const idle = (ms: number) => {
      if (open.size === 0) return Promise.resolve();
      let timer: NodeJS.Timeout | undefined;
      return new Promise<void>((resolve) => {
        onIdle = resolve;
        timer = setTimeout(resolve, ms);
      }).finally(() => clearTimeout(timer));
    };
    if (open.size > 0) {
      log.info({ open: open.size, timeoutMs: config.drainTimeoutMs }, 'draining connections');
      await idle(config.drainTimeoutMs);
      if (open.size > 0) {
        log.warn({ open: open.size }, 'drain deadline reached; closing remaining connections');
        for (const c of [...open]) c.closeForShutdown();
        // Their close events record their connection events; wait for them (briefly).
        await idle(2000);
      }
    }
    await sync.stop();
    await connectionLog.stop(5000);
    await heartbeat.stop();
    await pool.end().catch(() => {});
    await new Promise<void>((r) => admin.close(() => r()));
    log.info({ eventsWritten: connectionLog.written, eventsDropped: connectionLog.dropped }, 'proxy stopped');
  };

  return {
    ports,
    adminPort,
    table: () => table,
    registry,
    connectionLog,
    metrics,
    upstreams,
    dedicated,
    cancels,
    waitForVersion: (version) =>
      table && table.version >= version ? Promise.resolve() : new Promise((resolve) => versionWaiters.push({ version, resolve })),
    stop: () => (stopping ??= shutdown()),
  };
}
