import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses, TenantParams } from '../../lib/schemas.js';
import { DiscoveredServiceList } from './discovered-services.schemas.js';

export async function discoveredServicesRoutes(app: App): Promise<void> {
  const svc = app.services.discoveredServices;
  app.get('/api/v1/tenants/:tenant/discovered-services', {
    schema: {
      tags: ['kubernetes'],
      summary: 'Services the Kubernetes controller found in the tenant’s namespaces',
      description:
        'Services and EndpointSlices of the namespaces labelled `switchyard.io/tenant=<tenant>`, with the engine inferred. ' +
        'Register one as a database with `discoveredService: {namespace, name}` in POST …/databases. Empty when no controller runs.',
      params: TenantParams,
      response: { 200: DiscoveredServiceList, ...errorResponses(404) },
    },
  }, async (req) => ({ items: await svc.list(actorOf(req), req.params.tenant) }));
}
