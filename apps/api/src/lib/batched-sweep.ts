/**
 * A periodic, batched DELETE off the request path (ended sessions, expired connection
 * events). One API replica sweeps at a time: each sweep runs in one transaction that first
 * takes a transaction-scoped advisory lock and skips the round when another replica holds
 * it. Concurrent `runOnce()` calls share one sweep; failures are logged and retried on the
 * next tick.
 */
import type { PrismaClient } from '@switchyard/db';
import type { FastifyBaseLogger } from 'fastify';

export type SweepTx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export abstract class BatchedSweep {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  protected constructor(
    protected readonly prisma: PrismaClient,
    protected readonly log: FastifyBaseLogger,
    private readonly intervalMs: number,
    private readonly opts: { lockKey: number; batch: number; timeoutMs: number; what: string },
  ) {}

  /** Deletes at most `batch` rows; returns how many it deleted. */
  protected abstract deleteBatch(tx: SweepTx, batch: number): Promise<number>;

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => 0);
  }

  /** Deletes what has ended; returns how many rows. Concurrent calls share one sweep. */
  runOnce(): Promise<number> {
    this.running ??= this.sweep().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweep(): Promise<number> {
    const { lockKey, batch, timeoutMs, what } = this.opts;
    let total = 0;
    try {
      await this.prisma.$transaction(
        async (tx) => {
          const rows = await tx.$queryRaw<Array<{ locked: boolean }>>`SELECT pg_try_advisory_xact_lock(${lockKey}) AS locked`;
          if (!rows[0]?.locked) return;
          for (;;) {
            const n = await this.deleteBatch(tx, batch);
            total += n;
            if (n < batch) break;
          }
        },
        { timeout: timeoutMs },
      );
      if (total > 0) this.log.info({ deleted: total }, `${what} deleted`);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, `deleting ${what} failed; will retry`);
    }
    return total;
  }
}
