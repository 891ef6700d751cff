/**
 * Deletes ended sessions (past their absolute expiry, or idle longer than SESSION_IDLE) on a
 * timer, off the request path. `authenticate()` already refuses them and deletes the one it
 * meets, and login prunes the user's own; without this sweep, sessions that are simply
 * abandoned (a closed laptop, a discarded browser) would stay in the table forever.
 *
 * Batched so one sweep never holds many row locks; one API replica sweeps at a time
 * (transaction-scoped advisory lock). A full scan of `sessions` is fine: the table holds only
 * live sessions plus at most one interval of ended ones.
 */
import type { PrismaClient } from '@switchyard/db';
import type { FastifyBaseLogger } from 'fastify';

/** Advisory lock that one sweeping replica holds for the length of its transaction. */
export const SESSION_CLEANUP_LOCK_KEY = 0x5359_5345; // "SYSE"
const BATCH = 5_000;
/** How often ended sessions are swept; they are refused at once regardless. */
export const SESSION_CLEANUP_INTERVAL_MS = 10 * 60_000;

export class SessionCleanup {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly idleMs: number,
    private readonly log: FastifyBaseLogger,
    private readonly intervalMs = SESSION_CLEANUP_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => 0);
  }

  /** Deletes ended sessions; returns how many. Concurrent calls share one sweep. */
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
        const rows = await tx.$queryRaw<Array<{ locked: boolean }>>`SELECT pg_try_advisory_xact_lock(${SESSION_CLEANUP_LOCK_KEY}) AS locked`;
        if (!rows[0]?.locked) return;
        const now = new Date(this.now());
        const idleBefore = new Date(this.now() - this.idleMs);
        for (;;) {
          const n = await tx.$executeRaw`
            DELETE FROM sessions WHERE id IN (
              SELECT id FROM sessions WHERE expires_at <= ${now} OR last_seen_at <= ${idleBefore} LIMIT ${BATCH})`;
          total += n;
          if (n < BATCH) break;
        }
      }, { timeout: 120_000 });
      if (total > 0) this.log.info({ deleted: total }, 'ended sessions deleted');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'session cleanup failed; will retry');
    }
    return total;
  }
}
