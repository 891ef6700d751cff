import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses } from '../../lib/schemas.js';
import { ProxiesResponse } from '../connections/connections.schemas.js';

export async function proxiesRoutes(app: App): Promise<void> {
  app.get('/api/v1/proxies', {
    schema: {
      tags: ['proxies'],
      summary: 'Proxies, the config version each has applied, and whether they still heartbeat (platform admin)',
      description:
        'Every proxy that heartbeated within the last day. One whose last heartbeat is older than `livenessMs` is listed with `stale: true` (stopped, crashed or cut off from the control database), never left out. A proxy that stops cleanly removes itself. ' +
        'Platform admins only (host names, every tenant’s routes and connections); tenants follow their own changes through the `propagation` of each change.',
      response: { 200: ProxiesResponse, ...errorResponses(403) },
    },
  }, async (req) => app.services.connections.proxies(actorOf(req)));
}
