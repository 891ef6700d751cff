/**
 * Route changes that come from tenant- and database-level calls: each commits with its audit
 * event and one config version per affected route, consecutive, in one transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';

let h: Harness;
let owner: string;

beforeAll(async () => {
  h = await createHarness();
  ({ token: owner } = await seedTenant(h, 'acme'));
  for (const name of ['orders', 'billing']) {
    const db = await h.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: `${name}.acme.svc.cluster.local`, port: 5432 } }, owner);
    expect(db.statusCode, db.body).toBe(201);
    expect((await h.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access`, { enabled: true }, owner)).statusCode).toBe(200);
  }
});
afterAll(async () => h.close());

async function version(): Promise<number> {
  return Number((await h.app.prisma.configState.findUniqueOrThrow({ where: { id: 1 } })).version);
}

async function changesSince(v: number) {
  const rows = await h.app.prisma.configChange.findMany({ where: { version: { gt: v } }, orderBy: { version: 'asc' } });
  return rows.map((c) => ({ version: Number(c.version), hostname: c.hostname, op: c.op }));
}

describe('route changes from tenant and database calls', () => {
  it('a new tenant connection cap is a change of every route of the tenant, audited', async () => {
    const v = await version();
    expect((await h.call('PATCH', '/api/v1/tenants/acme', { maxConnections: 50 })).statusCode).toBe(200);
    const changes = await changesSince(v);
    expect(changes.map((c) => c.version)).toEqual([v + 1, v + 2]);
    expect(changes.map((c) => c.hostname).sort()).toEqual(['billing.acme.db.example.com', 'orders.acme.db.example.com']);
    expect(changes.every((c) => c.op === 'upsert')).toBe(true);
    const routes = await h.app.prisma.route.findMany({ where: { tenant: { slug: 'acme' } } });
    expect(routes.map((r) => Number(r.version)).sort()).toEqual([v + 1, v + 2]);
    expect(await h.app.prisma.auditEvent.count({ where: { action: 'tenant.update' } })).toBe(1);
    // Other fields do not touch the routes.
    expect((await h.call('PATCH', '/api/v1/tenants/acme', { name: 'Acme Corporation' })).statusCode).toBe(200);
    expect(await version()).toBe(v + 2);
  });

  it('deleting a database removes its route through the change log, audited', async () => {
    const v = await version();
    expect((await h.call('DELETE', '/api/v1/tenants/acme/databases/billing', undefined, owner)).statusCode).toBe(204);
    expect(await changesSince(v)).toEqual([{ version: v + 1, hostname: 'billing.acme.db.example.com', op: 'delete' }]);
    expect(await h.app.prisma.route.count({ where: { hostname: 'billing.acme.db.example.com' } })).toBe(0);
    expect(await h.app.prisma.auditEvent.count({ where: { action: 'database.delete' } })).toBe(1);
  });

  it('deleting a tenant removes every route through the change log, audited', async () => {
    expect((await h.call('POST', '/api/v1/tenants/acme/databases', { name: 'cache', engine: 'redis', upstream: { host: 'cache.acme.svc.cluster.local', port: 6379 } }, owner)).statusCode).toBe(201);
    expect((await h.call('PUT', '/api/v1/tenants/acme/databases/cache/external-access', { enabled: true }, owner)).statusCode).toBe(200);
    const v = await version();
    expect((await h.call('DELETE', '/api/v1/tenants/acme')).statusCode).toBe(204);
    const changes = await changesSince(v);
    expect(changes.map((c) => c.version)).toEqual([v + 1, v + 2]);
    expect(changes.map((c) => c.hostname).sort()).toEqual(['cache.acme.db.example.com', 'orders.acme.db.example.com']);
    expect(changes.every((c) => c.op === 'delete')).toBe(true);
    expect(await h.app.prisma.route.count()).toBe(0);
    expect(await h.app.prisma.auditEvent.count({ where: { action: 'tenant.delete' } })).toBe(1);
  });
});
