/**
 * A cluster worker: listeners and the data plane only. It never talks to the control
 * database. Its route table is built here from the snapshot and deltas the primary sends
 * (off the hot path, swapped in one reference, like route sync does in a single process);
 * connection events go to the primary in batches; connection caps are asked of the primary
 * for capped routes only. The listeners bind once the first table is in, so node:cluster's
 * round-robin never hands a connection to a worker without routes.
 *
 * Signals are the primary's business (a terminal's Ctrl-C reaches the whole process group):
 * a worker ignores SIGINT/SIGTERM and stops when the primary says so, or when the primary
 * is gone.
 */
import type { Logger } from 'pino';
import type { ProxyConfig } from '../config.js';
import { MAX_REPORTED_CONNECTIONS } from '../control/heartbeat.js';
import { DataPlane } from '../dataplane.js';
import { createMetrics } from '../metrics.js';
import { ClientRateLimiter } from '../policy/rate-limit.js';
import type { TableChange } from '../routesync/route-sync.js';
import { WorkerCancelRelay } from './cancel-relay.js';
import { EventBatcher } from './event-batcher.js';
import { decodeToWorker, SnapshotAssembler, type FromWorker, type ToWorker } from './messages.js';
import { SharedRecentRefusals } from './refusals.js';
import { IpcLimits } from './slots.js';

/** Worker → primary stats cadence (open connections for the heartbeat and /readyz). */
const STATS_MS = 1000;
const STATS_SOON_MS = 200;
/** Connection events per IPC message, and how long an event may wait for company. */
const EVENT_BATCH = 256;
const EVENT_FLUSH_MS = 50;

type Payload<T> = T extends unknown ? Omit<T, 'sy'> : never;

/**
 * The per-worker share of the per-client-address rate: round-robin spreads one client's
 * new connections evenly over the workers, so each enforces 1/N of the rate and burst
 * (a bucket never smaller than one connection).
 */
export function workerClientRate(rate: NonNullable<ProxyConfig['clientRate']>, workers: number): NonNullable<ProxyConfig['clientRate']> {
  return { ratePerSec: rate.ratePerSec / workers, burst: Math.max(1, Math.ceil(rate.burst / workers)), maxTracked: rate.maxTracked };
}

export async function runWorker(config: ProxyConfig, log: Logger): Promise<void> {
  const workerId = config.workerId;
  const send = (msg: Payload<FromWorker>): boolean => {
    if (!process.connected || !process.send) return false;
    // A full backlog still queues the message; only a closed channel loses it.
    process.send({ sy: 1, ...msg });
    return true;
  };
  const metrics = createMetrics(config.metrics);
  const limits = new IpcLimits(send);
  const rateLimiter = config.clientRate ? new ClientRateLimiter(workerClientRate(config.clientRate, config.workers)) : null;
  const events = new EventBatcher(send, { maxBatch: EVENT_BATCH, maxPending: config.audit.queueMax, flushMs: EVENT_FLUSH_MS });
  const cancelRelay = new WorkerCancelRelay(workerId, send);
  const recentRefusals = new SharedRecentRefusals(send);
  const workerLabel = { worker: String(workerId) };
  const plane = new DataPlane({
    config,
    log,
    metrics,
    limits,
    rateLimiter,
    recentRefusals,
    workerId,
    forwardCancelToWorker: (id, request) => void cancelRelay.forwardCancelToWorker(id, request),
    recordEvent: (ev) => events.record(ev),
    onAccept: () => metrics.workerConnections.inc(workerLabel),
  });
  // Cancels other workers received for keys this worker minted (pg/cancel.ts).
  cancelRelay.onForwarded((request) => void plane.cancels.handleCancelBytes(request));
  const assembler = new SnapshotAssembler();
  let listening: Promise<void> | null = null;
  let stopping = false;
  const sendStats = () => send({ t: 'stats', open: plane.openConnections, routed: plane.registry.size, conns: plane.registry.snapshot(MAX_REPORTED_CONNECTIONS) });
  const statsTimer = setInterval(sendStats, STATS_MS);
  statsTimer.unref();
  // Connections opening or closing reach the live view soon, at most every STATS_SOON_MS.
  let statsSoon: NodeJS.Timeout | null = null;
  plane.registry.onChange(() => {
    if (statsSoon) return;
    statsSoon = setTimeout(() => {
      statsSoon = null;
      sendStats();
    }, STATS_SOON_MS);
    statsSoon.unref();
  });

  const publish = (change: TableChange, committedAt: number | null) => {
    plane.apply(change);
    metrics.tableVersion.set(change.table.version);
    metrics.tableRoutes.set(change.table.size);
    if (change.kind === 'delta' && committedAt !== null) metrics.applyLag.observe(Math.max(0, Date.now() - committedAt) / 1000);
    send({ t: 'applied', version: change.table.version, routes: change.table.size });
    listening ??= plane.listen().then(
      (ports) => {
        if (stopping) return;
        log.info({ ports }, 'worker listening');
        send({ t: 'listening', ports });
      },
      (err: Error) => {
        log.fatal({ err: err.message }, 'worker cannot listen');
        process.exit(1);
      },
    );
  };

  let snapshotStarted = 0;
  const onSnapshot = (msg: Extract<ToWorker, { t: 'snapshot' }>) => {
    if (msg.part === 0) snapshotStarted = performance.now();
    const snap = assembler.feed(msg);
    if (!snap) return;
    const started = performance.now();
    const previous = plane.table;
    const { table } = snap;
    const ids: string[] = [];
    for (const r of table.routes()) ids.push(r.id);
    if (previous) for (const r of previous.routes()) if (!table.get(r.id)) ids.push(r.id);
    publish({ kind: 'full', table, previous, changedIds: ids, committedAt: snap.committedAt === null ? null : new Date(snap.committedAt) }, null);
    log.info({ version: snap.version, routes: table.size, applyMs: Math.round(performance.now() - started), sinceFirstPartMs: Math.round(performance.now() - snapshotStarted) }, 'route table applied');
  };

  const onDelta = (msg: Extract<ToWorker, { t: 'delta' }>) => {
    const previous = plane.table;
    if (previous && msg.version <= previous.version) return;
    if (!previous || previous.version !== msg.from) {
      send({ t: 'resync', have: previous?.version ?? null });
      return;
    }
    const table = previous.withChanges(msg.version, msg.upserts, msg.deletes);
    const changedIds = [...msg.upserts.map((r) => r.id), ...msg.deletes];
    publish({ kind: 'delta', table, previous, changedIds, committedAt: msg.committedAt === null ? null : new Date(msg.committedAt) }, msg.committedAt);
  };

  const stopAccepting = async () => {
    stopping = true;
    await listening?.catch(() => {});
    await plane.stopAccepting();
  };

  const drainAndExit = async (timeoutMs: number) => {
    await stopAccepting();
    await plane.drain(timeoutMs);
    clearInterval(statsTimer);
    events.flush();
    log.info('worker drained');
    if (!process.connected || !process.send) process.exit(0);
    // `bye` follows the last events on the same channel; exit once it is written.
    process.send({ sy: 1, t: 'bye' } satisfies FromWorker, undefined, undefined, () => process.exit(0));
  };

  process.on('message', (raw: unknown) => {
    const msg = decodeToWorker(raw);
    if (!msg) return;
    switch (msg.t) {
      case 'snapshot':
        return onSnapshot(msg);
      case 'delta':
        return onDelta(msg);
      case 'slot':
        return limits.answer(msg.id, msg.refusal);
      case 'metrics':
        void metrics.registry.getMetricsAsJSON().then((m) => send({ t: 'metrics', id: msg.id, metrics: m }));
        return;
      case 'cancel':
        return cancelRelay.deliver(msg.bytes);
      case 'refusal':
      case 'refusal-taken':
        return recentRefusals.applyNote(msg);
      case 'stop-accepting':
        void stopAccepting().then(() => send({ t: 'accepting-stopped', open: plane.openConnections }));
        return;
      case 'drain':
        void drainAndExit(msg.timeoutMs);
        return;
      case 'terminate': {
        const done = plane.registry.terminate(msg.id, msg.by);
        log.info({ connectionId: msg.id, by: msg.by, found: done }, done ? 'connection terminated on order' : 'terminate order for a connection not open here');
        return;
      }
    }
  });
  process.on('disconnect', () => {
    limits.failAll();
    if (stopping) return;
    log.error('cluster primary is gone; draining and exiting');
    void drainAndExit(config.drainTimeoutMs);
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => log.debug({ signal: sig }, 'signal ignored: the primary stops workers'));

  send({ t: 'hello' });
}
