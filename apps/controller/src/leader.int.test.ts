/**
 * Leadership and fencing against a real PostgreSQL. The lock session of replica A goes through
 * a TCP relay the test can black-hole, as a network partition would: PostgreSQL ends A's
 * session (and releases the lock) while A hears nothing and still believes it leads. What
 * must hold: A's writes are refused by the database from then on, B takes over within its
 * check interval, and B waits for a write of A's that was already in flight.
 */
import net from 'node:net';
import { createPrisma, type PrismaClient } from '@switchyard/db';
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AdvisoryLeader, CONTROLLER_BARRIER_KEY, CONTROLLER_LOCK_KEY, NotLeaderError } from './leader.js';

let db: TestDatabase;
let prisma: PrismaClient;
const leaders: AdvisoryLeader[] = [];
const relays: net.Server[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrisma(db.url, { max: 3 });
});
afterAll(async () => {
  await Promise.all(leaders.map((l) => l.stop()));
  for (const r of relays) r.close();
  await prisma?.$disconnect();
  await db?.drop();
});

/** A TCP relay to the test database; `blackhole()` drops every byte both ways and every close. */
async function relay(): Promise<{ url: string; blackhole(): void }> {
  const target = new URL(db.url);
  let dead = false;
  const server = net.createServer((c) => {
    const u = net.connect(Number(target.port || 5432), target.hostname);
    c.on('data', (d) => void (dead || u.write(d)));
    u.on('data', (d) => void (dead || c.write(d)));
    u.on('close', () => dead || c.destroy());
    c.on('close', () => u.destroy());
    c.on('error', () => undefined);
    u.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  relays.push(server);
  const url = new URL(db.url);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return { url: url.toString(), blackhole: () => void (dead = true) };
}

/** A leader and a promise of its election. */
function leader(url: string, checkMs: number) {
  let elected!: () => void;
  const electedP = new Promise<void>((r) => (elected = r));
  const l = new AdvisoryLeader(url, checkMs, { onElected: () => elected(), onLost: () => undefined, log: () => undefined });
  leaders.push(l);
  l.start();
  return { l, elected: electedP };
}

const holderPid = async () =>
  (await prisma.$queryRaw<Array<{ pid: number }>>`SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = ${CONTROLLER_LOCK_KEY}::bigint::oid`)[0]?.pid ?? null;

it('a partitioned leader’s writes are refused by the database; the other replica waits for its write in flight, then takes over', async () => {
  const link = await relay();
  // A checks rarely: it must not notice the partition by itself during this test.
  const a = leader(link.url, 10_000);
  await a.elected;
  const aPid = await holderPid();
  expect(aPid).not.toBeNull();
  // A fenced write succeeds while A holds the lock.
  await prisma.$transaction(async (tx) => a.l.fence(tx));

  // A write of A's in flight (fence passed, not committed yet) when the partition hits.
  let commit!: () => void;
  const held = new Promise<void>((r) => (commit = r));
  let fenced!: () => void;
  const passed = new Promise<void>((r) => (fenced = r));
  const inflight = prisma.$transaction(
    async (tx) => {
      await a.l.fence(tx);
      fenced();
      await held;
      await tx.$executeRaw`SELECT 1`;
    },
    { timeout: 20_000 },
  );
  await passed;
  link.blackhole();
  await prisma.$queryRaw`SELECT pg_terminate_backend(${aPid}::int)`;

  const b = leader(db.url, 200);
  // B gets the lock but must not act while A's transaction can still commit.
  const waitingAtBarrier = async () =>
    (await prisma.$queryRaw<Array<{ n: bigint }>>`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = ${CONTROLLER_BARRIER_KEY}::bigint::oid`)[0]!.n;
  await expect.poll(waitingAtBarrier, { timeout: 5000, interval: 50 }).toBe(1n);
  expect(await holderPid()).not.toBe(aPid);
  expect(b.l.isLeader).toBe(false);
  const t0 = Date.now();
  commit();
  await inflight;
  await b.elected;
  const takeover = Date.now() - t0;
  expect(takeover).toBeLessThan(2000);

  // A still believes it leads (its next check is seconds away), yet the database refuses it.
  expect(a.l.isLeader).toBe(true);
  await expect(prisma.$transaction(async (tx) => a.l.fence(tx))).rejects.toThrow(/lost the leader lock/);
  expect(a.l.isLeader).toBe(false); // a refused fence ends its leadership at once
  await expect(prisma.$transaction(async (tx) => a.l.fence(tx))).rejects.toBeInstanceOf(NotLeaderError);
  // B writes.
  await prisma.$transaction(async (tx) => b.l.fence(tx));
});

it('a replica that is not the leader cannot write at all', async () => {
  const c = new AdvisoryLeader(db.url, 200, { onElected: () => undefined, onLost: () => undefined, log: () => undefined });
  await expect(prisma.$transaction(async (tx) => c.fence(tx))).rejects.toBeInstanceOf(NotLeaderError);
});
