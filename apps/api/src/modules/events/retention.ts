/**
 * Deletes connection events older than the retention period, in small batches so it never
 * holds long locks or bloats WAL. One API replica does it at a time (advisory lock).
 * Audit events are never deleted here: that table is append-only by design.
 */
import type { PrismaClient } from '@switchyard/db';
import type { FastifyBaseLogger } from 'fastify';

const LOCK_KEY = 0x5357_5245; // "SWRE"
const BATCH = 10_000;

export class EventRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly retentionDays: number,
    private readonly log: FastifyBaseLogger,
    private readonly intervalMs = 3600_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => 0);
  }

  /** Deletes expired events; returns how many. */
  runOnce(): Promise<number> {
    this.running ??= this.sweep().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweep(): Promise<number> {
    let total = 0;
    try {
      await this.prisma.$transaction(async (tx) => {
        const rows = await tx.$queryRaw<Array<{ locked: boolean }>>`SELECT pg_try_advisory_xact_lock(${LOCK_KEY}) AS locked`;
        if (!rows[0]?.locked) return;
        const cutoff = new Date(Date.now() - this.retentionDays * 86_400_000);
        for (;;) {
          const n = await tx.$executeRaw`
            DELETE FROM connection_events WHERE id IN (
              SELECT id FROM connection_events WHERE started_at < ${cutoff} LIMIT ${BATCH})`;
          total += n;
          if (n < BATCH) break;
        }
      }, { timeout: 600_000 });
      if (total > 0) this.log.info({ deleted: total, retentionDays: this.retentionDays }, 'expired connection events deleted');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'connection event retention failed; will retry');
    }
    return total;
  }
}
