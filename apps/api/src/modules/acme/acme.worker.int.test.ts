/**
 * The ACME worker's guarantees that need a real PostgreSQL: exactly one runner across API
 * replicas (the lease), hand-over when the runner stops or dies, and the resume rule (a row
 * left mid-order is due again). The ACME protocol itself is proven against pebble in
 * e2e/protocol/acme.test.ts; here the service is a recording stand-in for the lease tests.
 */
import { randomUUID } from 'node:crypto';
import { createPrisma, type PrismaClient } from '@switchyard/db';
import { createTestDatabase, type TestDatabase } from '@switchyard/db/testing';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmeService } from './acme.service.js';
import { AcmeWorker } from './acme.worker.js';

let db: TestDatabase;
let prisma: PrismaClient;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrisma(db.url);
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

function recorder() {
  const passes: number[] = [];
  return { passes, service: { due: async () => (passes.push(Date.now()), []), process: async () => 'done' as const, pruneEvents: async () => {}, recheckRenewalInfo: async () => 0 } };
}

describe('AcmeWorker lease', () => {
  it('lets exactly one replica run; the other takes over when it stops or its lease expires', async () => {
    const a = recorder();
    const b = recorder();
    const wa = new AcmeWorker(prisma, a.service, 60_000, log);
    const wb = new AcmeWorker(prisma, b.service, 60_000, log);
    await Promise.all([wa.poke(), wb.poke(), wa.poke(), wb.poke()]);
    // Whoever won keeps it; the other never ran a pass.
    const [winner, loser, wWinner, wLoser] = a.passes.length > 0 ? [a, b, wa, wb] : [b, a, wb, wa];
    expect(winner.passes.length).toBeGreaterThan(0);
    expect(loser.passes).toEqual([]);
    await wLoser.poke();
    expect(loser.passes).toEqual([]);
    // A clean stop hands over at once.
    await wWinner.stop();
    await wLoser.poke();
    expect(loser.passes.length).toBe(1);
    // A runner that dies leaves its lease to expire; then a third replica takes over.
    const c = recorder();
    const wc = new AcmeWorker(prisma, c.service, 60_000, log);
    await wc.poke();
    expect(c.passes).toEqual([]);
    await prisma.$executeRaw`UPDATE acme_worker_lease SET expires_at = now() - interval '1 second'`;
    await wc.poke();
    expect(c.passes.length).toBe(1);
    expect((await prisma.acmeWorkerLease.findUniqueOrThrow({ where: { id: 1 } })).holder).toBe(wc.holder);
    await wc.stop();
    await wLoser.stop();
  });
});

describe('a row that stays due', () => {
  it('is processed once per pass, not again at once, when its attempt could not record an outcome', async () => {
    const row = { id: randomUUID() };
    const processed: string[] = [];
    let dues = 0;
    // The stand-in never records anything: the row stays due, as when the database refused
    // the failure's update.
    const service = { due: async () => (dues++, [row]), process: async (r: { id: string }) => void processed.push(r.id), pruneEvents: async () => {} };
    const w = new AcmeWorker(prisma, service as never, 60_000, log);
    await w.poke();
    expect(processed).toEqual([row.id]);
    expect(dues).toBe(2);
    await w.poke();
    expect(processed).toEqual([row.id, row.id]);
    await w.stop();
  });
});

describe('resuming after a restart', () => {
  it('finds a row left mid-order (validating, next attempt past) due again, and not an issued one before its renewal', async () => {
    const tenant = await prisma.tenant.create({ data: { slug: 'resume', name: 'resume' } });
    const past = new Date(Date.now() - 60_000);
    const future = new Date(Date.now() + 86_400_000);
    const mid = await prisma.acmeCertificate.create({ data: { id: randomUUID(), tenantId: tenant.id, hostname: 'a.resume.example.com', challengeType: 'tls-alpn-01', state: 'validating', nextAttemptAt: past } });
    await prisma.acmeCertificate.create({ data: { id: randomUUID(), tenantId: tenant.id, hostname: 'b.resume.example.com', challengeType: 'tls-alpn-01', state: 'issued', nextAttemptAt: future, renewAt: future } });
    await prisma.acmeCertificate.create({ data: { id: randomUUID(), tenantId: tenant.id, hostname: 'c.resume.example.com', challengeType: 'http-01', state: 'failed', nextAttemptAt: null } });
    const svc = new AcmeService({ prisma, tenants: { resolve: async () => tenant }, certificates: { swapContent: async () => ({ row: null as never, version: null }) }, propagation: { waitFor: async () => ({ version: 0, state: 'applied', proxies: [] }) }, propagationTimeoutMs: 1000, keyring: null, config: null, ca: null, log });
    expect((await svc.due()).map((r) => r.id)).toEqual([mid.id]);
  });
});
