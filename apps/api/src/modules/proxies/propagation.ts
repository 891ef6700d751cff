/**
 * Knows which live proxies have applied which config version. Proxies NOTIFY after every
 * table swap and heartbeat; each notification bumps a generation counter and wakes waiters,
 * which then share one query per generation (so 200 concurrent `?wait=true` calls cost one
 * query per proxy report, not 200).
 */
import { PROXY_APPLIED_CHANNEL } from '@switchyard/core';
import { NotificationListener, type PrismaClient } from '@switchyard/db';
import type { FastifyBaseLogger } from 'fastify';
import type { Propagation } from '../external-access/external-access.schemas.js';

export interface ProxyRow {
  id: string;
  hostname: string;
  appliedVersion: number;
  heartbeatAt: Date;
  startedAt: Date;
  appliedAt: Date | null;
  listeners: unknown;
  stats: unknown;
}

export class PropagationTracker {
  private readonly listener: NotificationListener;
  private generation = 0;
  private wakers = new Set<() => void>();
  private cached: { generation: number; rows: Promise<ProxyRow[]>; at: number } | null = null;
  /** Told the result of every wait (the API's metrics; none in the controller). */
  onWait: ((source: 'request' | 'acme', result: Propagation['state']) => void) | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    connectionString: string,
    private readonly livenessMs: number,
    log: FastifyBaseLogger,
  ) {
    this.listener = new NotificationListener({
      connectionString,
      channels: [PROXY_APPLIED_CHANNEL],
      applicationName: 'switchyard-api-propagation',
      onNotification: () => this.bump(),
      // Reports may have been missed while disconnected: re-check everything.
      onConnected: () => this.bump(),
      onDisconnected: (err) => log.warn({ err: err.message }, 'propagation listener disconnected'),
    });
  }

  start(): void {
    this.listener.start();
  }

  stop(): Promise<void> {
    for (const w of this.wakers) w();
    return this.listener.stop();
  }

  private bump(): void {
    this.generation++;
    const w = this.wakers;
    this.wakers = new Set();
    for (const wake of w) wake();
  }

  /**
   * Live proxies (recent heartbeat). `shared` lets concurrent waiters reuse one query per
   * notification generation (bounded to 1 s, as liveness also changes without notifications);
   * everything else reads fresh.
   */
  liveProxies(shared = false): Promise<ProxyRow[]> {
    if (!shared || !this.cached || this.cached.generation !== this.generation || Date.now() - this.cached.at > 1000) {
      const rows = this.prisma.proxyInstance
        .findMany({ where: { heartbeatAt: { gt: new Date(Date.now() - this.livenessMs) } }, orderBy: { id: 'asc' } })
        .then((list) => list.map((p) => ({ ...p, appliedVersion: Number(p.appliedVersion) })));
      this.cached = { generation: this.generation, rows, at: Date.now() };
      rows.catch(() => {
        this.cached = null;
      });
    }
    return this.cached.rows;
  }

  async status(version: number, shared = false): Promise<Propagation> {
    const proxies = await this.liveProxies(shared);
    const list = proxies.map((p) => ({ id: p.id, appliedVersion: p.appliedVersion, applied: p.appliedVersion >= version }));
    const state = list.length === 0 ? 'no-proxies' : list.every((p) => p.applied) ? 'applied' : 'pending';
    return { version, state, proxies: list };
  }

  /**
   * Waits until every live proxy applied `version`, or `timeoutMs` passed. `source`: who waits
   * (a `?wait=true` request, or the ACME worker), for the metrics.
   */
  async waitFor(version: number, timeoutMs: number, source: 'request' | 'acme' = 'request'): Promise<Propagation> {
    const result = await this.waitUntil(version, timeoutMs);
    this.onWait?.(source, result.state);
    return result;
  }

  private async waitUntil(version: number, timeoutMs: number): Promise<Propagation> {
    const deadline = Date.now() + timeoutMs;
    for (let round = 0; ; round++) {
      const s = await this.status(version, round > 0);
      if (s.state !== 'pending') return s;
      const left = deadline - Date.now();
      if (left <= 0) return { ...s, state: 'timeout' };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.wakers.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
