/**
 * Per-tenant quotas (maxDatabases, maxExternalAccess, maxDedicatedPorts): refused at the
 * boundary with SY_TENANT_LIMIT naming the request field, allowed below it, null unlimited,
 * a limit lowered below the usage keeps what exists, two requests racing for the last unit
 * leave exactly one winner, a limit set during growth binds it exactly, growth without a
 * limit does not queue behind other growth, the list counts usage as GET does, and only
 * platform admins set them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';
import { waitingOnLock } from '../../testing/locks.js';
import { Prisma } from '@switchyard/db';
import { holdLimitsStatement, requireRoom } from './tenant-limits.js';

let h: Harness;
const tokens = new Map<string, string>();

beforeAll(async () => {
  h = await createHarness({ SWITCHYARD_DEDICATED_PORTS: '21000-21009' });
});
afterAll(async () => h.close());

/** A fresh tenant per test (no limits) with `n` databases named db0…; returns its owner token. */
async function tenantWith(slug: string, n: number): Promise<string> {
  const { token } = await seedTenant(h, slug);
  tokens.set(slug, token);
  for (let i = 0; i < n; i++) await createDb(slug, `db${i}`, 201);
  return token;
}

async function createDb(slug: string, name: string, status: number) {
  const r = await h.call('POST', `/api/v1/tenants/${slug}/databases`, { name, engine: 'postgres', upstream: { host: `${name}.${slug}.svc.cluster.local`, port: 5432 } }, tokens.get(slug));
  expect(r.statusCode, r.body).toBe(status);
  return r;
}

const access = (slug: string, db: string, body: Record<string, unknown>) => h.call('PUT', `/api/v1/tenants/${slug}/databases/${db}/external-access`, body, tokens.get(slug));
const setLimits = (slug: string, body: Record<string, unknown>) => h.call('PATCH', `/api/v1/tenants/${slug}`, body);

describe('tenant limits', () => {
  it('are null (no limit) by default, shown with the usage to the tenant’s own members', async () => {
    const owner = await tenantWith('open', 3);
    expect((await access('open', 'db0', { enabled: true, dedicatedPort: true })).statusCode).toBe(200);
    const member = (await h.call('POST', '/api/v1/tenants/open/tokens', { name: 'viewer', role: 'member' }, owner)).json().token;
    const t = await h.call('GET', '/api/v1/tenants/open', undefined, member);
    expect(t.statusCode).toBe(200);
    expect(t.json()).toMatchObject({ maxDatabases: null, maxExternalAccess: null, maxDedicatedPorts: null, usage: { databases: 3, externalAccess: 1, dedicatedPorts: 1 } });
    const list = await h.call('GET', '/api/v1/tenants');
    expect(list.json().items.find((x: { slug: string }) => x.slug === 'open').usage).toEqual({ databases: 3, externalAccess: 1, dedicatedPorts: 1 });
  });

  it('are set by platform admins only: a tenant owner cannot change its own (403)', async () => {
    const owner = await tenantWith('self', 0);
    const r = await h.call('PATCH', '/api/v1/tenants/self', { maxDatabases: 1000 }, owner);
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe('SY_FORBIDDEN');
    expect((await h.call('GET', '/api/v1/tenants/self', undefined, owner)).json().maxDatabases).toBeNull();
  });

  it('are integers ≥ 0 or null; anything else is 400 naming the field', async () => {
    await tenantWith('valid', 0);
    for (const [field, value] of [['maxDatabases', -1], ['maxExternalAccess', 1.5], ['maxDedicatedPorts', '2']] as const) {
      const r = await setLimits('valid', { [field]: value });
      expect(r.statusCode, r.body).toBe(400);
      expect(r.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: `body.${field}` }] });
    }
    const created = await h.call('POST', '/api/v1/tenants', { slug: 'valid2', name: 'Valid 2', maxDatabases: -3 });
    expect(created.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: 'body.maxDatabases' }] });
    const ok = await h.call('POST', '/api/v1/tenants', { slug: 'valid3', name: 'Valid 3', maxDatabases: 0, maxExternalAccess: 2, maxDedicatedPorts: null });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ maxDatabases: 0, maxExternalAccess: 2, maxDedicatedPorts: null, usage: { databases: 0, externalAccess: 0, dedicatedPorts: 0 } });
  });

  it('maxDatabases: allowed below, refused at the limit on body.name (discovered services too)', async () => {
    await tenantWith('dbs', 1);
    expect((await setLimits('dbs', { maxDatabases: 2 })).json().usage.databases).toBe(1);
    await createDb('dbs', 'db1', 201);
    const r = await createDb('dbs', 'db2', 409);
    expect(r.json()).toMatchObject({
      code: 'SY_TENANT_LIMIT',
      details: [{ field: 'body.name', limit: 'maxDatabases', max: 2, usage: 2 }],
    });
    expect(r.json().message).toContain('at most 2 databases');
    const tenant = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'dbs' } });
    await h.app.prisma.discoveredService.create({
      data: { tenantId: tenant.id, namespace: 'dbs', name: 'pg-rw', engine: 'postgres', engineReason: 'test', role: 'primary', host: 'pg-rw.dbs.svc.cluster.local', port: 5432, ports: [], readyEndpoints: [] },
    });
    const d = await h.call('POST', '/api/v1/tenants/dbs/databases', { name: 'k8s', engine: 'postgres', discoveredService: { namespace: 'dbs', name: 'pg-rw' } }, tokens.get('dbs'));
    expect(d.json()).toMatchObject({ code: 'SY_TENANT_LIMIT', details: [{ field: 'body.name' }] });
    // Deleting one makes room again.
    expect((await h.call('DELETE', '/api/v1/tenants/dbs/databases/db0', undefined, tokens.get('dbs'))).statusCode).toBe(204);
    await createDb('dbs', 'db2', 201);
  });

  it('maxExternalAccess: counts enabled routes; refusal on body.enabled, in the batch on its item', async () => {
    await tenantWith('ext', 3);
    await setLimits('ext', { maxExternalAccess: 1 });
    expect((await access('ext', 'db0', { enabled: true })).statusCode).toBe(200);
    const r = await access('ext', 'db1', { enabled: true });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'SY_TENANT_LIMIT', details: [{ field: 'body.enabled', limit: 'maxExternalAccess', max: 1, usage: 1 }] });
    // A disabled route takes nothing; changing an enabled one is not growth.
    expect((await access('ext', 'db1', { enabled: false })).statusCode).toBe(200);
    expect((await access('ext', 'db0', { enabled: true, sourceCidrs: ['203.0.113.0/24'] })).statusCode).toBe(200);
    const b = await h.call('POST', '/api/v1/tenants/ext/external-access/batch', { items: [{ database: 'db2', enabled: false }, { database: 'db1', enabled: true }] }, tokens.get('ext'));
    expect(b.statusCode).toBe(409);
    expect(b.json()).toMatchObject({ code: 'SY_TENANT_LIMIT', details: [{ field: 'body.items.1.enabled', limit: 'maxExternalAccess' }] });
    expect(await h.app.prisma.route.count({ where: { tenant: { slug: 'ext' } } })).toBe(2); // nothing of the batch was written
    // Two in one batch against a limit of two: the second item counts the first.
    await setLimits('ext', { maxExternalAccess: 2 });
    const two = await h.call('POST', '/api/v1/tenants/ext/external-access/batch', { items: [{ database: 'db1', enabled: true }, { database: 'db2', enabled: true }] }, tokens.get('ext'));
    expect(two.json()).toMatchObject({ code: 'SY_TENANT_LIMIT', details: [{ field: 'body.items.1.enabled', max: 2, usage: 2 }] });
    // Disabling one frees its place.
    expect((await access('ext', 'db0', { enabled: false })).statusCode).toBe(200);
    expect((await h.call('POST', '/api/v1/tenants/ext/external-access/batch', { items: [{ database: 'db1', enabled: true }, { database: 'db2', enabled: true }] }, tokens.get('ext'))).statusCode).toBe(200);
  });

  it('maxDedicatedPorts: refusal on body.dedicatedPort; a route keeps the port it holds', async () => {
    await tenantWith('ports', 2);
    await setLimits('ports', { maxDedicatedPorts: 1 });
    expect((await access('ports', 'db0', { enabled: true, dedicatedPort: true })).json().dedicatedPort).toBeGreaterThanOrEqual(21000);
    const r = await access('ports', 'db1', { enabled: true, dedicatedPort: true });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'SY_TENANT_LIMIT', details: [{ field: 'body.dedicatedPort', limit: 'maxDedicatedPorts', max: 1, usage: 1 }] });
    expect((await access('ports', 'db0', { enabled: true, dedicatedPort: true })).statusCode).toBe(200);
    // A limit of 0 refuses the first port too.
    await setLimits('ports', { maxDedicatedPorts: 0 });
    expect((await access('ports', 'db1', { enabled: true, dedicatedPort: true })).json().details[0]).toMatchObject({ max: 0, usage: 1 });
  });

  it('lowered below the usage: nothing is taken away, growth is refused, the change is audited', async () => {
    await tenantWith('lower', 3);
    for (const db of ['db0', 'db1']) expect((await access('lower', db, { enabled: true, dedicatedPort: true })).statusCode).toBe(200);
    const r = await setLimits('lower', { maxDatabases: 1, maxExternalAccess: 1, maxDedicatedPorts: 0 });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ maxDatabases: 1, maxExternalAccess: 1, maxDedicatedPorts: 0, usage: { databases: 3, externalAccess: 2, dedicatedPorts: 2 } });
    const routes = await h.app.prisma.route.findMany({ where: { tenant: { slug: 'lower' } } });
    expect(routes.every((x) => x.enabled && x.dedicatedPort !== null)).toBe(true);
    // Existing routes still change (not growth) and still disable.
    expect((await access('lower', 'db0', { enabled: true, sourceCidrs: ['198.51.100.0/24'] })).statusCode).toBe(200);
    expect((await access('lower', 'db2', { enabled: true })).json().code).toBe('SY_TENANT_LIMIT');
    await createDb('lower', 'db3', 409);
    const tenant = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'lower' } });
    const audit = await h.app.prisma.auditEvent.findFirstOrThrow({ where: { action: 'tenant.update', tenantId: tenant.id }, orderBy: { id: 'desc' } });
    expect(audit.changes).toMatchObject({ maxDatabases: { from: null, to: 1 }, maxExternalAccess: { from: null, to: 1 }, maxDedicatedPorts: { from: null, to: 0 } });
    expect(audit.changes).not.toHaveProperty('usage');
  });

  it('two requests racing for the last unit: exactly one wins, for each limit', async () => {
    await tenantWith('race', 4);
    await setLimits('race', { maxDatabases: 5, maxExternalAccess: 1, maxDedicatedPorts: 1 });
    const statuses = async (calls: Array<Promise<{ statusCode: number; json: () => any }>>) => {
      const out = await Promise.all(calls);
      return { codes: out.map((r) => r.statusCode).sort(), refusals: out.filter((r) => r.statusCode === 409).map((r) => r.json().code) };
    };
    const dbs = await statuses([
      h.call('POST', '/api/v1/tenants/race/databases', { name: 'x1', engine: 'postgres', upstream: { host: 'x1.race.svc.cluster.local', port: 5432 } }, tokens.get('race')),
      h.call('POST', '/api/v1/tenants/race/databases', { name: 'x2', engine: 'postgres', upstream: { host: 'x2.race.svc.cluster.local', port: 5432 } }, tokens.get('race')),
    ]);
    expect(dbs).toEqual({ codes: [201, 409], refusals: ['SY_TENANT_LIMIT'] });
    const ext = await statuses([access('race', 'db0', { enabled: true }), access('race', 'db1', { enabled: true })]);
    expect(ext).toEqual({ codes: [200, 409], refusals: ['SY_TENANT_LIMIT'] });
    // Ports on routes that already exist disabled, so only the port is contended.
    for (const db of ['db2', 'db3']) expect((await access('race', db, { enabled: false })).statusCode).toBe(200);
    const ports = await statuses([access('race', 'db2', { enabled: false, dedicatedPort: true }), access('race', 'db3', { enabled: false, dedicatedPort: true })]);
    expect(ports).toEqual({ codes: [200, 409], refusals: ['SY_TENANT_LIMIT'] });
    const t = (await h.call('GET', '/api/v1/tenants/race')).json();
    expect(t.usage).toEqual({ databases: 5, externalAccess: 1, dedicatedPorts: 1 });
  });
});

/** A growth transaction of `slug` held open after its limit check (and its insert), until released. */
async function growthInFlight(slug: string, name: string): Promise<{ release(): void; done: Promise<void> }> {
  const tenant = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug } });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let checked!: () => void;
  const ready = new Promise<void>((r) => (checked = r));
  const done = h.app.prisma.$transaction(async (tx) => {
    await requireRoom(tx, tenant.id, 'maxDatabases', 'body.name');
    await tx.database.create({ data: { tenantId: tenant.id, name, engine: 'postgres', upstreamHost: `${name}.${slug}.svc.cluster.local`, upstreamPort: 5432 } });
    checked();
    await gate;
  });
  await Promise.race([ready, done]);
  return { release, done };
}

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), ms))]);

describe('tenant limits and concurrent growth', () => {
  it('growth without a limit does not wait for other growth of the tenant', async () => {
    await tenantWith('free', 0);
    const first = await growthInFlight('free', 'held');
    try {
      const second = await within(createDb('free', 'db0', 201), 10_000);
      expect(second).not.toBe('still waiting');
    } finally {
      first.release();
      await first.done;
    }
    expect((await h.call('GET', '/api/v1/tenants/free')).json().usage.databases).toBe(2);
  });

  it('a limit set while growth is in flight waits for it, and then binds what follows', async () => {
    await tenantWith('setdur', 2);
    const growth = await growthInFlight('setdur', 'inflight');
    const patch = setLimits('setdur', { maxDatabases: 3 });
    let patched: Awaited<typeof patch> | 'still waiting';
    try {
      // The PATCH's UPDATE waits for the growth's share lock; it must not commit first.
      await waitingOnLock(h.app.prisma, 'UPDATE "public"."tenants"%');
      patched = await within(patch, 200);
      expect(patched).toBe('still waiting');
    } finally {
      growth.release();
      await growth.done;
    }
    patched = await patch;
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ maxDatabases: 3, usage: { databases: 3 } });
    expect((await createDb('setdur', 'db3', 409)).json().details[0]).toMatchObject({ max: 3, usage: 3 });
  });

  it('growth that starts while a limit is being set waits for it and is checked against it', async () => {
    await tenantWith('growdur', 2);
    const tenant = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'growdur' } });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let updated!: () => void;
    const ready = new Promise<void>((r) => (updated = r));
    // What a platform admin's PATCH does, held open before its commit.
    const setting = h.app.prisma.$transaction(async (tx) => {
      await tx.tenant.update({ where: { id: tenant.id }, data: { maxDatabases: 2 } });
      updated();
      await gate;
    });
    await Promise.race([ready, setting]);
    const create = createDb('growdur', 'db2', 409);
    try {
      await waitingOnLock(h.app.prisma, '%FROM tenants WHERE id = $%::uuid FOR SHARE%');
    } finally {
      release();
      await setting;
    }
    expect((await create).json()).toMatchObject({ code: 'SY_TENANT_LIMIT', details: [{ max: 2, usage: 2 }] });
    expect((await h.call('GET', '/api/v1/tenants/growdur')).json().usage.databases).toBe(2);
  });

  it('a check locks the tenant row before it takes the advisory lock (the order that cannot deadlock)', async () => {
    const tenant = await h.app.prisma.tenant.findFirstOrThrow();
    const plan = (await h.app.prisma.$queryRaw<Array<{ 'QUERY PLAN': string }>>(Prisma.sql`EXPLAIN (VERBOSE, COSTS OFF) ${holdLimitsStatement(tenant.id, 'maxDatabases')}`)).map((r) => r['QUERY PLAN']);
    const lockRows = plan.findIndex((l) => l.includes('LockRows'));
    expect(lockRows, plan.join('\n')).toBeGreaterThan(0);
    // The advisory lock is evaluated only by a node above LockRows, never below it.
    expect(plan.slice(lockRows).some((l) => l.includes('pg_advisory_xact_lock')), plan.join('\n')).toBe(false);
    expect(plan.slice(0, lockRows).some((l) => l.includes('pg_advisory_xact_lock')), plan.join('\n')).toBe(true);
  });

  it('dedicated ports without a limit: one tenant’s concurrent requests each get their own port', async () => {
    await tenantWith('portsfree', 3);
    const out = await Promise.all(['db0', 'db1', 'db2'].map((db) => access('portsfree', db, { enabled: true, dedicatedPort: true })));
    expect(out.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    expect(new Set(out.map((r) => r.json().dedicatedPort)).size).toBe(3);
  });
});

describe('the tenant list', () => {
  it('shows every tenant as GET shows it, in slug order, to a platform admin; a member sees its own only', async () => {
    const list = (await h.call('GET', '/api/v1/tenants')).json().items as Array<{ slug: string; usage: object }>;
    expect(list.length).toBeGreaterThan(5); // the tenants of the tests above: with and without databases, routes, ports
    expect(list.map((t) => t.slug)).toEqual(list.map((t) => t.slug).sort());
    for (const t of list) expect(t).toEqual((await h.call('GET', `/api/v1/tenants/${t.slug}`)).json());
    expect(list.some((t) => JSON.stringify(t.usage) === JSON.stringify({ databases: 0, externalAccess: 0, dedicatedPorts: 0 }))).toBe(true);
    const member = (await h.call('POST', '/api/v1/tenants/ports/tokens', { name: 'viewer', role: 'member' })).json().token;
    const own = (await h.call('GET', '/api/v1/tenants', undefined, member)).json().items;
    expect(own).toEqual([list.find((t) => t.slug === 'ports')]);
  });
});

describe('SWITCHYARD_TENANT_DEFAULT_LIMITS', () => {
  let d: Harness;
  beforeAll(async () => {
    d = await createHarness({ SWITCHYARD_TENANT_DEFAULT_LIMITS: 'databases=1,dedicatedPorts=0' });
  });
  afterAll(async () => d.close());

  it('gives a new tenant the defaults unless its create body sets them (null: no limit), and they are enforced', async () => {
    const t = await d.call('POST', '/api/v1/tenants', { slug: 'fresh', name: 'Fresh', upstreamPolicy: { hostSuffixes: ['fresh.svc.cluster.local'], cidrs: [] } });
    expect(t.json()).toMatchObject({ maxDatabases: 1, maxExternalAccess: null, maxDedicatedPorts: 0 });
    const own = await d.call('POST', '/api/v1/tenants', { slug: 'own', name: 'Own', maxDatabases: null, maxDedicatedPorts: 3 });
    expect(own.json()).toMatchObject({ maxDatabases: null, maxExternalAccess: null, maxDedicatedPorts: 3 });
    const body = (name: string) => ({ name, engine: 'postgres', upstream: { host: `${name}.fresh.svc.cluster.local`, port: 5432 } });
    expect((await d.call('POST', '/api/v1/tenants/fresh/databases', body('a'))).statusCode).toBe(201);
    expect((await d.call('POST', '/api/v1/tenants/fresh/databases', body('b'))).json()).toMatchObject({ code: 'SY_TENANT_LIMIT', details: [{ field: 'body.name', max: 1 }] });
  });
});

