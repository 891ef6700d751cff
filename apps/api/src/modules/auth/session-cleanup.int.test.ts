import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHarness, createUser, login, type Harness } from '../../testing/harness.js';
import { SESSION_CLEANUP_LOCK_KEY, SessionCleanup } from './session-cleanup.js';
import { sessionIdOf } from './sessions.js';

const PW = 'correct horse battery staple';
let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await createUser(h, 'ada@example.com', PW);
});
afterAll(async () => h.close());

/** Three sessions: one past its absolute expiry, one idle too long, one live. */
async function threeSessions() {
  const [expired, idle, live] = [await login(h, 'ada@example.com', PW), await login(h, 'ada@example.com', PW), await login(h, 'ada@example.com', PW)];
  const id = (c: { cookie: string }) => sessionIdOf(c.cookie.split('=')[1]!);
  await h.app.prisma.session.update({ where: { id: id(expired) }, data: { expiresAt: new Date(Date.now() - 1000) } });
  await h.app.prisma.session.update({ where: { id: id(idle) }, data: { lastSeenAt: new Date(Date.now() - h.config.sessions.idleMs - 1000) } });
  return { ids: { expired: id(expired), idle: id(idle), live: id(live) }, live };
}

async function remaining(ids: Record<string, string>): Promise<string[]> {
  const rows = await h.app.prisma.session.findMany({ where: { id: { in: Object.values(ids) } }, select: { id: true } });
  return Object.entries(ids).filter(([, v]) => rows.some((r) => r.id === v)).map(([k]) => k);
}

describe('session cleanup', () => {
  it('deletes expired and idle sessions and keeps live ones working', async () => {
    const { ids, live } = await threeSessions();
    const deleted = await h.app.services.sessionCleanup.runOnce();
    expect(deleted).toBeGreaterThanOrEqual(2);
    expect(await remaining(ids)).toEqual(['live']);
    expect((await live.call('GET', '/api/v1/auth/me')).statusCode).toBe(200);
    // Nothing left to do.
    expect(await h.app.services.sessionCleanup.runOnce()).toBe(0);
  });

  it('runs on its timer, not on requests', async () => {
    const { ids } = await threeSessions();
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const cleanup = new SessionCleanup(h.app.prisma, h.config.sessions.idleMs, h.app.log, 60_000);
    const sweep = vi.spyOn(cleanup, 'runOnce');
    try {
      cleanup.start();
      // Requests do not sweep.
      expect((await h.call('GET', '/api/v1/tenants')).statusCode).toBe(200);
      expect(sweep).not.toHaveBeenCalled();
      vi.advanceTimersByTime(60_000);
      expect(sweep).toHaveBeenCalledTimes(1);
      expect(await sweep.mock.results[0]!.value).toBe(2);
      expect(await remaining(ids)).toEqual(['live']);
    } finally {
      await cleanup.stop();
      vi.useRealTimers();
    }
  });

  it('skips the sweep while another replica holds the lock, instead of waiting', async () => {
    const { ids } = await threeSessions();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const other = h.app.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT pg_advisory_xact_lock(${SESSION_CLEANUP_LOCK_KEY})::text AS locked`;
      locked();
      await held;
    });
    // (If taking the lock fails, `other` rejects and so does this.)
    await Promise.race([isLocked, other]);
    const cleanup = new SessionCleanup(h.app.prisma, h.config.sessions.idleMs, h.app.log);
    expect(await cleanup.runOnce()).toBe(0);
    expect(await remaining(ids)).toEqual(['expired', 'idle', 'live']);
    release();
    await other;
    expect(await cleanup.runOnce()).toBe(2);
    expect(await remaining(ids)).toEqual(['live']);
  });
});
