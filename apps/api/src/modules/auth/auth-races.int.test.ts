/**
 * Sessions and tokens under concurrency and reuse: what a serial test never shows. Concurrent
 * guesses against one account, a cookie that was already in the browser at login, a burst of
 * requests with one token, a token revoked twice at once, and a failed login while the audit
 * table is busy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, createUser, login, seedTenant, sessionCookieFrom, type Harness } from '../../testing/harness.js';

let h: Harness;
const PW = 'correct horse battery staple';

beforeAll(async () => {
  h = await createHarness({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '1000', LOGIN_RATE_WINDOW_SECONDS: '600' });
  await seedTenant(h, 'acme');
});
afterAll(async () => h.close());

function attempt(email: string, password: string, remoteAddress: string, cookie?: string) {
  return h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress, headers: cookie ? { cookie } : {} });
}

describe('login throttling under concurrency', () => {
  it('refuses concurrent guesses beyond the per-account limit, not only sequential ones', async () => {
    await createUser(h, 'burst@example.com', PW);
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt('burst@example.com', `wrong password ${i}`, `10.20.0.${i}`)));
    const codes = answers.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 401).length).toBe(3);
    expect(codes.filter((c) => c === 429).length).toBe(9);
  });

  it('refuses concurrent wrong current passwords beyond the limit', async () => {
    await createUser(h, 'pwburst@example.com', PW);
    const s = await login(h, 'pwburst@example.com', PW);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => s.call('POST', '/api/v1/auth/password', { currentPassword: `not it ${i}`, newPassword: 'a brand new passphrase' })),
    );
    expect(answers.filter((r) => r.statusCode === 400).length).toBe(3);
    expect(answers.filter((r) => r.statusCode === 429).length).toBe(7);
  });

  it('does not hold the answer to a wrong password for the audit write (an unknown address has none)', async () => {
    await createUser(h, 'slowaudit@example.com', PW);
    // A busy audit table makes the difference between the two cases as large as it gets.
    const locked = h.app.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('LOCK TABLE audit_events IN EXCLUSIVE MODE');
      await new Promise((r) => setTimeout(r, 1500));
    });
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const r = await attempt('slowaudit@example.com', 'wrong password!', '10.21.0.1');
    const elapsed = Date.now() - started;
    expect(r.statusCode).toBe(401);
    expect(elapsed).toBeLessThan(1000);
    await locked;
    // Still recorded, once the table is free.
    await expect.poll(async () => h.app.prisma.auditEvent.count({ where: { action: 'auth.login_failed', targetId: (await h.app.prisma.user.findUniqueOrThrow({ where: { email: 'slowaudit@example.com' } })).id } })).toBe(1);
  });
});

describe('session rotation at login', () => {
  it('ends the session whose cookie the browser presented when signing in again', async () => {
    await createUser(h, 'rotate@example.com', PW);
    const first = await attempt('rotate@example.com', PW, '10.22.0.1');
    const oldCookie = sessionCookieFrom(first);
    const me = () => h.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: oldCookie } });
    expect((await me()).statusCode).toBe(200);
    const second = await attempt('rotate@example.com', PW, '10.22.0.2', oldCookie);
    expect(second.statusCode).toBe(200);
    expect(sessionCookieFrom(second)).not.toBe(oldCookie);
    expect((await me()).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: sessionCookieFrom(second) } })).statusCode).toBe(200);
  });
});

describe('API tokens', () => {
  it('records last use with one write for a burst of requests, not one per request', async () => {
    const created = await h.call('POST', '/api/v1/tenants/acme/tokens', { name: 'burst', role: 'member' });
    const { token, id } = created.json();
    await h.app.prisma.$executeRawUnsafe('CREATE TABLE test_last_used_writes (token_id uuid)');
    await h.app.prisma.$executeRawUnsafe(`
      CREATE FUNCTION test_count_last_used() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO test_last_used_writes VALUES (NEW.id); RETURN NEW; END $$`);
    await h.app.prisma.$executeRawUnsafe(`
      CREATE TRIGGER test_count_last_used AFTER UPDATE OF last_used_at ON api_tokens FOR EACH ROW EXECUTE FUNCTION test_count_last_used()`);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => h.call('GET', '/api/v1/tenants/acme', undefined, token)));
      expect(answers.every((r) => r.statusCode === 200)).toBe(true);
      await expect.poll(async () => (await h.app.prisma.apiToken.findUniqueOrThrow({ where: { id } })).lastUsedAt).not.toBeNull();
      await new Promise((r) => setTimeout(r, 300));
      const writes = await h.app.prisma.$queryRawUnsafe<Array<{ n: bigint }>>('SELECT count(*) AS n FROM test_last_used_writes');
      expect(Number(writes[0]?.n)).toBe(1);
    } finally {
      await h.app.prisma.$executeRawUnsafe('DROP TRIGGER test_count_last_used ON api_tokens');
    }
  });

  it('revoking a token twice at once records one revocation and keeps its first time', async () => {
    const created = await h.call('POST', '/api/v1/tenants/acme/tokens', { name: 'twice', role: 'member' });
    const { id } = created.json();
    const platform = (await h.call('POST', '/api/v1/platform/tokens', { name: 'twice' })).json().id as string;
    const answers = await Promise.all([
      h.call('DELETE', `/api/v1/tenants/acme/tokens/${id}`),
      h.call('DELETE', `/api/v1/tenants/acme/tokens/${id}`),
      h.call('DELETE', `/api/v1/platform/tokens/${platform}`),
      h.call('DELETE', `/api/v1/platform/tokens/${platform}`),
    ]);
    expect(answers.map((r) => r.statusCode)).toEqual([204, 204, 204, 204]);
    const events = await h.app.prisma.auditEvent.findMany({ where: { targetId: { in: [id, platform] }, action: { in: ['token.revoke', 'platform_token.revoke'] } } });
    expect(events.map((e) => e.action).sort()).toEqual(['platform_token.revoke', 'token.revoke']);
  });
});
