/**
 * A narrower upstream policy must not strand existing databases outside it
 * (docs/accounts.md "Upstream policy"): the PATCH is refused with 409
 * SY_UPSTREAM_POLICY_CONFLICT naming them and nothing changes; once they are moved or
 * deleted the same PATCH succeeds; a wider or unchanged policy always passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../lib/access.js';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';
import { requireUpstreamPolicyUnchanged } from './upstream-policy-holds.js';

let h: Harness;
let owner: string;
const base = '/api/v1/tenants/acme/databases';
const wide = { hostSuffixes: ['acme.svc.cluster.local', 'legacy.example.net'], cidrs: ['10.42.0.0/16', '127.0.0.0/8'] };
const policyOf = async () => (await h.call('GET', '/api/v1/tenants/acme')).json().upstreamPolicy;
const controller: Actor = {
  principal: { actorType: 'controller', actorId: 'test-controller', isPlatformAdmin: true, tenantRoles: new Map() },
  requestId: 'controller-test',
  clientAddress: '127.0.0.1',
  owner: { kind: 'ExternalAccess', namespace: 'acme-prod', name: 'k8s', uid: '0b7e7c1a-1111-4d2c-9a55-000000000009' },
};

beforeAll(async () => {
  h = await createHarness();
  ({ token: owner } = await seedTenant(h));
  expect((await h.call('PATCH', '/api/v1/tenants/acme', { upstreamPolicy: wide })).statusCode).toBe(200);
  for (const [name, upstream] of [
    ['inside', { host: 'pg.acme.svc.cluster.local', port: 5432 }],
    ['legacy', { host: 'pg.legacy.example.net', port: 5432 }],
    ['by-ip', { host: '10.42.1.5', port: 5432 }],
  ] as const) {
    expect((await h.call('POST', base, { name, engine: 'postgres', upstream }, owner)).statusCode).toBe(201);
  }
});
afterAll(async () => h.close());

describe('tightening the upstream policy', () => {
  it('refuses a policy that strands databases, naming them on the policy fields, and changes nothing', async () => {
    const before = await policyOf();
    const audited = await h.app.prisma.auditEvent.count({ where: { action: 'tenant.update' } });
    const r = await h.call('PATCH', '/api/v1/tenants/acme', { name: 'Renamed', upstreamPolicy: { hostSuffixes: ['acme.svc.cluster.local'], cidrs: ['127.0.0.0/8'] } });
    expect(r.statusCode).toBe(409);
    const body = r.json();
    expect(body).toMatchObject({ statusCode: 409, code: 'SY_UPSTREAM_POLICY_CONFLICT', error: 'Conflict' });
    expect(body.message).toContain('2 databases');
    expect(body.message).toContain('legacy (pg.legacy.example.net:5432');
    expect(body.message).toContain('by-ip (10.42.1.5:5432');
    expect(body.message).not.toContain('inside');
    expect(body.details).toEqual([
      expect.objectContaining({ field: 'body.upstreamPolicy.hostSuffixes', count: 1, databases: [expect.objectContaining({ name: 'legacy', endpoints: ['pg.legacy.example.net:5432'] })] }),
      expect.objectContaining({ field: 'body.upstreamPolicy.cidrs', count: 1, databases: [expect.objectContaining({ name: 'by-ip', endpoints: ['10.42.1.5:5432'] })] }),
    ]);
    expect(await policyOf()).toEqual(before);
    expect((await h.call('GET', '/api/v1/tenants/acme')).json().name).not.toBe('Renamed');
    expect(await h.app.prisma.auditEvent.count({ where: { action: 'tenant.update' } })).toBe(audited);
  });

  it('checks every endpoint of a database and Kubernetes-owned databases too', async () => {
    await h.app.services.databases.create(controller, 'acme', { name: 'k8s', engine: 'postgres', upstream: { host: 'pg.legacy.example.net', port: 6432 } });
    expect((await h.call('PATCH', `${base}/inside`, { endpoints: [{ host: 'pg.acme.svc.cluster.local', port: 5432 }, { host: '10.42.9.9', port: 5432 }] }, owner)).statusCode).toBe(200);
    const r = await h.call('PATCH', '/api/v1/tenants/acme', { upstreamPolicy: { hostSuffixes: wide.hostSuffixes, cidrs: ['127.0.0.0/8'] } });
    expect(r.statusCode).toBe(409);
    expect(r.json().message).toContain('inside (10.42.9.9:5432');
    expect(r.json().details).toEqual([expect.objectContaining({ field: 'body.upstreamPolicy.cidrs', count: 2 })]);
    const s = await h.call('PATCH', '/api/v1/tenants/acme', { upstreamPolicy: { hostSuffixes: ['acme.svc.cluster.local'], cidrs: wide.cidrs } });
    expect(s.statusCode).toBe(409);
    expect(s.json().message).toMatch(/^The new upstream policy would leave 2 databases .*k8s \(pg\.legacy\.example\.net:6432/);
    await h.app.services.databases.delete({ ...controller }, 'acme', 'k8s');
    expect((await h.call('PATCH', `${base}/inside`, { upstream: { host: 'pg.acme.svc.cluster.local', port: 5432 } }, owner)).statusCode).toBe(200);
  });

  it('accepts the same change once the databases are moved or deleted', async () => {
    expect((await h.call('PATCH', `${base}/legacy`, { upstream: { host: 'pg-legacy.acme.svc.cluster.local', port: 5432 } }, owner)).statusCode).toBe(200);
    expect((await h.call('DELETE', `${base}/by-ip`, undefined, owner)).statusCode).toBe(204);
    const r = await h.call('PATCH', '/api/v1/tenants/acme', { upstreamPolicy: { hostSuffixes: ['acme.svc.cluster.local'], cidrs: ['127.0.0.0/8'] } });
    expect(r.statusCode).toBe(200);
    expect(await policyOf()).toEqual({ hostSuffixes: ['acme.svc.cluster.local'], cidrs: ['127.0.0.0/8'] });
  });

  it('never refuses a wider or unchanged policy, even with a database already outside it', async () => {
    // A row outside the policy from before this check existed (written by hand).
    await h.app.prisma.database.update({ where: { tenantId_name: { tenantId: (await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'acme' } })).id, name: 'legacy' } }, data: { upstreamHost: 'pg.elsewhere.example.org', endpoints: [] } });
    for (const upstreamPolicy of [
      { hostSuffixes: ['acme.svc.cluster.local'], cidrs: ['127.0.0.0/8'] },
      { hostSuffixes: ['acme.svc.cluster.local'], cidrs: ['127.0.0.0/8', '10.0.0.0/8'] },
      { hostSuffixes: ['acme.svc.cluster.local', 'legacy.example.net'], cidrs: ['127.0.0.0/8', '10.0.0.0/8'] },
      { hostSuffixes: ['svc.cluster.local', 'legacy.example.net'], cidrs: ['0.0.0.0/0'] },
    ]) {
      const r = await h.call('PATCH', '/api/v1/tenants/acme', { upstreamPolicy });
      expect(r.statusCode, JSON.stringify(upstreamPolicy)).toBe(200);
    }
  });

  it('a database write checked against a policy that changed before it committed is refused', async () => {
    const tenant = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'acme' } });
    await h.app.prisma.$transaction(async (tx) => requireUpstreamPolicyUnchanged(tx, tenant));
    await expect(h.app.prisma.$transaction(async (tx) => requireUpstreamPolicyUnchanged(tx, { ...tenant, allowedUpstreamCidrs: ['10.0.0.0/8'] }))).rejects.toMatchObject({ code: 'SY_CONFLICT' });
  });
});
