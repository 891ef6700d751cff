/**
 * POST /api/v1/tenants/:tenant/external-access/batch: several routes in one transaction,
 * consecutive versions, one audit event per changed route, all or nothing with per-item
 * field errors, and the same tenant boundaries as the single call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';

let h: Harness;
let owner: string;
let member: string;
let betaOwner: string;
const batch = '/api/v1/tenants/acme/external-access/batch';

const counts = async () => ({
  changes: await h.app.prisma.configChange.count(),
  audit: await h.app.prisma.auditEvent.count({ where: { targetType: 'route' } }),
  routes: await h.app.prisma.route.count(),
  version: Number((await h.app.prisma.$queryRaw<Array<{ version: bigint }>>`SELECT version FROM config_state WHERE id = 1`)[0]!.version),
});

beforeAll(async () => {
  h = await createHarness({ SWITCHYARD_DEDICATED_PORTS: '21000-21001' });
  ({ token: owner } = await seedTenant(h));
  ({ token: betaOwner } = await seedTenant(h, 'beta'));
  const m = await h.call('POST', '/api/v1/tenants/acme/tokens', { name: 'viewer', role: 'member' });
  member = m.json().token;
  for (const [tenant, token] of [
    ['acme', owner],
    ['beta', betaOwner],
  ] as const) {
    for (const name of ['a', 'b', 'c', 'd']) {
      const r = await h.call('POST', `/api/v1/tenants/${tenant}/databases`, { name, engine: 'postgres', upstream: { host: `${name}.${tenant}.svc.cluster.local`, port: 5432 } }, token);
      expect(r.statusCode).toBe(201);
    }
  }
});
afterAll(async () => h.close());

describe('external access batch', () => {
  it('changes several routes in one transaction with consecutive versions and one audit event each', async () => {
    const before = await counts();
    const r = await h.call('POST', batch, { items: [{ database: 'a', enabled: true }, { database: 'b', enabled: true, sourceCidrs: ['203.0.113.0/24'] }, { database: 'c', enabled: true, dedicatedPort: true }] }, owner);
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.changed).toBe(3);
    expect(body.items.map((i: { database: string }) => i.database)).toEqual(['a', 'b', 'c']);
    expect(body.items.map((i: { version: number }) => i.version)).toEqual([before.version + 1, before.version + 2, before.version + 3]);
    expect(body.version).toBe(before.version + 3);
    expect(body.items[0]).toMatchObject({ changed: true, enabled: true, hostname: 'a.acme.db.example.com', listener: 'postgres', dedicatedPort: null });
    expect(body.items[2].dedicatedPort).toBe(21000);
    expect(body.propagation).toMatchObject({ version: before.version + 3, state: 'no-proxies' });

    const after = await counts();
    expect(after).toMatchObject({ changes: before.changes + 3, audit: before.audit + 3, routes: before.routes + 3, version: before.version + 3 });
    const log = await h.app.prisma.configChange.findMany({ where: { version: { gt: before.version } }, orderBy: { version: 'asc' } });
    const routes = await h.app.prisma.route.findMany({ where: { hostname: { in: ['a.acme.db.example.com', 'b.acme.db.example.com', 'c.acme.db.example.com'] } } });
    const byHost = new Map(routes.map((x) => [x.hostname, x]));
    expect(log.map((c) => c.hostname)).toEqual(['a.acme.db.example.com', 'b.acme.db.example.com', 'c.acme.db.example.com']);
    expect(log.map((c) => byHost.get(c.hostname)!.id)).toEqual(log.map((c) => c.routeId));
    expect(routes.map((x) => Number(x.version)).sort()).toEqual([before.version + 1, before.version + 2, before.version + 3]);
    const audit = await h.app.prisma.auditEvent.findMany({ where: { targetType: 'route' }, orderBy: { id: 'desc' }, take: 3 });
    expect(audit.map((e) => e.action)).toEqual(['route.enable', 'route.enable', 'route.enable']);

    // The single call sees what the batch wrote.
    const one = await h.call('GET', '/api/v1/tenants/acme/databases/b/external-access', undefined, owner);
    expect(one.json()).toMatchObject({ enabled: true, sourceCidrs: ['203.0.113.0/24'], version: before.version + 2 });
  });

  it('skips items that change nothing: no version, no audit event', async () => {
    const before = await counts();
    const r = await h.call('POST', batch, { items: [{ database: 'a', enabled: true }, { database: 'b', enabled: false }] }, owner);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ changed: 1, version: before.version + 1, items: [{ database: 'a', changed: false }, { database: 'b', changed: true, enabled: false, version: before.version + 1 }] });
    expect(await counts()).toMatchObject({ changes: before.changes + 1, audit: before.audit + 1, version: before.version + 1 });
  });

  it('rolls everything back when one item is invalid, naming every failing item’s fields', async () => {
    const before = await counts();
    const r = await h.call(
      'POST',
      batch,
      { items: [{ database: 'd', enabled: true }, { database: 'a', enabled: false, listener: 'nope' }, { database: 'nope', enabled: true }] },
      owner,
    );
    expect(r.statusCode).toBe(400);
    const e = r.json();
    expect(e.code).toBe('SY_VALIDATION');
    expect(e.message).toMatch(/^Item 1: .*\(and 1 more item\); nothing was changed$/);
    expect(e.details).toEqual([
      expect.objectContaining({ field: 'body.items.1.listener', message: expect.stringMatching(/^unknown listener/) }),
      expect.objectContaining({ field: 'body.items.2.database', message: 'is not a database of this tenant' }),
    ]);
    expect(await counts()).toEqual(before);
    const d = await h.call('GET', '/api/v1/tenants/acme/databases/d/external-access', undefined, owner);
    expect(d.json()).toMatchObject({ enabled: false, version: null });
  });

  it('rolls back writes already made in the transaction when a later item conflicts', async () => {
    const before = await counts();
    // d's route would be created first; then the third dedicated port does not exist (pool of 2, c holds one).
    const r = await h.call('POST', batch, { items: [{ database: 'd', enabled: true, dedicatedPort: true }, { database: 'a', enabled: true, dedicatedPort: true }] }, owner);
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'SY_DEDICATED_PORTS_EXHAUSTED', details: [{ field: 'body.items.1.dedicatedPort' }] });
    expect(await counts()).toEqual(before);
  });

  it('refuses duplicates within the batch, and a hostname another route already uses', async () => {
    let r = await h.call('POST', batch, { items: [{ database: 'd', enabled: true }, { database: 'd', enabled: false }] }, owner);
    expect(r.statusCode).toBe(400);
    expect(r.json().details).toEqual([expect.objectContaining({ field: 'body.items.1.database', message: 'already in item 0' })]);
    const t = await h.call('PATCH', '/api/v1/tenants/acme', { allowedCustomDomains: ['hub.example.com'] });
    expect(t.statusCode).toBe(200);
    const before = await counts();
    r = await h.call('POST', batch, { items: [{ database: 'd', enabled: true, hostname: 'x.hub.example.com' }, { database: 'b', enabled: true, hostname: 'x.hub.example.com' }] }, owner);
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'SY_HOSTNAME_TAKEN', details: [{ field: 'body.items.1.hostname' }] });
    r = await h.call('PUT', '/api/v1/tenants/acme/databases/b/external-access', { enabled: false, hostname: 'y.hub.example.com' }, owner);
    expect(r.statusCode).toBe(200);
    const mid = await counts();
    r = await h.call('POST', batch, { items: [{ database: 'a', enabled: false }, { database: 'd', enabled: true, hostname: 'y.hub.example.com' }] }, owner);
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'SY_HOSTNAME_TAKEN', details: [{ field: 'body.items.1.hostname', message: 'is already taken' }] });
    expect(await counts()).toEqual(mid);
    expect(mid.version).toBe(before.version + 1);
  });

  it('keeps tenants apart and needs a tenant admin', async () => {
    const before = await counts();
    // acme's owner cannot reach beta's databases, neither through beta's path nor by name in acme's.
    let r = await h.call('POST', '/api/v1/tenants/beta/external-access/batch', { items: [{ database: 'a', enabled: true }] }, owner);
    expect([403, 404]).toContain(r.statusCode);
    r = await h.call('POST', batch, { items: [{ database: 'a', enabled: true }] }, betaOwner);
    expect([403, 404]).toContain(r.statusCode);
    r = await h.call('POST', batch, { items: [{ database: 'a', enabled: false }] }, member);
    expect(r.statusCode).toBe(403);
    expect(await counts()).toEqual(before);
    // Beta's own batch touches only beta's route named `a`.
    r = await h.call('POST', '/api/v1/tenants/beta/external-access/batch', { items: [{ database: 'a', enabled: true }] }, betaOwner);
    expect(r.statusCode).toBe(200);
    expect(r.json().items[0]).toMatchObject({ hostname: 'a.beta.db.example.com', changed: true });
    const acmeA = await h.call('GET', '/api/v1/tenants/acme/databases/a/external-access', undefined, owner);
    expect(acmeA.json().version).toBeLessThan(r.json().version);
  });

  it('bounds the batch size and rejects unknown fields', async () => {
    const items = Array.from({ length: 501 }, (_, i) => ({ database: `x${i}`, enabled: true }));
    let r = await h.call('POST', batch, { items }, owner);
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('SY_VALIDATION');
    r = await h.call('POST', batch, { items: [] }, owner);
    expect(r.statusCode).toBe(400);
    r = await h.call('POST', batch, { items: [{ database: 'a', enabled: true, bogus: 1 }] }, owner);
    expect(r.statusCode).toBe(400);
  });
});
