import { currentConfigVersion } from '@switchyard/db';
import { Type } from 'typebox';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses, Timestamp } from '../../lib/schemas.js';

const ProxyResponse = Type.Object({
  id: Type.String(),
  hostname: Type.String(),
  appliedVersion: Type.Integer(),
  upToDate: Type.Boolean(),
  heartbeatAt: Timestamp,
  startedAt: Timestamp,
  appliedAt: Type.Union([Timestamp, Type.Null()]),
  listeners: Type.Array(Type.Object({ name: Type.String(), protocol: Type.String(), port: Type.Integer() })),
  stats: Type.Record(Type.String(), Type.Number()),
});

export async function proxiesRoutes(app: App): Promise<void> {
  app.get('/api/v1/proxies', {
    schema: {
      tags: ['proxies'],
      summary: 'Live proxies and the config version each has applied',
      response: {
        200: Type.Object(
          { currentVersion: Type.Integer({ description: 'The latest committed config version' }), items: Type.Array(ProxyResponse) },
          {
            examples: [
              {
                currentVersion: 42,
                items: [
                  {
                    id: 'switchyard-proxy-7d9f-abcde',
                    hostname: 'switchyard-proxy-7d9f-abcde',
                    appliedVersion: 42,
                    upToDate: true,
                    heartbeatAt: '2026-11-22T10:00:05.000Z',
                    startedAt: '2026-11-22T08:00:00.000Z',
                    appliedAt: '2026-11-22T09:59:31.000Z',
                    listeners: [
                      { name: 'postgres', protocol: 'postgres', port: 5432 },
                      { name: 'tls', protocol: 'tls', port: 443 },
                    ],
                    stats: { openConnections: 17, routedConnections: 17, routes: 230, auditPending: 0, auditDropped: 0, auditWritten: 18422 },
                  },
                ],
              },
            ],
          },
        ),
        ...errorResponses(),
      },
    },
  }, async (req) => {
    actorOf(req);
    const [currentVersion, rows] = await Promise.all([currentConfigVersion(app.prisma), app.services.propagation.liveProxies()]);
    return {
      currentVersion,
      items: rows.map((p) => ({
        id: p.id,
        hostname: p.hostname,
        appliedVersion: p.appliedVersion,
        upToDate: p.appliedVersion >= currentVersion,
        heartbeatAt: p.heartbeatAt.toISOString(),
        startedAt: p.startedAt.toISOString(),
        appliedAt: p.appliedAt?.toISOString() ?? null,
        listeners: p.listeners as Array<{ name: string; protocol: string; port: number }>,
        stats: p.stats as Record<string, number>,
      })),
    };
  });
}
