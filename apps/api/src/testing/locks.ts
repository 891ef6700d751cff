/**
 * Tests of the API's locking: a request that must wait for another transaction's lock is
 * observed waiting, in PostgreSQL's own view, before the test lets the other one go.
 */
import type { PrismaClient } from '@switchyard/db';

/** Resolves once a session of this database waits for a lock while running a statement LIKE `pattern`. */
export async function waitingOnLock(prisma: PrismaClient, pattern: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const rows = await prisma.$queryRaw<Array<{ n: number }>>`
      SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE ${pattern}`;
    if (rows[0]!.n > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing waited for a lock in a statement like ${pattern}`);
}
