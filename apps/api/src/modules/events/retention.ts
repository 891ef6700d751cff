/**
 * Deletes connection events older than the retention period, in batches, one API replica at
 * a time (lib/batched-sweep.ts). Audit events are never deleted here: that table is
 * append-only by design.
 */
import type { PrismaClient } from '@switchyard/db';
import type { FastifyBaseLogger } from 'fastify';
import { BatchedSweep, type SweepTx } from '../../lib/batched-sweep.js';

export class EventRetention extends BatchedSweep {
  constructor(
    prisma: PrismaClient,
    private readonly retentionDays: number,
    log: FastifyBaseLogger,
    intervalMs = 3600_000,
  ) {
    super(prisma, log, intervalMs, { lockKey: 0x5357_5245 /* "SWRE" */, batch: 10_000, timeoutMs: 600_000, what: 'expired connection events' });
  }

  protected async deleteBatch(tx: SweepTx, batch: number): Promise<number> {
    const cutoff = new Date(Date.now() - this.retentionDays * 86_400_000);
    // Chart rollups of hours that have wholly expired (connection_event_rollups).
    await tx.$executeRaw`DELETE FROM connection_event_rollups WHERE bucket < date_trunc('hour', ${cutoff}::timestamptz)`;
    return tx.$executeRaw`
      DELETE FROM connection_events WHERE id IN (
        SELECT id FROM connection_events WHERE started_at < ${cutoff} LIMIT ${batch})`;
  }
}
