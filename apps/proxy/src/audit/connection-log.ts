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

/** The batch as one array per column (`toColumns`), unnested into rows. Times travel as epoch ms. */
const INSERT_SQL = `
  INSERT INTO connection_events (proxy_id, listener, route_id, tenant_id, database_id, client_address,
    client_port, sni, alpn, tls_version, mode, started_at, ended_at, bytes_in, bytes_out, outcome, reason, upstream,
    connection_id, ended_by)
  SELECT $1, listener, route_id, tenant_id, database_id, client_address, client_port, sni, alpn, tls_version, mode,
    timestamptz 'epoch' + started_ms * interval '1 millisecond', timestamptz 'epoch' + ended_ms * interval '1 millisecond',
    bytes_in, bytes_out, outcome, reason, upstream, connection_id, ended_by
  FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::inet[], $7::int[], $8::text[],
    $9::text[], $10::text[], $11::text[], $12::float8[], $13::float8[], $14::int8[], $15::int8[],
    $16::text[], $17::text[], $18::text[], $19::text[], $20::text[])
    AS u(listener, route_id, tenant_id, database_id, client_address, client_port, sni, alpn, tls_version, mode,
      started_ms, ended_ms, bytes_in, bytes_out, outcome, reason, upstream, connection_id, ended_by)`;

/**
 * PostgreSQL text cannot hold U+0000: a client that put one in its ALPN list (bytes it
 * chooses, latin1-decoded) would make the whole batch fail — and, retried, every batch after
 * it: the audit of every later connection. Stored as U+FFFD instead.
 */
function clean(s: string | null): string | null {
  return s !== null && s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
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

function toColumns(proxyId: string, batch: ConnectionEventInput[]): unknown[] {
  // Array literals built here (audit/pg-array.ts), not by node-postgres: a third of what it
  // allocated per connection was serialising this batch.
  return [
    proxyId,
    textArray(batch, (e) => e.listener),
    textArray(batch, (e) => e.routeId),
    textArray(batch, (e) => e.tenantId),
    textArray(batch, (e) => e.databaseId),
    textArray(batch, (e) => e.clientAddress),
    numberArray(batch, (e) => e.clientPort),
    textArray(batch, (e) => e.sni),
    textArray(batch, (e) => clean(e.alpn)),
    textArray(batch, (e) => e.tlsVersion),
    textArray(batch, (e) => e.mode),
    numberArray(batch, (e) => e.startedAt),
    numberArray(batch, (e) => e.endedAt),
    numberArray(batch, (e) => e.bytesIn),
    numberArray(batch, (e) => e.bytesOut),
    textArray(batch, (e) => e.outcome),
    textArray(batch, (e) => e.reason),
    textArray(batch, (e) => e.upstream),
    textArray(batch, (e) => e.connectionId),
    textArray(batch, (e) => e.endedBy),
  ];
}
