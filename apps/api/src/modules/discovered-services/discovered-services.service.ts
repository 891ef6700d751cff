/**
 * Services the Kubernetes controller discovered in a tenant's namespaces (it writes them;
 * the API only reads). Registering a database from one: `discoveredService` in
 * POST …/databases (databases.service.ts).
 */
import type { Endpoint, Engine } from '@switchyard/core';
import type { PrismaClient } from '@switchyard/db';
import type { Actor } from '../../lib/access.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import type { DiscoveredServiceResponse } from './discovered-services.schemas.js';

export class DiscoveredServicesService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly tenants: Pick<TenantsService, 'resolve'>,
  ) {}

  async list(actor: Actor, tenantSlug: string): Promise<DiscoveredServiceResponse[]> {
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'member');
    const rows = await this.prisma.discoveredService.findMany({ where: { tenantId: tenant.id }, orderBy: [{ namespace: 'asc' }, { name: 'asc' }] });
    return rows.map((r) => ({
      namespace: r.namespace,
      name: r.name,
      engine: r.engine as Engine,
      engineReason: r.engineReason,
      role: r.role,
      upstream: { host: r.host, port: r.port },
      ports: r.ports as DiscoveredServiceResponse['ports'],
      readyEndpoints: r.readyEndpoints as unknown as Endpoint[],
      observedAt: r.observedAt.toISOString(),
    }));
  }
}
