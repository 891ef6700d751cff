import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, login, seedTenant, type Harness, type SessionClient } from '../../testing/harness.js';

let h: Harness;
let root: SessionClient;
let tenantOwner: string;
const PW = 'correct horse battery staple';

beforeAll(async () => {
  h = await createHarness();
  ({ token: tenantOwner } = await seedTenant(h, 'acme'));
  // The bootstrap token creates the first platform admin user, who takes it from there.
  const r = await h.call('POST', '/api/v1/users', { email: 'Root@Example.com', name: 'Root', password: PW, isPlatformAdmin: true });
  expect(r.statusCode).toBe(201);
  root = await login(h, 'root@example.com', PW);
});
afterAll(async () => h.close());

describe('users', () => {
  it('creates users with a given or a generated password, never returning hashes', async () => {
    const given = await root.call('POST', '/api/v1/users', { email: 'ada@example.com', name: 'Ada', password: PW });
    expect(given.statusCode).toBe(201);
    expect(given.json()).toMatchObject({ email: 'ada@example.com', name: 'Ada', isPlatformAdmin: false, disabled: false, hasPassword: true, memberships: [] });
    expect(given.json().initialPassword).toBeUndefined();
    expect(given.body).not.toContain('argon2');
    const generated = await root.call('POST', '/api/v1/users', { email: 'bob@example.com', name: 'Bob' });
    const initial = generated.json().initialPassword as string;
    expect(initial).toMatch(/^[A-Za-z0-9_-]{24}$/);
    await login(h, 'bob@example.com', initial);
    const dup = await root.call('POST', '/api/v1/users', { email: 'ADA@example.com', name: 'Again', password: PW });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('SY_USER_EXISTS');
    const audit = await h.app.prisma.auditEvent.findMany({ where: { action: 'user.create' } });
    expect(audit.length).toBe(3);
    const text = JSON.stringify(audit.map((a) => a.changes));
    expect(text).not.toContain(PW);
    expect(text).not.toContain(initial);
    expect(text).not.toContain('argon2');
  });

  it('is for platform admins only', async () => {
    const ada = await login(h, 'ada@example.com', PW);
    for (const [method, url, body] of [
      ['GET', '/api/v1/users', undefined],
      ['POST', '/api/v1/users', { email: 'x@example.com', name: 'X', password: PW }],
    ] as const) {
      expect((await ada.call(method, url, body)).statusCode).toBe(403);
      expect((await h.call(method, url, body, tenantOwner)).statusCode).toBe(403);
    }
    const list = await root.call('GET', '/api/v1/users');
    expect(list.json().items.map((u: { email: string }) => u.email)).toEqual(['ada@example.com', 'bob@example.com', 'root@example.com']);
  });

  it('disabling ends the user’s sessions at once and blocks login; enabling restores login', async () => {
    const ada = await login(h, 'ada@example.com', PW);
    const id = ada.userId;
    const off = await root.call('PATCH', `/api/v1/users/${id}`, { disabled: true });
    expect(off.statusCode).toBe(200);
    expect(off.json().disabled).toBe(true);
    expect((await ada.call('GET', '/api/v1/auth/me')).statusCode).toBe(401);
    expect(await h.app.prisma.session.count({ where: { userId: id } })).toBe(0);
    const denied = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'ada@example.com', password: PW } });
    expect(denied.json().code).toBe('SY_INVALID_CREDENTIALS');
    expect((await root.call('PATCH', `/api/v1/users/${id}`, { disabled: false })).json().disabled).toBe(false);
    await login(h, 'ada@example.com', PW);
    const audit = await h.app.prisma.auditEvent.findFirstOrThrow({ where: { action: 'user.disable', targetId: id } });
    expect(audit.changes).toMatchObject({ disabled: { from: false, to: true }, sessionsRevoked: 2 });
  });

  it('resets a password: all sessions end, the new password works, nothing secret is audited', async () => {
    const ada = await login(h, 'ada@example.com', PW);
    const r = await root.call('PATCH', `/api/v1/users/${ada.userId}`, { password: 'a fresh reset passphrase' });
    expect(r.statusCode).toBe(200);
    expect((await ada.call('GET', '/api/v1/auth/me')).statusCode).toBe(401);
    await login(h, 'ada@example.com', 'a fresh reset passphrase');
    const audit = await h.app.prisma.auditEvent.findFirstOrThrow({ where: { action: 'user.update', targetId: ada.userId }, orderBy: { id: 'desc' } });
    expect(audit.changes).toMatchObject({ password: { from: null, to: 'reset' } });
    expect(JSON.stringify(audit.changes)).not.toContain('passphrase');
  });

  it('refuses to lock out or delete yourself, and names bad fields', async () => {
    expect((await root.call('PATCH', `/api/v1/users/${root.userId}`, { disabled: true })).json().code).toBe('SY_CONFLICT');
    expect((await root.call('PATCH', `/api/v1/users/${root.userId}`, { isPlatformAdmin: false })).json().code).toBe('SY_CONFLICT');
    expect((await root.call('DELETE', `/api/v1/users/${root.userId}`)).json().code).toBe('SY_CONFLICT');
    const empty = await root.call('PATCH', `/api/v1/users/${root.userId}`, {});
    expect(empty.statusCode).toBe(400);
    const bad = await root.call('PATCH', '/api/v1/users/not-a-uuid', { name: 'x' });
    expect(bad.json().details[0].field).toBe('params.userId');
    const unknown = await root.call('GET', '/api/v1/users/00000000-0000-4000-8000-000000000000');
    expect(unknown.json().code).toBe('SY_USER_NOT_FOUND');
  });

  it('never leaves a tenant without an owner by disabling or deleting its last owner', async () => {
    const solo = await root.call('POST', '/api/v1/users', { email: 'solo@example.com', name: 'Solo', password: PW });
    const id = solo.json().id;
    expect((await root.call('POST', '/api/v1/tenants/acme/members', { email: 'solo@example.com', role: 'owner' })).statusCode).toBe(201);
    for (const [method, body] of [['PATCH', { disabled: true }], ['DELETE', undefined]] as const) {
      const r = await root.call(method, `/api/v1/users/${id}`, body);
      expect(r.statusCode).toBe(409);
      expect(r.json().code).toBe('SY_LAST_OWNER');
      expect(r.json().message).toContain('acme');
    }
    await root.call('POST', '/api/v1/tenants/acme/members', { email: 'bob@example.com', role: 'owner' });
    expect((await root.call('DELETE', `/api/v1/users/${id}`)).statusCode).toBe(204);
    expect(await h.app.prisma.membership.count({ where: { userId: id } })).toBe(0);
    expect((await root.call('GET', `/api/v1/users/${id}`)).statusCode).toBe(404);
  });
});

describe('platform tokens', () => {
  it('are created, used, listed and revoked by platform admins only', async () => {
    const c = await root.call('POST', '/api/v1/platform/tokens', { name: 'terraform' });
    expect(c.statusCode).toBe(201);
    const { token, id } = c.json();
    expect(c.json()).toMatchObject({ name: 'terraform', role: 'platform-admin', revokedAt: null });
    const stored = await h.app.prisma.apiToken.findUniqueOrThrow({ where: { id } });
    expect(stored.hash).not.toContain(token.slice(14));
    expect(stored.createdById).toBe(root.userId);
    // It acts as a platform admin.
    expect((await h.call('GET', '/api/v1/users', undefined, token)).statusCode).toBe(200);
    const list = await h.call('GET', '/api/v1/platform/tokens', undefined, token);
    expect(list.json().items.map((t: { id: string }) => t.id)).toEqual([id]);
    expect(list.body).not.toContain(token);
    expect((await h.call('GET', '/api/v1/platform/tokens', undefined, tenantOwner)).statusCode).toBe(403);
    expect((await h.call('POST', '/api/v1/platform/tokens', { name: 'x' }, tenantOwner)).statusCode).toBe(403);
    expect((await h.call('DELETE', `/api/v1/platform/tokens/${id}`, undefined, tenantOwner)).statusCode).toBe(403);
    // Tenant tokens are not platform tokens.
    const tenantTok = await h.app.prisma.apiToken.findFirstOrThrow({ where: { tenantId: { not: null } } });
    expect((await root.call('DELETE', `/api/v1/platform/tokens/${tenantTok.id}`)).json().code).toBe('SY_TOKEN_NOT_FOUND');
    expect((await root.call('DELETE', `/api/v1/platform/tokens/${id}`)).statusCode).toBe(204);
    expect((await h.call('GET', '/api/v1/users', undefined, token)).statusCode).toBe(401);
    const actions = (await h.app.prisma.auditEvent.findMany({ where: { targetId: id }, orderBy: { id: 'asc' } })).map((a) => a.action);
    expect(actions).toEqual(['platform_token.create', 'platform_token.revoke']);
  });

  it('refuses an expiry in the past, and stops working at its expiry', async () => {
    const past = await root.call('POST', '/api/v1/platform/tokens', { name: 'old', expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.statusCode).toBe(400);
    expect(past.json().details[0].field).toBe('body.expiresAt');
    const c = await root.call('POST', '/api/v1/platform/tokens', { name: 'soon', expiresAt: new Date(Date.now() + 60_000).toISOString() });
    expect((await h.call('GET', '/api/v1/users', undefined, c.json().token)).statusCode).toBe(200);
    await h.app.prisma.apiToken.update({ where: { id: c.json().id }, data: { expiresAt: new Date(Date.now() - 1) } });
    expect((await h.call('GET', '/api/v1/users', undefined, c.json().token)).statusCode).toBe(401);
  });
});
