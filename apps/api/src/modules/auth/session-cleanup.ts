/**
 * Deletes ended sessions (past their absolute expiry, or idle longer than SESSION_IDLE) on a
 * timer, off the request path. `authenticate()` already refuses them and deletes the one it
 * meets, and login prunes the user's own; without this sweep, sessions that are simply
 * abandoned (a closed laptop, a discarded browser) would stay in the table forever.
 *
 * Batched, one API replica at a time (lib/batched-sweep.ts). A full scan of `sessions` is
 * fine: the table holds only live sessions plus at most one interval of ended ones.
 */
import type { PrismaClient } from '@switchyard/db';
import type { FastifyBaseLogger } from 'fastify';
import { BatchedSweep, type SweepTx } from '../../lib/batched-sweep.js';

/** Advisory lock that one sweeping replica holds for the length of its transaction. */
export const SESSION_CLEANUP_LOCK_KEY = 0x5359_5345; // "SYSE"
/** How often ended sessions are swept; they are refused at once regardless. */
export const SESSION_CLEANUP_INTERVAL_MS = 10 * 60_000;

export class SessionCleanup extends BatchedSweep {
  constructor(
    prisma: PrismaClient,
    private readonly idleMs: number,
    log: FastifyBaseLogger,
    intervalMs = SESSION_CLEANUP_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {
    super(prisma, log, intervalMs, { lockKey: SESSION_CLEANUP_LOCK_KEY, batch: 5_000, timeoutMs: 120_000, what: 'ended sessions' });
  }

  protected deleteBatch(tx: SweepTx, batch: number): Promise<number> {
    const now = new Date(this.now());
    const idleBefore = new Date(this.now() - this.idleMs);
    return tx.$executeRaw`
      DELETE FROM sessions WHERE id IN (
        SELECT id FROM sessions WHERE expires_at <= ${now} OR last_seen_at <= ${idleBefore} LIMIT ${batch})`;
  }
}
