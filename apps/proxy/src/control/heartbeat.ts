/**
 * Tells the control plane this proxy is alive and which config version it serves. The row
 * is written every interval, immediately after each route table swap, and at most every
 * `soonMs` while connections open and close (the live view). A write that changes the
 * applied version (or is this proxy's first) also NOTIFYs the API and the controller, which
 * is how `?wait=true` and `Programmed` learn that a change has propagated; the others do
 * not: listeners re-read only on news, and a busy proxy beats ~3 times a second — with N
 * proxies, 3·N notifications a second to every API replica for nothing.
 */
import { hostname } from 'node:os';
import { PROXY_APPLIED_CHANNEL, type ListenerSpec } from '@switchyard/core';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { OpenConnectionInfo } from '../listener/registry.js';

export interface HeartbeatState {
  appliedVersion: number;
  stats: Record<string, number>;
  /** Routed connections open now, newest first (the API's live view), capped by the caller. */
  connections?: OpenConnectionInfo[];
}

/** Open connections a heartbeat reports at most (the live view shows the newest). */
export const MAX_REPORTED_CONNECTIONS = 500;
/** Shortest gap between beats triggered by connections opening or closing (default). */
export const HEARTBEAT_SOON_MS = 300;

export interface HeartbeatOptions {
  proxyId: string;
  intervalMs: number;
  /** Shortest gap between beats triggered by connections opening or closing (HEARTBEAT_SOON_MS). */
  soonMs?: number;
  listeners: ListenerSpec[];
  softwareVersion: string;
}

const UPSERT_SQL = `
  WITH up AS (
    INSERT INTO proxy_instances (id, hostname, pid, version, applied_version, listeners, stats, connections, started_at, heartbeat_at, applied_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $10, $8, now(), now())
    ON CONFLICT (id) DO UPDATE SET
      hostname = EXCLUDED.hostname, pid = EXCLUDED.pid, version = EXCLUDED.version, started_at = EXCLUDED.started_at,
      listeners = EXCLUDED.listeners, stats = EXCLUDED.stats, connections = EXCLUDED.connections, heartbeat_at = now(),
      applied_at = CASE WHEN proxy_instances.applied_version IS DISTINCT FROM EXCLUDED.applied_version
                        THEN now() ELSE proxy_instances.applied_at END,
      applied_version = EXCLUDED.applied_version
    -- applied_at is now() (at the column's millisecond precision) exactly when the row is new
    -- or its version changed in this write.
    RETURNING applied_at = now()::timestamptz(3) AS changed)
  SELECT pg_notify($9, $1 || ':' || $5::text) FROM up WHERE changed`;

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private again = false;
  /** This process's start, as its row records it: control orders name it (control/orders.ts). */
  readonly startedAt = new Date();
  private failing = false;
  private soonTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: Pick<pg.Pool, 'query'>,
    private readonly opts: HeartbeatOptions,
    private readonly state: () => HeartbeatState,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Writes now (coalescing with a write in flight). */
  beat(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.write().finally(() => {
      this.inFlight = null;
      if (this.again) {
        this.again = false;
        void this.beat();
      }
    });
    return this.inFlight;
  }

  /**
   * A beat shortly (connections opened or closed): at most one per `soonMs` however busy the
   * proxy, so the live view follows within a second without a write per connection.
   */
  beatSoon(): void {
    if (this.soonTimer || !this.timer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      void this.beat();
    }, this.opts.soonMs ?? HEARTBEAT_SOON_MS);
    this.soonTimer.unref();
  }

  private async write(): Promise<void> {
    const s = this.state();
    try {
      await this.pool.query(UPSERT_SQL, [
        this.opts.proxyId,
        hostname(),
        process.pid,
        this.opts.softwareVersion,
        s.appliedVersion,
        JSON.stringify(this.opts.listeners.map((l) => ({ name: l.name, protocol: l.protocol, port: l.port }))),
        JSON.stringify(s.stats),
        this.startedAt,
        PROXY_APPLIED_CHANNEL,
        JSON.stringify((s.connections ?? []).slice(0, MAX_REPORTED_CONNECTIONS)),
      ]);
      if (this.failing) this.log.info('heartbeat resumed');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.warn({ err: (err as Error).message }, 'heartbeat failed');
      this.failing = true;
    }
  }

  /** Removes this proxy from the live set, so nobody waits for it after it stopped. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.soonTimer) clearTimeout(this.soonTimer);
    await this.inFlight;
    await this.pool.query('DELETE FROM proxy_instances WHERE id = $1', [this.opts.proxyId]).catch(() => {});
  }
}
