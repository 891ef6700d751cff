/**
 * Tokens say who created them, and do not outlive their creator's access: when a user's
 * membership ends or is lowered, or the user is disabled, deleted or no longer platform admin,
 * the tokens that user created beyond their remaining access are revoked in the same
 * transaction, and audited.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, createUser, login, seedTenant, type Harness, type SessionClient } from '../../testing/harness.js';

let h: Harness;
const PW = 'correct horse battery staple';

interface Created {
  id: string;
  token: string;
}

beforeAll(async () => {
  h = await createHarness();
  await seedTenant(h, 'acme');
  await seedTenant(h, 'beta');
  // Another enabled platform admin, so `dave` below may be demoted.
  await createUser(h, 'root@example.com', PW, { isPlatformAdmin: true });
});
afterAll(async () => h.close());

async function create(s: SessionClient | string | undefined, tenant: string | null, name: string, role?: string): Promise<Created> {
  const url = tenant ? `/api/v1/tenants/${tenant}/tokens` : '/api/v1/platform/tokens';
  const body = tenant ? { name, role } : { name };
  const r = typeof s === 'object' ? await s.call('POST', url, body) : await h.call('POST', url, body, s);
  expect(r.statusCode, r.body).toBe(201);
  return r.json();
}

/** Whether the token still authenticates (a read it may do). */
async function works(token: string, tenant: string | null): Promise<boolean> {
  const r = await h.call('GET', tenant ? `/api/v1/tenants/${tenant}/databases` : '/api/v1/users', undefined, token);
  if (r.statusCode !== 200 && r.statusCode !== 401) throw new Error(`unexpected ${r.statusCode} ${r.body}`);
  return r.statusCode === 200;
}

async function listed(tenant: string | null, id: string): Promise<any> {
  const r = await h.call('GET', tenant ? `/api/v1/tenants/${tenant}/tokens` : '/api/v1/platform/tokens');
  return r.json().items.find((t: { id: string }) => t.id === id);
}

async function revokeAudit(id: string): Promise<Array<{ action: string; changes: any; actorType: string }>> {
  return h.app.prisma.auditEvent.findMany({ where: { targetId: id, action: { in: ['token.revoke', 'platform_token.revoke'] } }, select: { action: true, changes: true, actorType: true } });
}

describe('createdBy', () => {
  it('names the user (id and email), the token or the bootstrap token that created each token', async () => {
    const ada = await createUser(h, 'ada@example.com', PW, { memberships: [{ tenant: 'acme', role: 'admin' }] });
    const byAda = await create(await login(h, 'ada@example.com', PW), 'acme', 'by-ada', 'member');
    const platform = await create(undefined, null, 'terraform');
    const byPlatform = await create(platform.token, 'acme', 'by-terraform', 'member');
    const byBootstrap = await create(undefined, 'acme', 'by-bootstrap', 'member');
    const tenantToken = await create(undefined, 'acme', 'ci-admin', 'admin');
    const byTenantToken = await create(tenantToken.token, 'acme', 'by-ci', 'member');
    expect((await listed('acme', byAda.id)).createdBy).toEqual({ kind: 'user', userId: ada.id, email: 'ada@example.com', tokenId: null, tokenName: null });
    expect((await listed('acme', byPlatform.id)).createdBy).toEqual({ kind: 'platform-token', userId: null, email: null, tokenId: platform.id, tokenName: 'terraform' });
    expect((await listed('acme', byBootstrap.id)).createdBy).toEqual({ kind: 'bootstrap-token', userId: null, email: null, tokenId: null, tokenName: null });
    expect((await listed('acme', byTenantToken.id)).createdBy).toEqual({ kind: 'api-token', userId: null, email: null, tokenId: tenantToken.id, tokenName: 'ci-admin' });
    // The creation answer says it too.
    const again = await login(h, 'ada@example.com', PW);
    const r = await again.call('POST', '/api/v1/tenants/acme/tokens', { name: 'by-ada-2', role: 'member' });
    expect(r.json().createdBy).toEqual({ kind: 'user', userId: ada.id, email: 'ada@example.com', tokenId: null, tokenName: null });
  });
});

describe('tokens end with their creator’s access', () => {
  it('demoting a member revokes the tokens it created above its new role, and only those', async () => {
    await createUser(h, 'erin@example.com', PW, { memberships: [{ tenant: 'acme', role: 'admin' }] });
    const erin = await login(h, 'erin@example.com', PW);
    const admin = await create(erin, 'acme', 'erin-admin', 'admin');
    const member = await create(erin, 'acme', 'erin-member', 'member');
    const other = await create(undefined, 'acme', 'not-erins', 'admin');
    const r = await h.call('PATCH', `/api/v1/tenants/acme/members/${erin.userId}`, { role: 'member' });
    expect(r.statusCode, r.body).toBe(200);
    expect(await works(admin.token, 'acme')).toBe(false);
    expect(await works(member.token, 'acme')).toBe(true);
    expect(await works(other.token, 'acme')).toBe(true);
    expect((await listed('acme', admin.id)).revokedAt).not.toBeNull();
    expect(await revokeAudit(admin.id)).toEqual([
      { action: 'token.revoke', actorType: 'admin-token', changes: { prefix: { from: expect.any(String), to: null }, reason: { from: null, to: 'the creator’s role in the tenant was lowered' } } },
    ]);
    const memberChange = await h.app.prisma.auditEvent.findFirstOrThrow({ where: { action: 'member.update', targetId: erin.userId } });
    expect(memberChange.changes).toMatchObject({ tokensRevoked: 1 });
  });

  it('removing a member, or the member leaving, revokes the tokens it created in that tenant', async () => {
    await createUser(h, 'finn@example.com', PW, { memberships: [{ tenant: 'acme', role: 'admin' }, { tenant: 'beta', role: 'admin' }] });
    const finn = await login(h, 'finn@example.com', PW);
    const inAcme = await create(finn, 'acme', 'finn-acme', 'member');
    const inBeta = await create(finn, 'beta', 'finn-beta', 'member');
    expect((await h.call('DELETE', `/api/v1/tenants/acme/members/${finn.userId}`)).statusCode).toBe(204);
    expect(await works(inAcme.token, 'acme')).toBe(false);
    expect(await works(inBeta.token, 'beta')).toBe(true);
    expect((await revokeAudit(inAcme.id))[0]!.changes.reason.to).toBe('the creator left the tenant');
    // Leaving by oneself too.
    expect((await finn.call('DELETE', `/api/v1/tenants/beta/members/${finn.userId}`)).statusCode).toBe(204);
    expect(await works(inBeta.token, 'beta')).toBe(false);
  });

  it('disabling or deleting a user revokes every token it created; a deleted creator stays named by id', async () => {
    const gus = await createUser(h, 'gus@example.com', PW, { memberships: [{ tenant: 'acme', role: 'owner' }, { tenant: 'beta', role: 'admin' }] });
    // Gus is not the last owner of acme.
    await createUser(h, 'acme-owner@example.com', PW, { memberships: [{ tenant: 'acme', role: 'owner' }] });
    const gusSession = await login(h, 'gus@example.com', PW);
    const a = await create(gusSession, 'acme', 'gus-acme', 'owner');
    const b = await create(gusSession, 'beta', 'gus-beta', 'admin');
    expect((await h.call('PATCH', `/api/v1/users/${gus.id}`, { disabled: true })).statusCode).toBe(200);
    expect(await works(a.token, 'acme')).toBe(false);
    expect(await works(b.token, 'beta')).toBe(false);
    expect((await revokeAudit(b.id))[0]!.changes.reason.to).toBe('the creator was disabled');
    // Re-enabling does not bring them back.
    expect((await h.call('PATCH', `/api/v1/users/${gus.id}`, { disabled: false })).statusCode).toBe(200);
    expect(await works(a.token, 'acme')).toBe(false);

    const hal = await createUser(h, 'hal@example.com', PW, { memberships: [{ tenant: 'acme', role: 'admin' }] });
    const c = await create(await login(h, 'hal@example.com', PW), 'acme', 'hal-acme', 'admin');
    expect((await h.call('DELETE', `/api/v1/users/${hal.id}`)).statusCode).toBe(204);
    expect(await works(c.token, 'acme')).toBe(false);
    expect((await revokeAudit(c.id))[0]!.changes.reason.to).toBe('the creator was deleted');
    expect((await listed('acme', c.id)).createdBy).toEqual({ kind: 'user', userId: hal.id, email: null, tokenId: null, tokenName: null });
  });

  it('a platform admin losing the role loses the platform tokens and the tenant tokens it created without a role there', async () => {
    const dave = await createUser(h, 'dave@example.com', PW, { isPlatformAdmin: true, memberships: [{ tenant: 'beta', role: 'admin' }] });
    const s = await login(h, 'dave@example.com', PW);
    const platform = await create(s, null, 'dave-platform');
    const acmeOwner = await create(s, 'acme', 'dave-acme', 'owner');
    const betaAdmin = await create(s, 'beta', 'dave-beta-admin', 'admin');
    const betaOwner = await create(s, 'beta', 'dave-beta-owner', 'owner');
    // Removed from beta while platform admin: still allowed everywhere, nothing revoked.
    expect((await h.call('DELETE', `/api/v1/tenants/beta/members/${dave.id}`)).statusCode).toBe(204);
    expect(await works(betaAdmin.token, 'beta')).toBe(true);
    expect((await h.call('POST', '/api/v1/tenants/beta/members', { email: 'dave@example.com', role: 'admin' })).statusCode).toBe(201);
    expect((await h.call('PATCH', `/api/v1/users/${dave.id}`, { isPlatformAdmin: false })).statusCode).toBe(200);
    expect(await works(platform.token, null)).toBe(false);
    expect(await works(acmeOwner.token, 'acme')).toBe(false);
    expect(await works(betaOwner.token, 'beta')).toBe(false);
    expect(await works(betaAdmin.token, 'beta')).toBe(true);
    expect((await revokeAudit(platform.id))[0]).toMatchObject({ action: 'platform_token.revoke', changes: { reason: { to: 'the creator is no longer a platform admin' } } });
  });
});
