/**
 * Keeps the proxy's route table in step with the control database, entirely off the hot
 * path:
 *  - at start it loads a full snapshot in one REPEATABLE READ transaction, through a cursor
 *    in batches (`SNAPSHOT_BATCH`), building the table between them;
 *  - after a reconnect of the LISTEN connection (notifications may have been missed) it reads
 *    the change log after its version, like a delta, if the log still holds the change its
 *    table ends with (same version, same commit time: the same history, not a restored or
 *    failed-over database that reused the number); otherwise a full snapshot. With a fleet
 *    reconnecting at once after a database restart, that is N small reads instead of N full
 *    snapshots (`npm run bench:fleet`);
 *  - on each NOTIFY it reads the change log after the version it holds and, if the log is
 *    gap-free, the changed routes, in one batch (one snapshot, one round trip), and derives
 *    a new table; if the log has a gap (pruned history), it loads a full snapshot instead;
 *  - a periodic check catches anything a lost notification would hide;
 *  - on any database error it keeps the table it has and retries with backoff.
 * Loads are serialised and coalesced: notifications arriving during a load are folded into
 * the next one.
 */
import {
  CONFIG_CHANNEL,
  CONTROL_CHANNEL,
  parseControlOrder,
  ROUTE_SNAPSHOT_SQL,
  routeDeltaSql,
  type ControlOrder,
  routeFromRow,
  type RouteDeltaChange,
  type RouteDeltaHead,
  type RouteRecord,
  type RouteSnapshotRow,
} from '@switchyard/core';
import { NotificationListener } from '@switchyard/db';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { ProxyMetrics } from '../metrics.js';
import { RouteTable } from '../router/route-table.js';

export interface TableChange {
  kind: 'full' | 'delta';
  table: RouteTable;
  previous: RouteTable | null;
  /** Route ids whose entry changed or disappeared (all ids for a full load). */
  changedIds: readonly string[];
  /** Commit time of the newest applied change, when known. */
  committedAt: Date | null;
}

export interface RouteSyncOptions {
  connectionString: string;
  pool: pg.Pool;
  resyncIntervalMs: number;
  log: Logger;
  metrics: ProxyMetrics;
  onChange: (change: TableChange) => void;
  applicationName?: string;
  /**
   * Observe commit-to-apply time at the swap (default). The cluster primary turns it off:
   * there a table serves nobody until the workers have it, so they observe it instead.
   */
  observeApplyLag?: boolean;
  /**
   * Orders on the control channel (terminate a connection), already checked; the same LISTEN
   * connection carries them, so a proxy needs no second control-database connection.
   */
  onControl?: (order: ControlOrder) => void;
  /**
   * LISTEN succeeded on a fresh connection (first connect or reconnect): notifications sent
   * while it was down were lost, so kept state (pending control orders) is read now.
   */
  onListening?: () => void;
  /**
   * A full snapshot's routes as they stream in, batch by batch, before its table is built
   * (the cluster primary forwards each batch to its workers at once, so they build their
   * tables while the snapshot is still loading): `begin` at its start, `rows` per batch,
   * then `onChange` with the table — or `abort` if the load failed part-way.
   */
  snapshotStream?: SnapshotStream;
  /** Rows per FETCH of a full snapshot (default `SNAPSHOT_BATCH`; tests use a few). */
  snapshotBatchRows?: number;
}

export interface SnapshotStream {
  begin(version: number, committedAt: Date | null): void;
  rows(records: RouteRecord[]): void;
  abort(): void;
}

/**
 * Rows per FETCH of a full snapshot. The table is built batch by batch with the event loop
 * free between batches: with one query, decoding and building 100,000 routes held it for
 * 0.47–0.63 s in one piece (a proxy's hot path stalls for that long during a resync), in
 * batches for at most 0.14–0.17 s, at ~8 % more CPU for the load (`npm run
 * bench:cold-start`, docs/performance.md). The client decodes one batch while the server
 * produces the next, and the cluster primary forwards each batch to its workers at once.
 */
export const SNAPSHOT_BATCH = 2000;

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5000;

export class RouteSync {
  private table: RouteTable | null = null;
  private readonly listener: NotificationListener;
  private dirty = false;
  private needFull = true;
  /** After a reconnect: check the change log still continues the table's history. */
  private verify = false;
  /** The newest change the table holds: its version and commit time (null: none known). */
  private fence: { version: number; at: number } | null = null;
  private running: Promise<void> | null = null;
  private backoff = MIN_BACKOFF_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private everConnected = false;

  constructor(private readonly opts: RouteSyncOptions) {
    this.listener = new NotificationListener({
      connectionString: opts.connectionString,
      channels: opts.onControl ? [CONFIG_CHANNEL, CONTROL_CHANNEL] : [CONFIG_CHANNEL],
      applicationName: opts.applicationName ?? 'switchyard-proxy-routesync',
      onNotification: (ch, payload) => {
        if (ch !== CONTROL_CHANNEL) return this.onNotification(payload);
        const order = parseControlOrder(payload);
        if (order) opts.onControl?.(order);
        else opts.log.warn({ channel: ch }, 'malformed control order ignored');
      },
      onConnected: () => {
        opts.metrics.controlDbUp.set(1);
        if (this.everConnected) {
          opts.log.info('control database reconnected; resyncing routes');
          this.verify = true;
        }
        this.everConnected = true;
        this.schedule();
        opts.onListening?.();
      },
      onDisconnected: (err) => {
        opts.metrics.controlDbUp.set(0);
        opts.log.warn({ err: err.message }, 'control database connection lost; serving the last route table');
      },
    });
  }

  get current(): RouteTable | null {
    return this.table;
  }

  get listening(): boolean {
    return this.listener.connected;
  }

  start(): void {
    this.listener.start();
    this.schedule();
    this.pollTimer = setInterval(() => this.schedule(), this.opts.resyncIntervalMs);
    this.pollTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    await this.listener.stop();
    await this.running;
  }

  private onNotification(payload: string): void {
    const v = Number(payload);
    if (this.table && Number.isFinite(v) && v <= this.table.version) return;
    this.schedule();
  }

  /** Requests a sync; coalesces with one in flight. */
  schedule(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.running ??= this.loop().finally(() => {
      this.running = null;
    });
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      const kind = this.needFull || !this.table || (this.verify && !this.fence) ? 'full' : 'delta';
      try {
        if (kind === 'full') await this.loadFull();
        else await this.loadDelta();
        this.opts.metrics.syncs.inc({ kind, result: 'ok' });
        this.backoff = MIN_BACKOFF_MS;
      } catch (err) {
        this.opts.metrics.syncs.inc({ kind, result: 'error' });
        this.opts.log.warn({ err: (err as Error).message, retryInMs: this.backoff }, 'route sync failed; keeping the current table');
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.schedule(), this.backoff);
        this.retryTimer.unref();
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
        return;
      }
    }
  }

  private async withSnapshot<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.opts.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * Several statements in one simple-protocol query (one round trip); the results in order.
   * A batch that opened a transaction and failed is rolled back before the connection goes
   * back to the pool.
   */
  private async batch<R extends unknown[]>(sql: string): Promise<{ [K in keyof R]: pg.QueryResult<R[K] & pg.QueryResultRow> }> {
    const client = await this.opts.pool.connect();
    try {
      return (await client.query(sql)) as unknown as { [K in keyof R]: pg.QueryResult<R[K] & pg.QueryResultRow> };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  private async loadFull(): Promise<void> {
    const started = performance.now();
    const stream = this.opts.snapshotStream;
    let streaming = false;
    const builder = RouteTable.builder();
    let loaded: { version: number; committedAt: Date | null; fence: { version: number; at: number } | null };
    try {
      loaded = await this.withSnapshot(async (c) => {
        const v = await c.query<{ version: number; updated_at: Date; created_at: Date | null }>(
          `SELECT s.version::float8 AS version, s.updated_at, ch.created_at
             FROM config_state s LEFT JOIN config_changes ch ON ch.version = s.version WHERE s.id = 1`,
        );
        const row = v.rows[0];
        const version = row?.version ?? 0;
        const committedAt = row?.updated_at ?? null;
        // A cursor in the snapshot's transaction: rows arrive in batches. The planner costs a
        // cursor for its first rows unless told the whole result is read.
        await c.query('SET LOCAL cursor_tuple_fraction = 1');
        await c.query(`DECLARE route_snapshot NO SCROLL CURSOR FOR ${ROUTE_SNAPSHOT_SQL}`, [null]);
        stream?.begin(version, committedAt);
        streaming = stream !== undefined;
        const size = this.opts.snapshotBatchRows ?? SNAPSHOT_BATCH;
        const fetch = () => {
          const q = c.query<RouteSnapshotRow>(`FETCH ${size} FROM route_snapshot`);
          // A fetch sent ahead and never awaited (the batch before it failed) must not crash
          // the process as an unhandled rejection; the error that matters is already thrown.
          q.catch(() => {});
          return q;
        };
        let next = fetch();
        for (;;) {
          const batch = (await next).rows;
          const more = batch.length === size;
          // Asked before this batch is decoded, so the server works while the client does.
          if (more) next = fetch();
          const records = batch.map(routeFromRow);
          stream?.rows(records);
          builder.add(records);
          if (!more) break;
        }
        return { version, committedAt, fence: row?.created_at ? { version: row.version, at: row.created_at.getTime() } : null };
      });
    } catch (err) {
      if (streaming) stream!.abort();
      throw err;
    }
    const { version, committedAt, fence } = loaded;
    this.fence = fence;
    this.verify = false;
    const previous = this.table;
    const table = builder.build(version);
    this.needFull = false;
    this.swap({ kind: 'full', table, previous, changedIds: allIds(previous, table), committedAt });
    this.opts.log.info({ version, routes: table.size, ms: Math.round(performance.now() - started) }, 'route table loaded');
  }

  private async loadDelta(): Promise<void> {
    const have = this.table!.version;
    const verify = this.verify;
    const fence = this.fence;
    // One round trip, one snapshot (a fleet pays this per proxy per change).
    const results = await this.batch<[unknown, RouteDeltaHead, RouteDeltaChange, RouteSnapshotRow, unknown]>(routeDeltaSql(have, fence?.version ?? -1));
    const head = results[1].rows[0];
    const latest = head?.latest ?? 0;
    const result = ((): { latest: number; gap: boolean; records: RouteRecord[]; ids: string[]; committedAt: Date | null } => {
      const none = { latest, gap: false, records: [], ids: [], committedAt: null };
      // After a reconnect: a database whose log no longer holds our newest change as we saw
      // it (restored, failed over with lost commits, pruned past us) gets a full snapshot.
      if (verify && (latest < have || fence?.version !== have || head?.fence_at?.getTime() !== fence.at)) return { ...none, gap: true };
      if (latest <= have) return none;
      const changes = results[2].rows;
      if (changes.length !== latest - have || changes[0]?.version !== have + 1) return { ...none, gap: true };
      const ids = [...new Set(changes.map((c) => c.route_id))];
      return { latest, gap: false, records: results[3].rows.map(routeFromRow), ids, committedAt: changes[changes.length - 1]!.created_at };
    })();
    if (!result.gap) this.verify = false;
    if (result.latest <= have && !result.gap) {
      if (verify) this.opts.log.info({ version: have }, 'route table still current after reconnect (change log checked)');
      return;
    }
    if (result.gap) {
      this.opts.log.info({ have, latest: result.latest }, 'change log has a gap; loading a full snapshot');
      this.needFull = true;
      this.dirty = true;
      return;
    }
    const present = new Set(result.records.map((r) => r.id));
    const deletes = result.ids.filter((id) => !present.has(id));
    const previous = this.table!;
    const table = previous.withChanges(result.latest, result.records, deletes);
    this.fence = result.committedAt ? { version: result.latest, at: result.committedAt.getTime() } : null;
    this.swap({ kind: 'delta', table, previous, changedIds: result.ids, committedAt: result.committedAt });
  }

  private swap(change: TableChange): void {
    this.table = change.table;
    this.opts.metrics.tableVersion.set(change.table.version);
    this.opts.metrics.tableRoutes.set(change.table.size);
    if (change.kind === 'delta' && change.committedAt && this.opts.observeApplyLag !== false) {
      this.opts.metrics.applyLag.observe(Math.max(0, Date.now() - change.committedAt.getTime()) / 1000);
    }
    this.opts.onChange(change);
  }
}

/** Every route id of a full load: the table's, and the previous table's that are gone. */
function allIds(previous: RouteTable | null, table: RouteTable): string[] {
  const ids: string[] = [];
  for (const r of table.routes()) ids.push(r.id);
  if (previous) for (const r of previous.routes()) if (!table.get(r.id)) ids.push(r.id);
  return ids;
}
