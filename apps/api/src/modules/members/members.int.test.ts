import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, createUser, login, seedTenant, type Harness, type SessionClient } from '../../testing/harness.js';

let h: Harness;
const PW = 'correct horse battery staple';
let owner: SessionClient;
let admin: SessionClient;
let member: SessionClient;
const ids: Record<string, string> = {};

beforeAll(async () => {
  h = await createHarness();
  await seedTenant(h, 'acme');
  await seedTenant(h, 'beta');
  for (const name of ['owner', 'admin', 'member', 'newbie', 'other']) ids[name] = (await createUser(h, `${name}@example.com`, PW)).id;
  await h.call('POST', '/api/v1/tenants/acme/members', { email: 'owner@example.com', role: 'owner' });
  await h.call('POST', '/api/v1/tenants/acme/members', { email: 'admin@example.com', role: 'admin' });
  await h.call('POST', '/api/v1/tenants/acme/members', { email: 'member@example.com', role: 'member' });
  await h.call('POST', '/api/v1/tenants/beta/members', { email: 'other@example.com', role: 'owner' });
  owner = await login(h, 'owner@example.com', PW);
  admin = await login(h, 'admin@example.com', PW);
  member = await login(h, 'member@example.com', PW);
});
afterAll(async () => h.close());

describe('members', () => {
  it('lists members for every role in the tenant, and hides the tenant from others', async () => {
    const r = await member.call('GET', '/api/v1/tenants/acme/members');
    expect(r.statusCode).toBe(200);
    expect(r.json().items.map((m: { email: string; role: string }) => [m.email, m.role])).toEqual([
      ['owner@example.com', 'owner'],
      ['admin@example.com', 'admin'],
      ['member@example.com', 'member'],
    ]);
    const other = await login(h, 'other@example.com', PW);
    expect((await other.call('GET', '/api/v1/tenants/acme/members')).json().code).toBe('SY_TENANT_NOT_FOUND');
  });

  it('members are read-only', async () => {
    expect((await member.call('POST', '/api/v1/tenants/acme/members', { email: 'newbie@example.com', role: 'member' })).statusCode).toBe(403);
    expect((await member.call('PATCH', `/api/v1/tenants/acme/members/${ids.admin}`, { role: 'member' })).statusCode).toBe(403);
    expect((await member.call('DELETE', `/api/v1/tenants/acme/members/${ids.admin}`)).statusCode).toBe(403);
    for (const [method, url, body] of [
      ['POST', '/api/v1/tenants/acme/databases', { name: 'x', engine: 'postgres', upstream: { host: 'pg.acme.svc.cluster.local', port: 5432 } }],
      ['POST', '/api/v1/tenants/acme/tokens', { name: 'x', role: 'member' }],
      ['GET', '/api/v1/tenants/acme/tokens', undefined],
      ['GET', '/api/v1/tenants/acme/audit-events', undefined],
    ] as const) {
      expect((await member.call(method, url, body)).statusCode, `${method} ${url}`).toBe(403);
    }
  });

  it('admins manage members up to admin; only owners touch owners', async () => {
    const add = await admin.call('POST', '/api/v1/tenants/acme/members', { email: 'newbie@example.com', role: 'owner' });
    expect(add.statusCode).toBe(403);
    const ok = await admin.call('POST', '/api/v1/tenants/acme/members', { email: 'Newbie@Example.com', role: 'admin' });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ userId: ids.newbie, role: 'admin', email: 'newbie@example.com' });
    expect((await admin.call('POST', '/api/v1/tenants/acme/members', { email: 'newbie@example.com', role: 'member' })).json().code).toBe('SY_MEMBER_EXISTS');
    expect((await admin.call('POST', '/api/v1/tenants/acme/members', { email: 'nobody@example.com', role: 'member' })).json().code).toBe('SY_USER_NOT_FOUND');
    expect((await admin.call('PATCH', `/api/v1/tenants/acme/members/${ids.owner}`, { role: 'member' })).statusCode).toBe(403);
    expect((await admin.call('DELETE', `/api/v1/tenants/acme/members/${ids.owner}`)).statusCode).toBe(403);
    expect((await admin.call('PATCH', `/api/v1/tenants/acme/members/${ids.newbie}`, { role: 'member' })).json().role).toBe('member');
    expect((await admin.call('PATCH', `/api/v1/tenants/acme/members/${ids.other}`, { role: 'member' })).json().code).toBe('SY_MEMBER_NOT_FOUND');
    const promoted = await owner.call('PATCH', `/api/v1/tenants/acme/members/${ids.newbie}`, { role: 'owner' });
    expect(promoted.json().role).toBe('owner');
    const actions = await h.app.prisma.auditEvent.findMany({ where: { targetId: ids.newbie, action: { startsWith: 'member.' } }, orderBy: { id: 'asc' } });
    expect(actions.map((a) => [a.action, a.changes])).toEqual([
      ['member.add', { email: { from: null, to: 'newbie@example.com' }, role: { from: null, to: 'admin' } }],
      ['member.update', { role: { from: 'admin', to: 'member' } }],
      ['member.update', { role: { from: 'member', to: 'owner' } }],
    ]);
  });

  it('role changes apply to open sessions at once', async () => {
    const newbie = await login(h, 'newbie@example.com', PW);
    expect((await newbie.call('GET', '/api/v1/tenants/acme/tokens')).statusCode).toBe(200);
    await owner.call('PATCH', `/api/v1/tenants/acme/members/${ids.newbie}`, { role: 'member' });
    expect((await newbie.call('GET', '/api/v1/tenants/acme/tokens')).statusCode).toBe(403);
    await owner.call('DELETE', `/api/v1/tenants/acme/members/${ids.newbie}`);
    expect((await newbie.call('GET', '/api/v1/tenants/acme')).statusCode).toBe(404);
  });

  it('never removes or demotes the last owner, and lets members leave', async () => {
    const demote = await owner.call('PATCH', `/api/v1/tenants/acme/members/${ids.owner}`, { role: 'admin' });
    expect(demote.statusCode).toBe(409);
    expect(demote.json().code).toBe('SY_LAST_OWNER');
    expect((await owner.call('DELETE', `/api/v1/tenants/acme/members/${ids.owner}`)).json().code).toBe('SY_LAST_OWNER');
    expect((await h.call('DELETE', `/api/v1/tenants/acme/members/${ids.owner}`)).json().code).toBe('SY_LAST_OWNER');
    // A member leaves on their own.
    expect((await member.call('DELETE', `/api/v1/tenants/acme/members/${ids.member}`)).statusCode).toBe(204);
    expect((await member.call('GET', '/api/v1/tenants/acme')).statusCode).toBe(404);
  });

  it('concurrent demotions of two owners leave one owner', async () => {
    await h.call('PATCH', `/api/v1/tenants/acme/members/${ids.admin}`, { role: 'owner' });
    const results = await Promise.all([
      h.call('PATCH', `/api/v1/tenants/acme/members/${ids.owner}`, { role: 'admin' }),
      h.call('PATCH', `/api/v1/tenants/acme/members/${ids.admin}`, { role: 'admin' }),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    const t = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'acme' } });
    expect(await h.app.prisma.membership.count({ where: { tenantId: t.id, role: 'owner' } })).toBe(1);
  });
});

describe('api tokens and roles', () => {
  it('cannot create or revoke a token above the caller’s role', async () => {
    const { token: ownerToken } = await seedTenant(h, 'gamma');
    const adminTok = (await h.call('POST', '/api/v1/tenants/gamma/tokens', { name: 'admin', role: 'admin' }, ownerToken)).json();
    const up = await h.call('POST', '/api/v1/tenants/gamma/tokens', { name: 'up', role: 'owner' }, adminTok.token);
    expect(up.statusCode).toBe(403);
    const ownerRow = await h.app.prisma.apiToken.findFirstOrThrow({ where: { tenant: { slug: 'gamma' }, role: 'owner' } });
    expect((await h.call('DELETE', `/api/v1/tenants/gamma/tokens/${ownerRow.id}`, undefined, adminTok.token)).statusCode).toBe(403);
    const memberTok = (await h.call('POST', '/api/v1/tenants/gamma/tokens', { name: 'ro', role: 'member' }, adminTok.token)).json();
    expect((await h.call('GET', '/api/v1/tenants/gamma/databases', undefined, memberTok.token)).statusCode).toBe(200);
    expect((await h.call('GET', '/api/v1/tenants/gamma/tokens', undefined, memberTok.token)).statusCode).toBe(403);
    // Revocation is immediate; last use is recorded.
    const listed = (await h.call('GET', '/api/v1/tenants/gamma/tokens', undefined, adminTok.token)).json().items;
    expect(listed.find((t: { id: string }) => t.id === memberTok.id).lastUsedAt).not.toBeNull();
    expect((await h.call('DELETE', `/api/v1/tenants/gamma/tokens/${memberTok.id}`, undefined, adminTok.token)).statusCode).toBe(204);
    expect((await h.call('GET', '/api/v1/tenants/gamma/databases', undefined, memberTok.token)).statusCode).toBe(401);
  });
});
