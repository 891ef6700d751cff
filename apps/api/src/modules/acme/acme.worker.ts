/**
 * The ACME background worker: orders, validations and renewals run here, never in a request.
 *
 * Exactly one runner across API replicas: a lease row (`acme_worker_lease`) taken with one
 * conditional upsert and renewed while it works; a replica that dies lets the lease expire
 * and another takes over. Rows are processed one at a time, so there is never more than one
 * order per host name. Every state change is in the database: a restart mid-order finds the
 * row still due (`next_attempt_at`) and retries it.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { PrismaClient } from '@switchyard/db';
import type { FastifyBaseLogger } from 'fastify';
import type { AcmeService } from './acme.service.js';

/** A lease outlives a few missed renewals; a crashed runner is replaced within this. */
const LEASE_MS = 60_000;

export class AcmeWorker {
  readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private queued: { promise: Promise<void>; resolve: () => void } | null = null;
  private leaseUntil = 0;
  private stopped = false;
  private lastPrune = 0;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly service: Pick<AcmeService, 'due' | 'process' | 'pruneEvents' | 'recheckRenewalInfo'>,
    private readonly intervalMs: number,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.poke(), this.intervalMs);
    this.timer.unref();
    void this.poke();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    // Hand over at once rather than after the lease expires.
    await this.prisma.acmeWorkerLease.deleteMany({ where: { id: 1, holder: this.holder } }).catch(() => {});
  }

  /**
   * Runs a pass now (after a request), or right after the one in flight; resolves when a pass
   * that started after this call has ended (a pass already running may have read the rows,
   * or tried the lease, before whatever this call is about).
   */
  poke(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      if (!this.queued) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        this.queued = { promise, resolve };
      }
      return this.queued.promise;
    }
    this.running = this.pass()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'ACME worker pass failed'))
      .finally(() => {
        this.running = null;
        const queued = this.queued;
        this.queued = null;
        if (queued) void this.poke().then(queued.resolve);
      });
    return this.running;
  }

  /** Whether this replica still holds the lease (checked between steps of an order). */
  isLeader = (): boolean => Date.now() < this.leaseUntil;

  private async renewLease(): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<Array<{ holder: string }>>`
      INSERT INTO acme_worker_lease (id, holder, expires_at) VALUES (1, ${this.holder}, now() + ${LEASE_MS} * interval '1 millisecond')
      ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE acme_worker_lease.holder = EXCLUDED.holder OR acme_worker_lease.expires_at < now()
      RETURNING holder`;
    const held = rows.length === 1;
    // Our own clock, with margin: stop acting well before the database would let another in.
    this.leaseUntil = held ? Date.now() + LEASE_MS / 2 : 0;
    return held;
  }

  private async pass(): Promise<void> {
    if (!(await this.renewLease())) return;
    const keepAlive = setInterval(() => void this.renewLease().catch(() => (this.leaseUntil = 0)), LEASE_MS / 4);
    keepAlive.unref();
    try {
      // Each row at most once per pass: a row still due after its attempt (its failure could
      // not be recorded, say, with the database flapping) waits for the next pass instead of
      // being ordered again at once — the CA never sees a loop.
      const tried = new Set<string>();
      for (;;) {
        const due = (await this.service.due(new Date(), 10 + tried.size)).filter((row) => !tried.has(row.id));
        if (due.length === 0) break;
        for (const row of due) {
          if (this.stopped || !this.isLeader()) return;
          tried.add(row.id);
          // The CA gave no answer (down, or silent until the request deadline) or said it is
          // unavailable (503): every other due row would meet the same, each recording a
          // failure and costing a timeout while new requests wait. They stay due, untouched,
          // for the next pass (one row per pass while the CA is away; the failed one backs off).
          if ((await this.service.process(row, this.isLeader)) === 'ca-unreachable') {
            this.log.warn({ hostname: row.hostname, due: due.length }, 'ACME CA unreachable or unavailable; the other due rows wait for the next pass');
            return;
          }
        }
      }
      // Issued certificates whose renewalInfo is due to be asked again (RFC 9773 §4.3).
      if (!this.stopped && this.isLeader()) await this.service.recheckRenewalInfo(new Date());
      if (Date.now() - this.lastPrune > 3_600_000) {
        this.lastPrune = Date.now();
        await this.service.pruneEvents();
      }
    } finally {
      clearInterval(keepAlive);
    }
  }
}
