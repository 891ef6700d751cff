/**
 * Assembles a proxy: listeners, route sync, heartbeat, connection audit, admin endpoint.
 * `main.ts` runs it as a process; tests run it in-process on port 0.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { createAdminServer } from './admin/admin-server.js';
import { ConnectionLog } from './audit/connection-log.js';
import type { ProxyConfig } from './config.js';
import { Heartbeat, MAX_REPORTED_CONNECTIONS } from './control/heartbeat.js';
import { DataPlane } from './dataplane.js';
import type { ConnectionRegistry } from './listener/registry.js';
import type { DedicatedPorts } from './listener/dedicated-ports.js';
import { createMetrics, type ProxyMetrics } from './metrics.js';
import type { CancelRouter } from './pg/cancel.js';
import { ConnectionCounts } from './policy/limits.js';
import { ClientRateLimiter } from './policy/rate-limit.js';
import { RouteSync, type TableChange } from './routesync/route-sync.js';
import type { RouteTable } from './router/route-table.js';
import type { Upstreams } from './upstream/connector.js';
import { SOFTWARE_VERSION } from './version.js';
import { ControlOrders } from './control/orders.js';
import { createControlPool } from './control/pool.js';

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

export async function startProxy(config: ProxyConfig, log: Logger = pino({ level: config.logLevel }), options: ProxyOptions = {}): Promise<RunningProxy> {
  const metrics = createMetrics(config.metrics);
  const pool = createControlPool(config, log);
  const limits = new ConnectionCounts();
  const rateLimiter = config.clientRate ? new ClientRateLimiter(config.clientRate) : null;
  const connectionLog = new ConnectionLog(pool, { proxyId: config.proxyId, ...config.audit }, metrics, log);
  let draining = false;
  const plane = new DataPlane({
    config,
    log,
    metrics,
    limits,
    rateLimiter,
    recordEvent: (ev) => connectionLog.record(ev),
    workerId: options.workerId,
    forwardCancelToWorker: options.forwardCancelToWorker,
  });

  const heartbeat = new Heartbeat(
    pool,
    { proxyId: config.proxyId, intervalMs: config.heartbeatIntervalMs, soonMs: config.heartbeatSoonMs, listeners: config.listeners, softwareVersion: SOFTWARE_VERSION },
    () => ({
      appliedVersion: plane.table?.version ?? 0,
      stats: {
        openConnections: plane.openConnections,
        routedConnections: plane.registry.size,
        routes: plane.table?.size ?? 0,
        auditPending: connectionLog.pending,
        auditDropped: connectionLog.dropped,
        auditWritten: connectionLog.written,
        workers: 1,
      },
      connections: plane.registry.snapshot(MAX_REPORTED_CONNECTIONS),
    }),
    log,
  );
  plane.registry.onChange(() => heartbeat.beatSoon());
  let heartbeatStarted = false;

  const onChange = (change: TableChange) => {
    plane.apply(change);
    if (!heartbeatStarted) {
      heartbeatStarted = true;
      heartbeat.start();
    } else {
      void heartbeat.beat();
    }
  };

  // Terminate orders: NOTIFY, and the pending ones read back after every (re)connect.
  const orders = new ControlOrders({
    proxyId: config.proxyId,
    startedAt: heartbeat.startedAt,
    pool,
    log,
    apply: (order, via) => {
      const done = plane.registry.terminate(order.connectionId, order.by);
      log.info({ connectionId: order.connectionId, by: order.by, orderId: order.orderId, via, found: done }, done ? 'connection terminated on order' : 'terminate order for a connection not open here');
    },
  });

  const sync = new RouteSync({
    connectionString: config.databaseUrl,
    pool,
    resyncIntervalMs: config.resyncIntervalMs,
    log,
    metrics,
    onChange,
    applicationName: `switchyard-proxy ${config.proxyId}`,
    onControl: (order) => orders.receive(order),
    onListening: () => void orders.catchUp(),
  });

  const admin: Server = createAdminServer(() => metrics.registry.metrics(), {
    ready: () => plane.table !== null && !draining,
    status: () => ({ version: plane.table?.version ?? null, routes: plane.table?.size ?? 0, draining, controlDb: sync.listening }),
  });

  sync.start();
  connectionLog.start();
  const ports = await plane.listen();
  const adminPort = await listenAdmin(admin, config);
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
    log.info({ open: plane.openConnections, graceMs: config.acceptGraceMs }, 'readiness off; draining');
    if (config.acceptGraceMs > 0) await new Promise((r) => setTimeout(r, config.acceptGraceMs));
    await plane.stopAccepting();
    log.info({ open: plane.openConnections }, 'listeners closed');
    await plane.drain(config.drainTimeoutMs);
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
    table: () => plane.table,
    registry: plane.registry,
    connectionLog,
    metrics,
    upstreams: plane.upstreams,
    dedicated: plane.dedicated,
    cancels: plane.cancels,
    waitForVersion: (version) => plane.waitForVersion(version),
    stop: () => (stopping ??= shutdown()),
  };
}

/** Binds the admin endpoint; resolves with its port. */
export function listenAdmin(admin: Server, config: Pick<ProxyConfig, 'admin'>): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(config.admin.port, config.admin.host, () => resolve((admin.address() as AddressInfo).port));
  });
}
