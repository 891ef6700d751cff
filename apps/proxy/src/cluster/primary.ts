/**
 * The cluster primary (PROXY_WORKERS > 1): one process per proxy that owns everything that
 * talks to the control database — exactly the connections a single process would open, not
 * one set per worker — and the admin port; workers (`worker.ts`) only accept and proxy.
 *
 *  - route sync (snapshot + LISTEN, `routesync/route-sync.ts`): each table change is sent to
 *    every worker (a snapshot in chunks of compact tuples, encoded once for all workers, or
 *    a delta); a full load is forwarded batch by batch while it streams in from the control
 *    database, so workers build their tables beside the primary's; a worker that starts or
 *    restarts gets the current snapshot (or the one streaming) when it says hello;
 *  - the heartbeat: the applied version it reports is the lowest any listening worker has
 *    applied, written only when that minimum changes (plus the interval);
 *  - the connection audit: workers send events in batches; one bounded queue and writer;
 *  - connection caps: the counts (`slots.ts`), released wholesale when a worker dies;
 *  - the admin port: /healthz, /readyz (ready once every worker serves a table), /metrics
 *    merged from every worker's registry and the primary's (`metrics.ts`);
 *  - the CancelRequest relay between workers (`cancel-relay.ts`).
 *
 * A worker that exits unexpectedly is started again with backoff; its open connections are
 * lost, nobody else's are. Round-robin scheduling (SCHED_RR, node:cluster's default on
 * Linux): the primary accepts and hands each connection to the next listening worker.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { workerOfConnection } from '@switchyard/core';
import { createAdminServer } from '../admin/admin-server.js';
import { ConnectionLog } from '../audit/connection-log.js';
import type { ProxyConfig } from '../config.js';
import { Heartbeat, MAX_REPORTED_CONNECTIONS } from '../control/heartbeat.js';
import type { OpenConnectionInfo } from '../listener/registry.js';
import { createMetrics } from '../metrics.js';
import { listenAdmin } from '../proxy.js';
import type { RouteTable } from '../router/route-table.js';
import { RouteSync, type TableChange } from '../routesync/route-sync.js';
import { SOFTWARE_VERSION } from '../version.js';
import { decodeEvent, decodeFromWorker, deltaMessage, SnapshotCache, type FromWorker, type ToWorker } from './messages.js';
import { mergeMetrics, MetricsRequests } from './metrics.js';
import { SlotBroker } from './slots.js';
import { ControlOrders } from '../control/orders.js';
import { createControlPool } from '../control/pool.js';

const MIN_RESTART_MS = 250;
const MAX_RESTART_MS = 10_000;
/** A worker that ran this long before exiting is restarted at once (backoff starts over). */
const STABLE_MS = 10_000;
/** How long a /metrics scrape waits for the workers. */
const METRICS_TIMEOUT_MS = 1000;
/** After the drain deadline, how long workers get to close, flush and exit before SIGKILL. */
const EXIT_GRACE_MS = 10_000;

type Payload<T> = T extends unknown ? Omit<T, 'sy'> : never;

interface Slot {
  /** Worker id (1–127): stable across restarts; the top byte of the cancel keys it mints. */
  readonly id: number;
  worker: Worker | null;
  state: 'starting' | 'listening' | 'stopping' | 'down';
  /** Said hello and got a snapshot: table changes are sent to it. */
  synced: boolean;
  applied: number | null;
  routes: number;
  ports: Record<string, number>;
  open: number;
  routed: number;
  /** The worker's newest open routed connections (its last `stats`). */
  conns: OpenConnectionInfo[];
  startedAt: number;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | null;
  /** Table messages waiting to be sent, in order (`enqueue`). */
  outbox: Promise<void>;
  /** Resolved on its next `accepting-stopped`, and on exit. */
  onStopped: Array<() => void>;
  onExit: Array<() => void>;
}

export interface RunningCluster {
  adminPort: number;
  ports: Record<string, number>;
  stop(): Promise<void>;
}

export async function startClusterPrimary(config: ProxyConfig, log: Logger): Promise<RunningCluster> {
  const metrics = createMetrics(config.metrics);
  const pool = createControlPool(config, log);
  const connectionLog = new ConnectionLog(pool, { proxyId: config.proxyId, ...config.audit }, metrics, log);
  const slots: Slot[] = Array.from({ length: config.workers }, (_, i) => ({
    id: i + 1,
    worker: null,
    state: 'down',
    synced: false,
    applied: null,
    routes: 0,
    ports: {},
    open: 0,
    routed: 0,
    conns: [],
    startedAt: 0,
    backoffMs: MIN_RESTART_MS,
    restartTimer: null,
    outbox: Promise.resolve(),
    onStopped: [],
    onExit: [],
  }));
  const byId = new Map(slots.map((s) => [s.id, s]));
  const broker = new SlotBroker();
  const metricsRequests = new MetricsRequests();
  let table: RouteTable | null = null;
  let committedAt: number | null = null;
  let draining = false;
  let stopping = false;
  let started = false;

  const live = () => slots.filter((s) => s.worker && (s.state === 'listening' || s.state === 'stopping'));
  /** The version every worker accepting connections has applied (0 when none does). */
  const appliedVersion = () => {
    const versions = live()
      .map((s) => s.applied)
      .filter((v): v is number => v !== null);
    return versions.length ? Math.min(...versions) : 0;
  };
  const totalOpen = () => slots.reduce((n, s) => n + (s.worker ? s.open : 0), 0);

  const send = (slot: Slot, msg: Payload<ToWorker>): boolean => {
    const w = slot.worker;
    if (!w || !w.isConnected()) return false;
    w.send({ sy: 1, ...msg });
    return true;
  };

  const heartbeat = new Heartbeat(
    pool,
    { proxyId: config.proxyId, intervalMs: config.heartbeatIntervalMs, soonMs: config.heartbeatSoonMs, listeners: config.listeners, softwareVersion: SOFTWARE_VERSION },
    () => ({
      appliedVersion: appliedVersion(),
      stats: {
        openConnections: totalOpen(),
        routedConnections: slots.reduce((n, s) => n + (s.worker ? s.routed : 0), 0),
        routes: table?.size ?? 0,
        workers: live().length,
        auditPending: connectionLog.pending,
        auditDropped: connectionLog.dropped,
        auditWritten: connectionLog.written,
      },
      connections: slots
        .flatMap((s) => (s.worker ? s.conns : []))
        .sort((a, b) => b.startedAt - a.startedAt)
        .slice(0, MAX_REPORTED_CONNECTIONS),
    }),
    log,
  );
  let heartbeatStarted = false;
  let reported = -1;
  /** Beat when what the proxy serves changed (not once per worker per change). */
  const maybeBeat = () => {
    metrics.workersLive.set(live().length);
    if (!heartbeatStarted) {
      if (live().length === 0) return;
      heartbeatStarted = true;
      reported = appliedVersion();
      heartbeat.start();
      return;
    }
    const v = appliedVersion();
    if (v !== reported) {
      reported = v;
      void heartbeat.beat();
    }
  };

  /**
   * Table messages to one worker, in order, through its outbox: a snapshot is streamed a part
   * at a time (yielding between parts, so the primary keeps answering workers and the admin
   * port, and the worker compiles each part while the next is serialised); a delta queued
   * meanwhile follows the snapshot's last part. A restarted worker gets a fresh outbox.
   */
  const enqueue = (slot: Slot, produce: () => Iterable<Payload<ToWorker>> | AsyncIterable<Payload<ToWorker>>) => {
    const worker = slot.worker;
    slot.outbox = slot.outbox.then(async () => {
      for await (const m of produce()) {
        if (slot.worker !== worker || !send(slot, m)) return;
        if (m.t === 'snapshot' && !m.last) await new Promise((r) => setImmediate(r));
      }
    });
  };
  // Encoded once per table for every worker (not once per worker): at a cold start with
  // 100,000 routes that was ~0.5 s of the primary's CPU per worker. A full load streams
  // into it batch by batch (`snapshotStream` below), so the workers decode and build their
  // tables while the primary is still loading its own.
  const snapshots = new SnapshotCache();
  const sendSnapshot = (slot: Slot) => {
    const t = table;
    const at = committedAt;
    if (t || snapshots.streaming) enqueue(slot, () => snapshots.read(t, at));
  };

  const onChange = (change: TableChange) => {
    // A full load was streamed to the synced workers already: its closing part follows.
    const streamed = change.kind === 'full' && snapshots.streaming;
    if (streamed) snapshots.finish(change.table);
    else snapshots.clear();
    table = change.table;
    if (change.committedAt) committedAt = change.committedAt.getTime();
    const delta = deltaMessage(change);
    for (const s of slots) {
      if (!s.synced) continue;
      if (delta) enqueue(s, () => [delta]);
      else if (!streamed) sendSnapshot(s);
    }
  };

  // Terminate orders (NOTIFY, and the pending ones read back after every (re)connect) go to
  // the worker whose id prefixes the connection id.
  const orders = new ControlOrders({
    proxyId: config.proxyId,
    startedAt: heartbeat.startedAt,
    pool,
    log,
    apply: (order, via) => {
      const target = byId.get(workerOfConnection(order.connectionId) ?? -1);
      const sent = target ? send(target, { t: 'terminate', id: order.connectionId, by: order.by }) : false;
      log.info({ connectionId: order.connectionId, by: order.by, orderId: order.orderId, via, worker: target?.id ?? null, sent }, sent ? 'terminate order forwarded to its worker' : 'terminate order for a worker that is gone');
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
    observeApplyLag: false,
    onControl: (order) => orders.receive(order),
    onListening: () => void orders.catchUp(),
    snapshotStream: {
      begin: (version, at) => {
        snapshots.begin(version, at?.getTime() ?? null);
        for (const s of slots) if (s.synced) sendSnapshot(s);
      },
      rows: (records) => snapshots.push(records),
      abort: () => snapshots.abandon(),
    },
  });

  let failStart: ((err: Error) => void) | null = null;
  let allListening: (() => void) | null = null;

  const onMessage = (slot: Slot, raw: unknown) => {
    const msg = decodeFromWorker(raw);
    if (!msg) return;
    handle(slot, msg);
  };

  const handle = (slot: Slot, msg: FromWorker) => {
    switch (msg.t) {
      case 'hello':
        slot.synced = true;
        sendSnapshot(slot);
        return;
      case 'resync':
        log.info({ workerId: slot.id, have: msg.have }, 'worker asked for a snapshot');
        sendSnapshot(slot);
        return;
      case 'applied':
        slot.applied = msg.version;
        slot.routes = msg.routes;
        maybeBeat();
        return;
      case 'listening':
        if (slot.state !== 'starting') return;
        slot.state = 'listening';
        slot.ports = msg.ports;
        maybeBeat();
        if (slots.every((s) => s.state === 'listening')) allListening?.();
        return;
      case 'events':
        for (const t of msg.events) {
          const ev = decodeEvent(t);
          if (ev) connectionLog.record(ev);
          else connectionLog.recordDropped(1);
        }
        connectionLog.recordDropped(msg.dropped);
        return;
      case 'acquire':
        send(slot, { t: 'slot', id: msg.id, refusal: broker.acquire(slot.id, msg.key) });
        return;
      case 'release':
        broker.release(slot.id, msg.key);
        return;
      case 'metrics':
        metricsRequests.answer(slot.id, msg.id, msg.metrics);
        return;
      case 'stats': {
        const changed = msg.routed !== slot.routed || (msg.conns !== undefined && (msg.conns.length !== slot.conns.length || msg.conns[0]?.id !== slot.conns[0]?.id));
        slot.open = msg.open;
        slot.routed = msg.routed;
        if (msg.conns) slot.conns = msg.conns;
        if (changed && heartbeatStarted) heartbeat.beatSoon();
        return;
      }
      case 'cancel': {
        const target = byId.get(msg.worker);
        if (!target || !send(target, { t: 'cancel', bytes: msg.bytes })) log.debug({ from: slot.id, to: msg.worker }, 'cancel for a worker that is gone: dropped');
        return;
      }
      case 'refusal':
      case 'refusal-taken': {
        const { sy: _sy, ...note } = msg;
        for (const s of slots) if (s !== slot && s.synced) send(s, note);
        return;
      }
      case 'accepting-stopped':
        slot.open = msg.open;
        for (const f of slot.onStopped.splice(0)) f();
        return;
      case 'bye':
        return;
    }
  };

  const fork = (slot: Slot) => {
    slot.restartTimer = null;
    const worker = cluster.fork({ SWITCHYARD_WORKER_ID: String(slot.id), PROXY_WORKERS: String(config.workers) });
    Object.assign(slot, { worker, state: 'starting', synced: false, applied: null, routes: 0, open: 0, routed: 0, startedAt: Date.now(), outbox: Promise.resolve() });
    worker.on('message', (raw: unknown) => onMessage(slot, raw));
    worker.on('error', (err) => log.warn({ workerId: slot.id, err: err.message }, 'worker channel error'));
    worker.once('exit', (code, signal) => onExit(slot, worker, code, signal));
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    if (slot.worker !== worker) return;
    const wasListening = slot.state === 'listening';
    slot.worker = null;
    slot.state = 'down';
    slot.synced = false;
    slot.applied = null;
    const released = broker.releaseWorker(slot.id);
    metricsRequests.forget(slot.id);
    for (const f of slot.onStopped.splice(0)) f();
    for (const f of slot.onExit.splice(0)) f();
    maybeBeat();
    if (stopping) return;
    if (!started) {
      failStart?.(new Error(`worker ${slot.id} exited during start-up (code ${code}, signal ${signal})`));
      return;
    }
    const lived = Date.now() - slot.startedAt;
    if (lived >= STABLE_MS) slot.backoffMs = MIN_RESTART_MS;
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, MAX_RESTART_MS);
    metrics.workerRestarts.inc();
    log.error({ workerId: slot.id, pid: worker.process.pid, code, signal, wasListening, slotsReleased: released, restartInMs: delay }, 'worker exited; restarting it');
    slot.restartTimer = setTimeout(() => fork(slot), delay);
  };

  const status = () => ({
    version: live().length ? appliedVersion() : null,
    routes: table?.size ?? 0,
    draining,
    controlDb: sync.listening,
    workers: slots.map((s) => ({ id: s.id, pid: s.worker?.process.pid ?? null, state: s.state, version: s.applied, open: s.open })),
  });

  const admin: Server = createAdminServer(
    async () => {
      const workers = slots.filter((s) => s.synced).map((s) => s.id);
      const parts = await metricsRequests.collect(workers, (w, id) => send(byId.get(w)!, { t: 'metrics', id }), METRICS_TIMEOUT_MS);
      return mergeMetrics([await metrics.registry.getMetricsAsJSON(), ...parts]);
    },
    {
      // Ready once every worker serves a table (a worker listens only after its first
      // table arrived); a worker being restarted does not make the proxy unready — the
      // others serve — while draining does.
      ready: () => started && !draining && table !== null && live().length > 0,
      status,
    },
  );

  cluster.schedulingPolicy = config.clusterScheduling === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  // V8's serialisation (length-prefixed frames) instead of JSON lines: a snapshot part is a
  // string of JSON tuples, which JSON framing escaped on the primary and unescaped again in
  // every worker (~0.3 s of the primary's CPU at a cold start with 100,000 routes).
  cluster.setupPrimary({ serialization: 'advanced' });
  sync.start();
  // Workers start beside the snapshot load: they load their modules while the primary waits
  // for the control database, say hello, and receive the snapshot as it streams in.
  for (const s of slots) fork(s);
  connectionLog.start();
  const up = new Promise<void>((resolve, reject) => {
    allListening = resolve;
    failStart = reject;
  });
  let adminPort: number;
  try {
    adminPort = await listenAdmin(admin, config);
    await up;
  } catch (err) {
    stopping = true;
    for (const s of slots) s.worker?.process.kill('SIGKILL');
    await sync.stop();
    await pool.end().catch(() => {});
    admin.close();
    throw err;
  }
  started = true;
  allListening = null;
  failStart = null;
  const ports = slots[0]!.ports;
  log.info({ ports, adminPort, proxyId: config.proxyId, workers: slots.map((s) => ({ id: s.id, pid: s.worker?.process.pid })) }, 'proxy listening');

  /** Resolves when every worker has done `what` (or is gone). */
  const everyWorker = (register: (s: Slot, done: () => void) => void) =>
    Promise.all(
      slots
        .filter((s) => s.worker)
        .map(
          (s) =>
            new Promise<void>((resolve) => {
              s.onExit.push(resolve);
              register(s, resolve);
            }),
        ),
    );

  /**
   * As in a single process: readiness off first, then (after PROXY_ACCEPT_GRACE_MS) every
   * worker stops accepting — the shared listening sockets close once the last worker let go
   * of them — open connections drain up to PROXY_DRAIN_TIMEOUT_MS in every worker, workers
   * send their last events and exit, the queue is flushed, the heartbeat row is removed.
   */
  let stopped: Promise<void> | null = null;
  const shutdown = async () => {
    draining = true;
    log.info({ open: totalOpen(), graceMs: config.acceptGraceMs, workers: live().length }, 'readiness off; draining');
    if (config.acceptGraceMs > 0) await new Promise((r) => setTimeout(r, config.acceptGraceMs));
    stopping = true;
    for (const s of slots) {
      if (s.restartTimer) clearTimeout(s.restartTimer);
      s.restartTimer = null;
    }
    await everyWorker((s, done) => {
      s.state = s.state === 'listening' ? 'stopping' : s.state;
      s.onStopped.push(done);
      if (!send(s, { t: 'stop-accepting' })) done();
    });
    log.info({ open: totalOpen() }, 'listeners closed');
    const kill = setTimeout(() => {
      for (const s of slots) {
        if (!s.worker) continue;
        log.error({ workerId: s.id }, 'worker did not exit after draining; killing it');
        s.worker.process.kill('SIGKILL');
      }
    }, config.drainTimeoutMs + EXIT_GRACE_MS);
    await everyWorker((s) => {
      if (!send(s, { t: 'drain', timeoutMs: config.drainTimeoutMs })) s.worker?.process.kill('SIGKILL');
    });
    clearTimeout(kill);
    log.info('workers stopped');
    await sync.stop();
    await connectionLog.stop(5000);
    await heartbeat.stop();
    await pool.end().catch(() => {});
    await new Promise<void>((r) => admin.close(() => r()));
    log.info({ eventsWritten: connectionLog.written, eventsDropped: connectionLog.dropped }, 'proxy stopped');
  };

  return { adminPort, ports, stop: () => (stopped ??= shutdown()) };
}
