import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, createUser, login, seedTenant, sessionCookieFrom, type Harness } from '../../testing/harness.js';
import { sessionIdOf } from './sessions.js';

let h: Harness;
const PW = 'correct horse battery staple';

beforeAll(async () => {
  h = await createHarness({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '8', LOGIN_RATE_WINDOW_SECONDS: '600' });
  await seedTenant(h, 'acme');
  await seedTenant(h, 'beta');
  await createUser(h, 'ada@example.com', PW, { memberships: [{ tenant: 'acme', role: 'owner' }] });
  await createUser(h, 'off@example.com', PW, { memberships: [{ tenant: 'acme', role: 'owner' }] });
  await h.app.prisma.user.update({ where: { email: 'off@example.com' }, data: { disabledAt: new Date() } });
});
afterAll(async () => h.close());

function attempt(email: string, password: string, remoteAddress = '127.0.0.1') {
  return h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress });
}

describe('login', () => {
  it('sets an httpOnly SameSite session cookie, stores only its hash and returns the CSRF token', async () => {
    const res = await attempt('Ada@Example.com', PW, '10.0.0.1');
    expect(res.statusCode).toBe(200);
    const setCookie = String(res.headers['set-cookie']);
    // Plain HTTP (inject): no Secure, so the un-prefixed name.
    expect(setCookie).toMatch(/^sy_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toMatchObject({ actorType: 'user', user: { email: 'ada@example.com', isPlatformAdmin: false }, tenants: [{ slug: 'acme', role: 'owner' }] });
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const cookie = sessionCookieFrom(res).split('=')[1]!;
    const rows = await h.app.prisma.session.findMany({ where: { user: { email: 'ada@example.com' } } });
    expect(rows.map((r) => r.id)).toContain(sessionIdOf(cookie));
    for (const r of rows) {
      expect(r.id).not.toContain(cookie);
      expect(r.csrfHash).not.toBe(body.csrfToken);
    }
    const user = await h.app.prisma.user.findUniqueOrThrow({ where: { email: 'ada@example.com' } });
    expect(user.lastLoginAt).not.toBeNull();
    expect(user.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('answers unknown user, wrong password and disabled account the same way', async () => {
    const answers = await Promise.all([
      attempt('nobody@example.com', PW, '10.0.0.2'),
      attempt('ada@example.com', 'wrong password!', '10.0.0.2'),
      attempt('off@example.com', PW, '10.0.0.2'),
    ]);
    for (const r of answers) {
      expect(r.statusCode).toBe(401);
      expect(r.headers['set-cookie']).toBeUndefined();
      const { requestId: _, ...rest } = r.json();
      expect(rest).toEqual({ statusCode: 401, code: 'SY_INVALID_CREDENTIALS', error: 'Unauthorized', message: 'The email address or password is wrong' });
    }
    // Written after the answer (so its cost does not tell real accounts apart): wait for it.
    await expect.poll(() => h.app.prisma.auditEvent.count({ where: { action: 'auth.login_failed' } })).toBe(2);
    const failed = await h.app.prisma.auditEvent.findMany({ where: { action: 'auth.login_failed' } });
    expect(failed.length).toBe(2); // the two real accounts; nothing is recorded for unknown addresses
    expect(JSON.stringify(failed.map((f) => f.changes))).not.toContain('wrong password');
  });

  it('validates the body and names the field', async () => {
    for (const [payload, field] of [
      [{ email: 'ada@example.com' }, 'body.password'],
      [{ email: 'not-an-email', password: PW }, 'body.email'],
      [{ email: 'ada@example.com', password: 'x'.repeat(257) }, 'body.password'],
      [{ email: 'ada@example.com', password: PW, remember: true }, 'body.remember'],
      [{ email: 'ada@example.com', password: 42 }, 'body.password'],
    ] as const) {
      const r = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload, remoteAddress: '10.0.0.3' });
      expect(r.statusCode, JSON.stringify(payload)).toBe(400);
      expect(r.json().details.map((d: { field: string }) => d.field)).toContain(field);
    }
  });

  it('rate limits failures per account, with Retry-After, even for the right password', async () => {
    await createUser(h, 'eve@example.com', PW);
    for (let i = 0; i < 3; i++) expect((await attempt('eve@example.com', 'wrong password!', `10.1.0.${i}`)).statusCode).toBe(401);
    const limited = await attempt('eve@example.com', PW, '10.1.0.9');
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe('SY_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(600);
    // Unknown accounts are throttled exactly like real ones.
    for (let i = 0; i < 3; i++) await attempt('ghost@example.com', 'wrong password!', `10.2.0.${i}`);
    expect((await attempt('ghost@example.com', 'wrong password!', '10.2.0.9')).statusCode).toBe(429);
  });

  it('rate limits attempts per client address', async () => {
    await createUser(h, 'bob@example.com', PW);
    const addr = '10.3.0.1';
    for (let i = 0; i < 8; i++) expect((await attempt(i % 2 ? 'bob@example.com' : `x${i}@example.com`, i % 2 ? PW : 'nope nope', addr)).statusCode).not.toBe(429);
    const r = await attempt('bob@example.com', PW, addr);
    expect(r.statusCode).toBe(429);
    expect(r.headers['retry-after']).toBeDefined();
    expect((await attempt('bob@example.com', PW, '10.3.0.2')).statusCode).toBe(200);
  });
});

describe('client addresses', () => {
  it('throttles IPv6 clients per /64, not per address', async () => {
    await createUser(h, 'v6@example.com', PW);
    // Eight attempts (the per-address budget) from eight addresses of one /64.
    for (let i = 1; i <= 8; i++) expect((await attempt('v6@example.com', PW, `2001:db8:1:2::${i.toString(16)}`)).statusCode).toBe(200);
    const same = await attempt('v6@example.com', PW, '2001:db8:1:2:ffff:ffff:ffff:ffff');
    expect(same.statusCode).toBe(429);
    expect(same.json().code).toBe('SY_RATE_LIMITED');
    expect((await attempt('v6@example.com', PW, '2001:db8:1:3::1')).statusCode).toBe(200);
  });

  it('ignores X-Forwarded-For and X-Forwarded-Proto unless API_TRUSTED_PROXIES names the peer', async () => {
    // Not configured (h): the header is anybody's to write, so it is not believed.
    const plain = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'ada@example.com', password: PW }, remoteAddress: '10.7.0.1', headers: { 'x-forwarded-for': '203.0.113.50', 'x-forwarded-proto': 'https' } });
    expect(plain.statusCode).toBe(200);
    expect(plain.json().clientAddress).toBe('10.7.0.1');
    expect(String(plain.headers['set-cookie'])).toMatch(/^sy_session=/);

    const lb = await createHarness({ API_TRUSTED_PROXIES: '10.9.0.0/16', LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '3', LOGIN_RATE_WINDOW_SECONDS: '600' });
    try {
      await createUser(lb, 'ada@example.com', PW);
      const via = (client: string, peer = '10.9.0.2', proto = 'http') =>
        lb.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'ada@example.com', password: PW }, remoteAddress: peer, headers: { 'x-forwarded-for': client, 'x-forwarded-proto': proto } });
      // Through the balancer each client has its own budget: one client using up theirs does
      // not lock out the others (before, all of them shared the balancer's).
      for (let i = 0; i < 3; i++) expect((await via('203.0.113.1')).statusCode).toBe(200);
      expect((await via('203.0.113.1')).statusCode).toBe(429);
      const other = await via('203.0.113.2');
      expect(other.statusCode).toBe(200);
      expect(other.json().clientAddress).toBe('203.0.113.2');
      // The audit trail names the client, not the balancer.
      const audit = await lb.app.prisma.auditEvent.findFirstOrThrow({ where: { action: 'auth.login' }, orderBy: { id: 'desc' } });
      expect(audit.clientAddress).toBe('203.0.113.2');
      // A client cannot prepend addresses to escape its budget: the balancer appends the real one.
      expect((await via('198.51.100.9, 203.0.113.1')).statusCode).toBe(429);
      // TLS ended at the balancer: the cookie is Secure with the __Host- name (COOKIE_SECURE=auto).
      const tls = await via('203.0.113.3', '10.9.0.2', 'https');
      expect(String(tls.headers['set-cookie'])).toMatch(/^__Host-sy_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
      // A peer outside API_TRUSTED_PROXIES is the client, whatever its headers say.
      const direct = await via('203.0.113.4', '192.0.2.77', 'https');
      expect(direct.json().clientAddress).toBe('192.0.2.77');
      expect(String(direct.headers['set-cookie'])).toMatch(/^sy_session=/);
    } finally {
      await lb.close();
    }
  });
});

describe('sessions', () => {
  it('authenticates with the cookie and scopes to the user’s tenants', async () => {
    const ada = await login(h, 'ada@example.com', PW, { 'x-forwarded-for': '1.2.3.4' });
    expect((await ada.call('GET', '/api/v1/tenants/acme')).statusCode).toBe(200);
    expect((await ada.call('GET', '/api/v1/tenants/beta')).statusCode).toBe(404);
    const list = await ada.call('GET', '/api/v1/tenants');
    expect(list.json().items.map((t: { slug: string }) => t.slug)).toEqual(['acme']);
    const me = await ada.call('GET', '/api/v1/auth/me');
    expect(me.json()).toMatchObject({ actorType: 'user', csrfToken: ada.csrfToken });
  });

  it('requires X-CSRF-Token for cookie-authenticated changes, not for reads or bearer tokens', async () => {
    const ada = await login(h, 'ada@example.com', PW);
    const body = { name: 'ci', role: 'admin' };
    const none = await ada.call('POST', '/api/v1/tenants/acme/tokens', body, { csrf: null });
    expect(none.statusCode).toBe(403);
    expect(none.json().code).toBe('SY_CSRF_FAILED');
    const wrong = await ada.call('POST', '/api/v1/tenants/acme/tokens', body, { csrf: 'A'.repeat(43) });
    expect(wrong.json().code).toBe('SY_CSRF_FAILED');
    // Another session's token does not fit this one.
    const other = await login(h, 'ada@example.com', PW);
    expect((await ada.call('POST', '/api/v1/tenants/acme/tokens', body, { csrf: other.csrfToken })).json().code).toBe('SY_CSRF_FAILED');
    const ok = await ada.call('POST', '/api/v1/tenants/acme/tokens', body);
    expect(ok.statusCode).toBe(201);
    const created = await h.app.prisma.apiToken.findUniqueOrThrow({ where: { id: ok.json().id } });
    expect(created.createdById).toBe(ada.userId);
    const audit = await h.app.prisma.auditEvent.findFirstOrThrow({ where: { action: 'token.create', targetId: ok.json().id } });
    expect(audit).toMatchObject({ actorType: 'user', actorId: ada.userId });
    // A bearer token never needs it, even with a cookie alongside.
    const bearer = await h.app.inject({
      method: 'POST',
      url: '/api/v1/tenants/acme/tokens',
      payload: body,
      headers: { authorization: `Bearer ${ok.json().token}`, cookie: ada.cookie },
    });
    expect(bearer.statusCode).toBe(201);
  });

  it('ignores the non-prefixed cookie when served over TLS, and sets __Host- with Secure', async () => {
    const tls = await createHarness({ COOKIE_SECURE: 'true' });
    try {
      await createUser(tls, 'ada@example.com', PW);
      const res = await tls.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'ada@example.com', password: PW } });
      expect(String(res.headers['set-cookie'])).toMatch(/^__Host-sy_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
      const value = sessionCookieFrom(res).split('=')[1]!;
      const plain = await tls.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: `sy_session=${value}` } });
      expect(plain.statusCode).toBe(401);
      const host = await tls.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: `theme=dark; __Host-sy_session=${value}` } });
      expect(host.statusCode).toBe(200);
    } finally {
      await tls.close();
    }
  });

  it('ends at the absolute expiry and after the idle timeout', async () => {
    const a = await login(h, 'ada@example.com', PW);
    const b = await login(h, 'ada@example.com', PW);
    const idOf = (c: string) => sessionIdOf(c.split('=')[1]!);
    await h.app.prisma.session.update({ where: { id: idOf(a.cookie) }, data: { expiresAt: new Date(Date.now() - 1) } });
    await h.app.prisma.session.update({ where: { id: idOf(b.cookie) }, data: { lastSeenAt: new Date(Date.now() - h.config.sessions.idleMs - 1000) } });
    for (const c of [a, b]) {
      const r = await c.call('GET', '/api/v1/auth/me');
      expect(r.statusCode).toBe(401);
      expect(r.json().code).toBe('SY_UNAUTHENTICATED');
    }
    // Ended sessions are removed, not just refused.
    expect(await h.app.prisma.session.count({ where: { id: { in: [idOf(a.cookie), idOf(b.cookie)] } } })).toBe(0);
  });

  it('refuses a disabled user’s session at once', async () => {
    await createUser(h, 'dan@example.com', PW, { memberships: [{ tenant: 'acme', role: 'member' }] });
    const dan = await login(h, 'dan@example.com', PW);
    expect((await dan.call('GET', '/api/v1/tenants/acme')).statusCode).toBe(200);
    await h.app.prisma.user.update({ where: { email: 'dan@example.com' }, data: { disabledAt: new Date() } });
    expect((await dan.call('GET', '/api/v1/tenants/acme')).statusCode).toBe(401);
  });

  it('logs out: the cookie is cleared and the session is gone', async () => {
    const ada = await login(h, 'ada@example.com', PW);
    expect((await ada.call('POST', '/api/v1/auth/logout', undefined, { csrf: null })).json().code).toBe('SY_CSRF_FAILED');
    const out = await ada.call('POST', '/api/v1/auth/logout');
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^sy_session=; .*Max-Age=0/);
    expect((await ada.call('GET', '/api/v1/auth/me')).statusCode).toBe(401);
    const audit = await h.app.prisma.auditEvent.findMany({ where: { actorId: ada.userId, action: { in: ['auth.login', 'auth.logout'] } } });
    expect(audit.map((a) => a.action)).toContain('auth.logout');
  });

  it('me works for bearer tokens too, without a CSRF token', async () => {
    const { token } = await seedTenant(h, 'gamma');
    const r = await h.call('GET', '/api/v1/auth/me', undefined, token);
    expect(r.json()).toMatchObject({ actorType: 'token', user: null, isPlatformAdmin: false, tenants: [{ slug: 'gamma', role: 'owner' }], csrfToken: null });
    expect((await h.call('GET', '/api/v1/auth/me', undefined, null)).statusCode).toBe(401);
  });
});

describe('password change', () => {
  it('checks the current password, rehashes, ends the other sessions and audits without secrets', async () => {
    await createUser(h, 'pat@example.com', PW);
    const mine = await login(h, 'pat@example.com', PW);
    const other = await login(h, 'pat@example.com', PW);
    const wrong = await mine.call('POST', '/api/v1/auth/password', { currentPassword: 'not it at all', newPassword: 'a brand new passphrase' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().details).toEqual([{ field: 'body.currentPassword', message: 'is not your current password' }]);
    const short = await mine.call('POST', '/api/v1/auth/password', { currentPassword: PW, newPassword: 'short' });
    expect(short.statusCode).toBe(400);
    expect(short.json().details[0].field).toBe('body.newPassword');
    const ok = await mine.call('POST', '/api/v1/auth/password', { currentPassword: PW, newPassword: 'a brand new passphrase' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ sessionsRevoked: 1 });
    expect((await mine.call('GET', '/api/v1/auth/me')).statusCode).toBe(200);
    expect((await other.call('GET', '/api/v1/auth/me')).statusCode).toBe(401);
    expect((await attempt('pat@example.com', PW, '10.9.0.1')).statusCode).toBe(401);
    expect((await attempt('pat@example.com', 'a brand new passphrase', '10.9.0.1')).statusCode).toBe(200);
    const audit = await h.app.prisma.auditEvent.findFirstOrThrow({ where: { action: 'user.password_change', actorId: mine.userId } });
    const text = JSON.stringify(audit.changes);
    expect(text).not.toContain('passphrase');
    expect(text).not.toContain('argon2');
  });

  it('is for users only', async () => {
    const r = await h.call('POST', '/api/v1/auth/password', { currentPassword: PW, newPassword: 'a brand new passphrase' });
    expect(r.statusCode).toBe(403);
  });
});
