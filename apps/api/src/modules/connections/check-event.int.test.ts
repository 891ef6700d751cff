/**
 * Check connection explains a failure with the event the proxy recorded for the check's own
 * connection, found by source port (connections.service.ts findCheckEvent). Another tenant's
 * event that happens to share the port must never be taken: its reason and `upstream` (that
 * tenant's database host:port) would be shown to this tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';
import { findCheckEvent } from './connections.service.js';

let h: Harness;
let acmeId: string;
let betaId: string;

beforeAll(async () => {
  h = await createHarness();
  await seedTenant(h, 'acme');
  await seedTenant(h, 'beta');
  acmeId = (await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'acme' } })).id;
  betaId = (await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'beta' } })).id;
});
afterAll(async () => h.close());

function event(tenantId: string | null, clientPort: number, sni: string | null, reason: string, upstream: string | null) {
  const at = new Date();
  return h.app.prisma.connectionEvent.create({
    data: { proxyId: 'p1', listener: 'postgres', tenantId, clientAddress: '192.0.2.10', clientPort, sni, startedAt: at, endedAt: at, outcome: 'error', reason, upstream },
  });
}

describe('the check’s own connection event', () => {
  it('is never another tenant’s, even with the same source port and no SNI', async () => {
    const since = new Date(Date.now() - 500);
    const find = (localPort: number) => findCheckEvent(h.app.prisma, { tenantId: acmeId, hostname: 'orders.acme.db.example.com', localPort, since, waitMs: 0 });
    // A dedicated-port (no SNI) connection of beta's, from the same port number elsewhere.
    await event(betaId, 40001, null, 'upstream_unreachable', 'pg-secret.beta.svc.cluster.local:5432');
    expect(await find(40001)).toBeNull();
    // Refused before routing (no tenant): that is what explains e.g. a disabled route.
    await event(null, 40002, 'orders.acme.db.example.com', 'unknown_host', null);
    expect(await find(40002)).toEqual({ reason: 'unknown_host', upstream: null });
    // The tenant's own.
    await event(acmeId, 40001, null, 'upstream_refused', 'pg.acme.svc.cluster.local:5432');
    expect(await find(40001)).toEqual({ reason: 'upstream_refused', upstream: 'pg.acme.svc.cluster.local:5432' });
  });
});
