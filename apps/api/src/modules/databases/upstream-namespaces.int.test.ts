/**
 * Other tenants' namespaces ("no open proxy", docs/accounts.md "Upstream policy"), now read by
 * key from PostgreSQL instead of whole: every refusal the rule makes, through the API, against
 * a real database — suffixes (nested, shared, deeper), CIDRs both ways round, IPv6 and mapped
 * addresses, host names and IP literals kept apart, several endpoints, updates — and a policy
 * change that would carve another tenant's databases out of its namespace (refused, naming
 * them with their tenant), including while that tenant writes a database at the same moment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../testing/harness.js';
import { waitingOnLock } from '../../testing/locks.js';
import { requirePolicyHoldsForDatabases } from './upstream-policy-holds.js';

let h: Harness;
const broad = { hostSuffixes: ['svc.cluster.local'], cidrs: ['10.0.0.0/8', 'fd00::/16', '127.0.0.0/8'] };

async function tenant(slug: string, upstreamPolicy: { hostSuffixes: string[]; cidrs: string[] }): Promise<void> {
  const r = await h.call('POST', '/api/v1/tenants', { slug, name: slug, upstreamPolicy });
  expect(r.statusCode, r.body).toBe(201);
}

const create = (slug: string, name: string, body: Record<string, unknown>) => h.call('POST', `/api/v1/tenants/${slug}/databases`, { name, engine: 'postgres', ...body });
const patchPolicy = (slug: string, upstreamPolicy: { hostSuffixes: string[]; cidrs: string[] }) => h.call('PATCH', `/api/v1/tenants/${slug}`, { upstreamPolicy });

/**
 * Creates `host` for `slug` and expects it allowed, or refused by another tenant's namespace,
 * naming one of `refusedBy` (when several hold a more specific one, which is named is not fixed).
 */
async function expectUpstream(slug: string, host: string, verdict: { refusedBy: string[] } | 'allowed', name = `d${Math.random().toString(36).slice(2, 10)}`): Promise<void> {
  const r = await create(slug, name, { upstream: { host, port: 5432 } });
  if (verdict === 'allowed') {
    expect(r.statusCode, `${slug} → ${host}: ${r.body}`).toBe(201);
    return;
  }
  expect(r.statusCode, `${slug} → ${host}: ${r.body}`).toBe(422);
  expect(r.json()).toMatchObject({ code: 'SY_UPSTREAM_NOT_ALLOWED', details: [{ field: 'body.upstream.host' }] });
  const named = /another tenant(?:'s namespace)? \(([a-z0-9-]+)/.exec(r.json().message)?.[1];
  expect(verdict.refusedBy, r.json().message).toContain(named);
}

beforeAll(async () => {
  h = await createHarness();
  await tenant('broad', broad);
  await tenant('beta', { hostSuffixes: ['beta.svc.cluster.local'], cidrs: ['10.9.0.0/16', 'fd00:9::/32'] });
  await tenant('twin', { hostSuffixes: ['beta.svc.cluster.local'], cidrs: ['10.9.0.0/16'] });
  await tenant('deep', { hostSuffixes: ['pg.beta.svc.cluster.local'], cidrs: ['10.9.7.0/24'] });
  // Looks like the end of an address, but is a host suffix: it never claims an IP literal.
  await tenant('digits', { hostSuffixes: ['7.1.1'], cidrs: [] });
  // Many tenants that claim nothing near: their number must not change a verdict.
  for (let i = 0; i < 20; i++) await tenant(`n${i}`, { hostSuffixes: [`n${i}.svc.cluster.local`], cidrs: [`10.${100 + i}.0.0/16`] });
});
afterAll(async () => h.close());

describe('a database upstream inside another tenant’s namespace', () => {
  it('host suffixes: refused inside a more specific one, at any depth; allowed in the owner’s and beside it', async () => {
    await expectUpstream('broad', 'pg.beta.svc.cluster.local', { refusedBy: ['beta', 'twin'] });
    await expectUpstream('broad', 'PG-0.Pg.Beta.SVC.cluster.local.', { refusedBy: ['beta', 'twin', 'deep'] });
    await expectUpstream('broad', 'x.n3.svc.cluster.local', { refusedBy: ['n3'] });
    await expectUpstream('broad', 'pg.gamma.svc.cluster.local', 'allowed');
    await expectUpstream('broad', 'pg.betas.svc.cluster.local', 'allowed'); // a label, not a string suffix
    await expectUpstream('beta', 'pg-0.beta.svc.cluster.local', 'allowed');
    // Shared: both were granted the same suffix explicitly; a more specific one still wins.
    await expectUpstream('twin', 'redis.beta.svc.cluster.local', 'allowed');
    await expectUpstream('beta', 'x.pg.beta.svc.cluster.local', { refusedBy: ['deep'] });
    await expectUpstream('deep', 'x.pg.beta.svc.cluster.local', 'allowed');
  });

  it('CIDRs both ways round: a more specific range inside the tenant’s refuses, a broader one around it does not', async () => {
    await expectUpstream('broad', '10.9.1.1', { refusedBy: ['beta', 'twin'] });
    await expectUpstream('broad', '10.9.7.200', { refusedBy: ['beta', 'twin', 'deep'] });
    await expectUpstream('broad', '10.103.0.5', { refusedBy: ['n3'] });
    await expectUpstream('broad', '10.8.1.1', 'allowed');
    await expectUpstream('beta', '10.9.1.1', 'allowed'); // broad's 10.0.0.0/8 around it takes nothing
    await expectUpstream('beta', '10.9.7.1', { refusedBy: ['deep'] });
    await expectUpstream('deep', '10.9.7.1', 'allowed');
    await expectUpstream('twin', '10.9.2.2', 'allowed');
  });

  it('IPv6, bracketed and IPv4-mapped addresses', async () => {
    await expectUpstream('broad', 'fd00:9::5', { refusedBy: ['beta'] });
    await expectUpstream('broad', '[FD00:9:0::6]', { refusedBy: ['beta'] });
    await expectUpstream('broad', 'fd00:8::5', 'allowed');
    await expectUpstream('beta', 'fd00:9::7', 'allowed');
    await expectUpstream('broad', '::ffff:10.9.3.3', { refusedBy: ['beta', 'twin'] });
    await expectUpstream('broad', '::ffff:10.8.3.3', 'allowed');
  });

  it('keeps host names and IP literals apart', async () => {
    // 10.7.1.1 "ends in" digits' suffix 7.1.1, but an address is matched by CIDRs only.
    await expectUpstream('broad', '10.7.1.1', 'allowed');
    // And a CIDR never claims a host name made of the same digits.
    await tenant('numbered', { hostSuffixes: ['9.10.svc.cluster.local'], cidrs: [] });
    await expectUpstream('broad', 'pg.9.10.svc.cluster.local', { refusedBy: ['numbered'] });
    await expectUpstream('broad', 'pg.8.10.svc.cluster.local', 'allowed');
  });

  it('checks every endpoint, and updates as well as creates', async () => {
    const r = await create('broad', 'multi', { endpoints: [{ host: 'pg.gamma.svc.cluster.local', port: 5432 }, { host: '10.9.0.1', port: 5432 }] });
    expect(r.statusCode).toBe(422);
    expect(r.json().details).toEqual([expect.objectContaining({ field: 'body.endpoints.1.host' })]);
    expect((await create('broad', 'moving', { upstream: { host: 'pg.gamma.svc.cluster.local', port: 5432 } })).statusCode).toBe(201);
    const u = await h.call('PATCH', '/api/v1/tenants/broad/databases/moving', { endpoints: [{ host: 'pg.gamma.svc.cluster.local', port: 5432 }, { host: 'pg.beta.svc.cluster.local', port: 5432 }] });
    expect(u.statusCode).toBe(422);
    expect(u.json()).toMatchObject({ code: 'SY_UPSTREAM_NOT_ALLOWED', details: [{ field: 'body.endpoints.1.host' }] });
    expect((await h.call('PATCH', '/api/v1/tenants/broad/databases/moving', { upstream: { host: '10.8.0.9', port: 5432 } })).statusCode).toBe(200);
  });
});

describe('creating a tenant whose namespace takes a slice of another tenant’s', () => {
  beforeAll(async () => {
    for (const [name, upstream] of [
      ['new-by-name', { host: 'pg.zeta.svc.cluster.local', port: 5432 }],
      ['new-by-ip', { host: '10.30.1.1', port: 5432 }],
    ] as const) {
      expect((await create('broad', name, { upstream })).statusCode).toBe(201);
    }
  });

  it('is refused while that tenant has databases there, naming them, and creates nothing', async () => {
    const audited = await h.app.prisma.auditEvent.count({ where: { action: 'tenant.create' } });
    const r = await h.call('POST', '/api/v1/tenants', { slug: 'zeta', name: 'Zeta', upstreamPolicy: { hostSuffixes: ['zeta.svc.cluster.local'], cidrs: ['10.30.0.0/16'] } });
    expect(r.statusCode, r.body).toBe(409);
    const body = r.json();
    expect(body).toMatchObject({ code: 'SY_UPSTREAM_POLICY_CONFLICT' });
    expect(body.message).toMatch(/^The new upstream policy would take 2 databases of other tenants into this tenant’s namespace/);
    expect(body.details).toEqual([
      expect.objectContaining({ field: 'body.upstreamPolicy.hostSuffixes', count: 1, databases: [expect.objectContaining({ tenant: 'broad', name: 'new-by-name' })] }),
      expect.objectContaining({ field: 'body.upstreamPolicy.cidrs', count: 1, databases: [expect.objectContaining({ tenant: 'broad', name: 'new-by-ip' })] }),
    ]);
    expect((await h.call('GET', '/api/v1/tenants/zeta')).statusCode).toBe(404);
    expect(await h.app.prisma.auditEvent.count({ where: { action: 'tenant.create' } })).toBe(audited);
    // The platform's default policy ({tenant}.svc.cluster.local) counts the same.
    const byDefault = await h.call('POST', '/api/v1/tenants', { slug: 'zeta', name: 'Zeta' });
    expect(byDefault.statusCode, byDefault.body).toBe(409);
    expect(byDefault.json().details).toEqual([expect.objectContaining({ field: 'body.upstreamPolicy.hostSuffixes', databases: [expect.objectContaining({ name: 'new-by-name' })] })]);
  });

  it('passes beside them, and once they moved; a taken slug is still SY_TENANT_EXISTS', async () => {
    expect((await h.call('POST', '/api/v1/tenants', { slug: 'eta', name: 'Eta', upstreamPolicy: { hostSuffixes: ['eta.svc.cluster.local'], cidrs: ['10.31.0.0/16'] } })).statusCode).toBe(201);
    for (const name of ['new-by-name', 'new-by-ip']) expect((await h.call('DELETE', `/api/v1/tenants/broad/databases/${name}`)).statusCode).toBe(204);
    const r = await h.call('POST', '/api/v1/tenants', { slug: 'zeta', name: 'Zeta', upstreamPolicy: { hostSuffixes: ['zeta.svc.cluster.local'], cidrs: ['10.30.0.0/16'] } });
    expect(r.statusCode, r.body).toBe(201);
    // Now it binds broad: the same upstream is refused as inside zeta's namespace.
    await expectUpstream('broad', 'pg.zeta.svc.cluster.local', { refusedBy: ['zeta'] });
    const again = await h.call('POST', '/api/v1/tenants', { slug: 'zeta', name: 'Zeta', upstreamPolicy: { hostSuffixes: ['svc.cluster.local'], cidrs: [] } });
    expect(again.json()).toMatchObject({ code: 'SY_TENANT_EXISTS' });
  });
});

describe('a policy change that takes a slice of another tenant’s namespace', () => {
  beforeAll(async () => {
    await tenant('delta', { hostSuffixes: ['delta-old.example.net'], cidrs: [] });
    for (const [name, upstream] of [
      ['by-name', { host: 'pg.delta.svc.cluster.local', port: 5432 }],
      ['by-ip', { host: '10.20.1.1', port: 5432 }],
      ['by-v6', { host: 'fd00:20::1', port: 5432 }],
    ] as const) {
      expect((await create('broad', name, { upstream })).statusCode).toBe(201);
    }
  });

  it('is refused while the other tenant has databases there, naming them with their tenant, and changes nothing', async () => {
    const audited = await h.app.prisma.auditEvent.count({ where: { action: 'tenant.update' } });
    const r = await patchPolicy('delta', { hostSuffixes: ['delta-old.example.net', 'delta.svc.cluster.local'], cidrs: ['10.20.0.0/16', 'fd00:20::/32'] });
    expect(r.statusCode).toBe(409);
    const body = r.json();
    expect(body).toMatchObject({ statusCode: 409, code: 'SY_UPSTREAM_POLICY_CONFLICT', error: 'Conflict' });
    expect(body.message).toMatch(/^The new upstream policy would take 3 databases of other tenants into this tenant’s namespace/);
    expect(body.message).toContain('broad/by-name (pg.delta.svc.cluster.local:5432');
    expect(body.message).toContain('broad/by-ip (10.20.1.1:5432');
    expect(body.message).toContain('broad/by-v6 (fd00:20::1:5432');
    expect(body.details).toEqual([
      expect.objectContaining({ field: 'body.upstreamPolicy.hostSuffixes', count: 1, databases: [{ tenant: 'broad', name: 'by-name', endpoints: ['pg.delta.svc.cluster.local:5432'], reason: expect.stringContaining('delta') }] }),
      expect.objectContaining({
        field: 'body.upstreamPolicy.cidrs',
        count: 2,
        databases: [expect.objectContaining({ tenant: 'broad', name: 'by-ip' }), expect.objectContaining({ tenant: 'broad', name: 'by-v6' })],
      }),
    ]);
    expect((await h.call('GET', '/api/v1/tenants/delta')).json().upstreamPolicy).toEqual({ hostSuffixes: ['delta-old.example.net'], cidrs: [] });
    expect(await h.app.prisma.auditEvent.count({ where: { action: 'tenant.update' } })).toBe(audited);
  });

  it('each kind of slice on its own: a suffix, an IPv4 range down to one address, an IPv6 range', async () => {
    const cases: Array<[{ hostSuffixes: string[]; cidrs: string[] }, string, string]> = [
      [{ hostSuffixes: ['delta.svc.cluster.local'], cidrs: [] }, 'body.upstreamPolicy.hostSuffixes', 'by-name'],
      [{ hostSuffixes: ['svc.cluster.local', 'delta.svc.cluster.local'], cidrs: [] }, 'body.upstreamPolicy.hostSuffixes', 'by-name'],
      [{ hostSuffixes: ['delta-old.example.net'], cidrs: ['10.20.1.0/24'] }, 'body.upstreamPolicy.cidrs', 'by-ip'],
      [{ hostSuffixes: ['delta-old.example.net'], cidrs: ['10.20.1.1/32'] }, 'body.upstreamPolicy.cidrs', 'by-ip'],
      [{ hostSuffixes: ['delta-old.example.net'], cidrs: ['fd00:20::/64'] }, 'body.upstreamPolicy.cidrs', 'by-v6'],
    ];
    for (const [upstreamPolicy, field, name] of cases) {
      const r = await patchPolicy('delta', upstreamPolicy);
      expect(r.statusCode, JSON.stringify(upstreamPolicy)).toBe(409);
      expect(r.json().details, JSON.stringify(upstreamPolicy)).toEqual([expect.objectContaining({ field, count: 1, databases: [expect.objectContaining({ tenant: 'broad', name })] })]);
    }
  });

  it('passes where the other tenant has no database, around its namespace, or where it was refused already', async () => {
    for (const upstreamPolicy of [
      { hostSuffixes: ['epsilon.svc.cluster.local'], cidrs: ['10.21.0.0/16', 'fd00:21::/32'] },
      // Broader than broad's own grants: broad's more specific ones keep its databases.
      { hostSuffixes: ['cluster.local'], cidrs: ['10.0.0.0/7', 'fd00::/15'] },
      // Equal to broad's: shared, not taken.
      { hostSuffixes: ['svc.cluster.local'], cidrs: ['10.0.0.0/8'] },
      { hostSuffixes: ['delta-old.example.net'], cidrs: [] },
    ]) {
      const r = await patchPolicy('delta', upstreamPolicy);
      expect(r.statusCode, `${JSON.stringify(upstreamPolicy)}: ${r.body}`).toBe(200);
    }
    // A database of broad written by hand inside beta's namespace was outside already: a third
    // tenant taking a slice of it does not make it so.
    const broadId = (await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'broad' } })).id;
    await h.app.prisma.database.create({ data: { tenantId: broadId, name: 'by-hand', engine: 'postgres', upstreamHost: 'x.y.beta.svc.cluster.local', upstreamPort: 5432 } });
    expect((await patchPolicy('delta', { hostSuffixes: ['y.beta.svc.cluster.local'], cidrs: [] })).statusCode).toBe(200);
    // But beta's own databases under it are taken from beta.
    expect((await create('beta', 'under-z', { upstream: { host: 'pg.z.beta.svc.cluster.local', port: 5432 } })).statusCode).toBe(201);
    const r = await patchPolicy('delta', { hostSuffixes: ['y.beta.svc.cluster.local', 'z.beta.svc.cluster.local'], cidrs: [] });
    expect(r.statusCode).toBe(409);
    expect(r.json().details[0].databases).toEqual([expect.objectContaining({ tenant: 'beta', name: 'under-z' })]);
    expect((await patchPolicy('delta', { hostSuffixes: ['delta-old.example.net'], cidrs: [] })).statusCode).toBe(200);
  });

  it('names both the tenant’s own stranded databases and the other tenant’s', async () => {
    expect((await create('delta', 'own', { upstream: { host: 'pg.delta-old.example.net', port: 5432 } })).statusCode).toBe(201);
    const r = await patchPolicy('delta', { hostSuffixes: ['delta.svc.cluster.local'], cidrs: [] });
    expect(r.statusCode).toBe(409);
    expect(r.json().message).toMatch(/^The new upstream policy would leave 1 database of the tenant pointing outside it: own \(.*; it would take 1 database of other tenants .*broad\/by-name/);
    expect(r.json().details).toEqual([
      expect.objectContaining({ field: 'body.upstreamPolicy.hostSuffixes', count: 2, databases: [expect.objectContaining({ name: 'own' }), expect.objectContaining({ tenant: 'broad', name: 'by-name' })] }),
    ]);
    expect(r.json().details[0].databases[0]).not.toHaveProperty('tenant');
    expect((await h.call('DELETE', '/api/v1/tenants/delta/databases/own')).statusCode).toBe(204);
  });

  it('once the other tenant’s databases are moved, the same change passes, and then binds that tenant', async () => {
    for (const [name, host] of [['by-name', 'pg.gamma.svc.cluster.local'], ['by-ip', '10.8.1.2'], ['by-v6', 'fd00:8::2']]) {
      expect((await h.call('PATCH', `/api/v1/tenants/broad/databases/${name}`, { upstream: { host, port: 5432 } })).statusCode).toBe(200);
    }
    const r = await patchPolicy('delta', { hostSuffixes: ['delta.svc.cluster.local'], cidrs: ['10.20.0.0/16', 'fd00:20::/32'] });
    expect(r.statusCode, r.body).toBe(200);
    await expectUpstream('broad', 'pg.delta.svc.cluster.local', { refusedBy: ['delta'] });
    await expectUpstream('broad', '10.20.3.3', { refusedBy: ['delta'] });
    await expectUpstream('delta', '10.20.3.3', 'allowed');
  });

  it('a database write of the other tenant at the same moment is refused after the change commits', async () => {
    const delta = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'delta' } });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let checked!: () => void;
    const ready = new Promise<void>((r) => (checked = r));
    const change = h.app.prisma.$transaction(
      async (tx) => {
        const hostSuffixes = [...delta.allowedUpstreamSuffixes, 'theta.svc.cluster.local'];
        await requirePolicyHoldsForDatabases(tx, delta.id, { hostSuffixes });
        await tx.tenant.update({ where: { id: delta.id }, data: { allowedUpstreamSuffixes: hostSuffixes } });
        checked();
        await gate;
      },
      { timeout: 20_000 },
    );
    await Promise.race([ready, change]);
    // Checked against delta's policy as committed (without theta), then waits for broad's row.
    const write = create('broad', 'racing', { upstream: { host: 'pg.theta.svc.cluster.local', port: 5432 } });
    try {
      await waitingOnLock(h.app.prisma, '%FOR SHARE%');
    } finally {
      release();
      await change;
    }
    const r = await write;
    expect(r.statusCode, r.body).toBe(422);
    expect(r.json().message).toContain('delta');
    expect(await h.app.prisma.database.count({ where: { name: 'racing' } })).toBe(0);
  });

  it('is for platform admins only', async () => {
    const tok = await h.call('POST', '/api/v1/tenants/delta/tokens', { name: 'owner', role: 'owner' });
    const r = await h.call('PATCH', '/api/v1/tenants/delta', { upstreamPolicy: { hostSuffixes: ['gamma.svc.cluster.local'], cidrs: [] } }, tok.json().token);
    expect(r.statusCode).toBe(403);
    expect(r.body).not.toContain('broad');
  });
});
