/**
 * Routes declared in Kubernetes, as the API sees them: the owner is returned on databases and
 * external access, every change through the API is refused with 409 SY_KUBERNETES_OWNED
 * naming the object, and discovered services are listed and fill a database's upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../lib/access.js';
import type { KubernetesOwner } from '../../lib/ownership.js';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';

let h: Harness;
let token: string;
const base = '/api/v1/tenants/acme/databases';
const object: KubernetesOwner = { kind: 'ExternalAccess', namespace: 'acme-prod', name: 'orders', uid: '0b7e7c1a-1111-4d2c-9a55-000000000001' };
const controller = (owner?: KubernetesOwner): Actor => ({
  principal: { actorType: 'controller', actorId: 'test-controller', isPlatformAdmin: true, tenantRoles: new Map() },
  requestId: 'controller-test',
  clientAddress: '127.0.0.1',
  owner,
});

beforeAll(async () => {
  h = await createHarness();
  ({ token } = await seedTenant(h));
  const s = h.app.services;
  await s.databases.create(controller(object), 'acme', { name: 'acme-prod-orders', engine: 'postgres', upstream: { host: 'orders-rw.acme.svc.cluster.local', port: 5432 } });
  await s.externalAccess.put(controller(object), 'acme', 'acme-prod-orders', { enabled: true }, { wait: false });
});
afterAll(async () => h.close());

describe('Kubernetes-owned routes', () => {
  it('returns the owner on the database and its external access', async () => {
    const r = await h.call('GET', `${base}/acme-prod-orders`, undefined, token);
    expect(r.json().owner).toEqual({ type: 'kubernetes', ...object });
    expect(r.json().externalAccess.owner).toEqual({ type: 'kubernetes', ...object });
    const row = await h.app.prisma.route.findFirstOrThrow({ where: { database: { name: 'acme-prod-orders' } } });
    expect(row).toMatchObject({ owner: 'kubernetes', ownerKind: 'ExternalAccess', ownerNamespace: 'acme-prod', ownerName: 'orders', ownerUid: object.uid });
  });

  it('refuses every API change with 409 SY_KUBERNETES_OWNED naming the object', async () => {
    for (const [method, path, body] of [
      ['PUT', `${base}/acme-prod-orders/external-access`, { enabled: false }],
      ['PATCH', `${base}/acme-prod-orders`, { upstream: { host: 'x.acme.svc.cluster.local', port: 5432 } }],
      ['DELETE', `${base}/acme-prod-orders`, undefined],
    ] as const) {
      const r = await h.call(method, path, body, token);
      expect(r.statusCode, `${method} ${path}`).toBe(409);
      expect(r.json()).toMatchObject({ code: 'SY_KUBERNETES_OWNED', details: [{ field: 'owner', kind: 'ExternalAccess', namespace: 'acme-prod', name: 'orders', uid: object.uid }] });
      expect(r.json().message).toContain('ExternalAccess acme-prod/orders');
    }
    const still = await h.call('GET', `${base}/acme-prod-orders/external-access`, undefined, token);
    expect(still.json().enabled).toBe(true);
  });

  it('refuses the controller acting for another object too', async () => {
    await expect(
      h.app.services.externalAccess.put(controller({ ...object, name: 'other', uid: '0b7e7c1a-1111-4d2c-9a55-000000000002' }), 'acme', 'acme-prod-orders', { enabled: false }, { wait: false }),
    ).rejects.toMatchObject({ code: 'SY_KUBERNETES_OWNED' });
  });

  it('marks API-created databases as api-owned', async () => {
    const c = await h.call('POST', base, { name: 'plain', engine: 'redis', upstream: { host: 'redis.acme.svc.cluster.local', port: 6379 } }, token);
    expect(c.json().owner).toEqual({ type: 'api' });
    expect(c.json().externalAccess.owner).toEqual({ type: 'api' });
  });
});

describe('discovered services', () => {
  it('lists what the controller stored and registers a database from one', async () => {
    const tenant = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'acme' } });
    await h.app.prisma.discoveredService.create({
      data: {
        tenantId: tenant.id,
        namespace: 'acme',
        name: 'orders-rw',
        engine: 'postgres',
        engineReason: 'cnpg.io/cluster=orders (-rw: primary)',
        role: 'primary',
        host: 'orders-rw.acme.svc.cluster.local',
        port: 5432,
        ports: [{ name: 'postgres', port: 5432, protocol: 'TCP' }],
        readyEndpoints: [{ host: '10.244.1.17', port: 5432 }],
      },
    });
    const l = await h.call('GET', '/api/v1/tenants/acme/discovered-services', undefined, token);
    expect(l.statusCode).toBe(200);
    expect(l.json().items).toEqual([expect.objectContaining({ namespace: 'acme', name: 'orders-rw', engine: 'postgres', role: 'primary', upstream: { host: 'orders-rw.acme.svc.cluster.local', port: 5432 } })]);

    const c = await h.call('POST', base, { name: 'from-k8s', engine: 'postgres', discoveredService: { namespace: 'acme', name: 'orders-rw' } }, token);
    expect(c.statusCode).toBe(201);
    expect(c.json().upstream).toEqual({ host: 'orders-rw.acme.svc.cluster.local', port: 5432 });
    expect(c.json().owner).toEqual({ type: 'api' });

    const missing = await h.call('POST', base, { name: 'nope', engine: 'postgres', discoveredService: { namespace: 'acme', name: 'ghost' } }, token);
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'SY_DISCOVERED_SERVICE_NOT_FOUND', details: [{ field: 'body.discoveredService' }] });
  });

  it('hides another tenant’s discovered services (404)', async () => {
    const other = await seedTenant(h, 'beta');
    const r = await h.call('GET', '/api/v1/tenants/acme/discovered-services', undefined, other.token);
    expect(r.statusCode).toBe(404);
  });
});
