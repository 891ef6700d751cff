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
      response: { 200: Type.Object({ currentVersion: Type.Integer(), items: Type.Array(ProxyResponse) }), ...errorResponses() },
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
