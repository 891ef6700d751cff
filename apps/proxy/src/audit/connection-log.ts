/**
 * Writes one ConnectionEvent per finished connection, in batches, off the hot path.
 *
 * The queue is bounded: while the control database is unreachable events wait (and are
 * retried in order); once the queue is full, new events are dropped and counted. Nothing is
 * lost silently: drops are exported as a metric, reported in the heartbeat, and logged —
 * when dropping starts, every 1,000 drops, and once writes resume, with the outage's total.
 * On shutdown the queue is flushed (bounded); whatever still cannot be written is counted
 * as dropped and logged with its count.
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { ProxyMetrics } from '../metrics.js';
import { numberArray, textArray } from './pg-array.js';

export interface ConnectionEventInput {
  listener: string;
  routeId: string | null;
  tenantId: string | null;
  databaseId: string | null;
  /** null when the socket had no remote address. */
  clientAddress: string | null;
  clientPort: number;
  sni: string | null;
  alpn: string | null;
  tlsVersion: string | null;
  mode: string | null;
  startedAt: number;
  endedAt: number;
  bytesIn: number;
  bytesOut: number;
  outcome: string;
  reason: string;
  /** The endpoint the connection went to (`host:port`), when one was reached. */
  upstream?: string | null;
  /** Registry id of a routed connection (`<worker>.<seq>`). */
  connectionId?: string | null;
  /** Who terminated it through the API. */
  endedBy?: string | null;
}

export interface ConnectionLogOptions {
  proxyId: string;
  queueMax: number;
  batchSize: number;
  flushMs: number;
}

/**
 * PostgreSQL text cannot hold U+0000: a client that put one in its ALPN list (bytes it
 * chooses, latin1-decoded) would make the whole batch fail — and, retried, every batch after
 * it: the audit of every later connection. Stored as U+FFFD instead.
 */
function clean(s: string | null): string | null {
  return s !== null && s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
}

type Column = { name: string; type: string; select?: string } & (
  | { text: (e: ConnectionEventInput) => string | null | undefined }
  | { number: (e: ConnectionEventInput) => number | null | undefined }
);

/**
 * The table's columns after `proxy_id`, in one place: the INSERT, the unnest and the values
 * are all made from this list. Each travels as one array literal (audit/pg-array.ts; built
 * here rather than by node-postgres, whose serialising was a third of what the proxy
 * allocated per connection). Times travel as epoch milliseconds.
 */
const COLUMNS: readonly Column[] = [
  { name: 'listener', type: 'text', text: (e) => e.listener },
  { name: 'route_id', type: 'uuid', text: (e) => e.routeId },
  { name: 'tenant_id', type: 'uuid', text: (e) => e.tenantId },
  { name: 'database_id', type: 'uuid', text: (e) => e.databaseId },
  { name: 'client_address', type: 'inet', text: (e) => e.clientAddress },
  { name: 'client_port', type: 'int', number: (e) => e.clientPort },
  { name: 'sni', type: 'text', text: (e) => e.sni },
  { name: 'alpn', type: 'text', text: (e) => clean(e.alpn) },
  { name: 'tls_version', type: 'text', text: (e) => e.tlsVersion },
  { name: 'mode', type: 'text', text: (e) => e.mode },
  { name: 'started_at', type: 'float8', select: "timestamptz 'epoch' + started_at * interval '1 millisecond'", number: (e) => e.startedAt },
  { name: 'ended_at', type: 'float8', select: "timestamptz 'epoch' + ended_at * interval '1 millisecond'", number: (e) => e.endedAt },
  { name: 'bytes_in', type: 'int8', number: (e) => e.bytesIn },
  { name: 'bytes_out', type: 'int8', number: (e) => e.bytesOut },
  { name: 'outcome', type: 'text', text: (e) => e.outcome },
  { name: 'reason', type: 'text', text: (e) => e.reason },
  { name: 'upstream', type: 'text', text: (e) => e.upstream },
  { name: 'connection_id', type: 'text', text: (e) => e.connectionId },
  { name: 'ended_by', type: 'text', text: (e) => e.endedBy },
];

const names = COLUMNS.map((c) => c.name).join(', ');
const INSERT_SQL = `INSERT INTO connection_events (proxy_id, ${names})
  SELECT $1, ${COLUMNS.map((c) => c.select ?? c.name).join(', ')}
  FROM unnest(${COLUMNS.map((c, i) => `$${i + 2}::${c.type}[]`).join(', ')}) AS u(${names})`;

/** The query's parameters for `batch`: the proxy id, then one array literal per column. */
function toColumns(proxyId: string, batch: ConnectionEventInput[]): unknown[] {
  return [proxyId, ...COLUMNS.map((c) => ('text' in c ? textArray(batch, c.text) : numberArray(batch, c.number)))];
}

/**
 * The batch itself was refused (SQLSTATE class 22 data exception, 23 integrity violation):
 * retrying it would fail forever, so its events are written one by one instead and only the
 * one the database refuses is dropped. Any other error (connection lost, server shutting
 * down, table missing) is an outage: the batch waits and is retried.
 */
/** Refused events of one batch logged with their content; beyond, one line with the count. */
const LOGGED_REFUSALS = 3;

function refusedByData(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

export class ConnectionLog extends EventEmitter<{ record: [ConnectionEventInput] }> {
  private queue: ConnectionEventInput[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failing = false;
  private _dropped = 0;
  /** Drops since writes last succeeded (for the summary when they resume). */
  private droppedInOutage = 0;
  private _written = 0;

  constructor(
    private readonly pool: Pick<pg.Pool, 'query'>,
    private readonly opts: ConnectionLogOptions,
    private readonly metrics: ProxyMetrics,
    private readonly log: Logger,
  ) {
    super();
    metrics.auditQueueLength = () => this.queue.length;
  }

  get dropped(): number {
    return this._dropped;
  }
  get written(): number {
    return this._written;
  }
  get pending(): number {
    return this.queue.length;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.opts.flushMs);
    this.timer.unref();
  }

  record(ev: ConnectionEventInput): void {
    this.emit('record', ev);
    if (this.queue.length >= this.opts.queueMax) {
      this._dropped++;
      this.droppedInOutage++;
      this.metrics.auditDropped.inc();
      if (this._dropped === 1 || this._dropped % 1000 === 0) {
        this.log.warn({ dropped: this._dropped, queueMax: this.opts.queueMax }, 'connection audit queue full: dropping events');
      }
      return;
    }
    this.queue.push(ev);
    if (this.queue.length >= this.opts.batchSize && !this.failing) void this.flush();
  }

  /**
   * Events lost before they reached this queue (cluster: a worker's own bounded buffer
   * overflowed); counted like the queue's own drops.
   */
  recordDropped(n: number): void {
    if (n <= 0) return;
    const before = this._dropped;
    this._dropped += n;
    this.droppedInOutage += n;
    this.metrics.auditDropped.inc(n);
    if (before === 0 || Math.floor(before / 1000) !== Math.floor(this._dropped / 1000)) {
      this.log.warn({ dropped: this._dropped, queueMax: this.opts.queueMax }, 'connection audit: worker dropped events');
    }
  }

  /** Writes queued events; resolves when the queue is empty or the database failed. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.opts.batchSize);
      let done: number;
      try {
        await this.write(batch);
        done = batch.length;
        this._written += done;
        this.metrics.auditWritten.inc(done);
      } catch (err) {
        if (!refusedByData(err)) return this.outage(err);
        const n = await this.writeOneByOne(batch);
        if (n === null) return;
        done = n;
      }
      this.resumed();
      this.queue.splice(0, done);
    }
  }

  private write(batch: ConnectionEventInput[]): Promise<unknown> {
    return this.pool.query(INSERT_SQL, toColumns(this.opts.proxyId, batch));
  }

  /**
   * A batch the database refused: each event alone, dropping (counted, logged) those it
   * refuses. Returns how many were settled, or null when an outage began meanwhile (what was
   * settled is taken off the queue here; the rest of the batch stays queued).
   */
  private async writeOneByOne(batch: ConnectionEventInput[]): Promise<number | null> {
    // The first few refused events of a batch are logged with their content, then a count: a
    // fault that refuses every event (a column's type changed under us) must not flood the log.
    let refused = 0;
    for (let i = 0; i < batch.length; i++) {
      try {
        await this.write([batch[i]!]);
        this._written++;
        this.metrics.auditWritten.inc();
      } catch (err) {
        if (!refusedByData(err)) {
          this.queue.splice(0, i);
          this.outage(err);
          return null;
        }
        this._dropped++;
        this.metrics.auditDropped.inc();
        if (++refused <= LOGGED_REFUSALS) this.log.error({ err: (err as Error).message, code: (err as { code?: string }).code, event: batch[i] }, 'connection event refused by the database: dropped');
      }
    }
    if (refused > LOGGED_REFUSALS) this.log.error({ refused, batch: batch.length, droppedTotal: this._dropped }, 'connection events refused by the database: dropped (the first ones logged above)');
    return batch.length;
  }

  private outage(err: unknown): void {
    if (!this.failing) this.log.warn({ err: (err as Error).message, pending: this.queue.length }, 'connection audit write failed; will retry');
    this.failing = true;
  }

  /** A write succeeded: end an outage (with its summary). */
  private resumed(): void {
    if (this.failing || this.droppedInOutage > 0) {
      const msg = this.droppedInOutage > 0 ? 'connection audit writes resumed; events were dropped meanwhile' : 'connection audit writes resumed';
      this.log[this.droppedInOutage > 0 ? 'warn' : 'info']({ pending: this.queue.length, droppedDuringOutage: this.droppedInOutage, droppedTotal: this._dropped }, msg);
    }
    this.failing = false;
    this.droppedInOutage = 0;
  }

  /** Final flush on shutdown, bounded by `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      await Promise.race([this.flush(), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
      if (this.failing) break;
    }
    if (this.queue.length > 0) {
      const lost = this.queue.length;
      this.queue = [];
      this._dropped += lost;
      this.metrics.auditDropped.inc(lost);
      this.log.error({ lost, droppedTotal: this._dropped, written: this._written }, 'connection events not written at shutdown (counted as dropped)');
    } else {
      this.log.info({ written: this._written, droppedTotal: this._dropped }, 'connection events flushed');
    }
  }
}

