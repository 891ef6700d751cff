/**
 * Writes routes straight into a control database the way the API does (route row +
 * recordRouteChange in one transaction), for proxy tests that do not need the API.
 */
import { createPrisma, Prisma, recordRouteChange, type PrismaClient } from '@switchyard/db';
import type { Engine } from '@switchyard/core';

export interface RouteSpec {
  tenant?: string;
  database: string;
  engine: Engine;
  upstream: { host: string; port: number };
  hostname: string;
  listener: string;
  enabled?: boolean;
  disableBehavior?: 'drain' | 'close';
  sourceCidrs?: string[];
  maxConnections?: number | null;
  /** Every endpoint (default: just `upstream`). */
  endpoints?: Array<{ host: string; port: number }>;
  balance?: 'round-robin' | 'least-connections' | 'source-hash';
  healthCheck?: { type: 'tcp' | 'tls'; intervalMs: number; timeoutMs: number; rise: number; fall: number } | null;
  proxyProtocol?: 'v1' | 'v2' | null;
  dedicatedPort?: number | null;
  destination?: string | null;
  sourceAddress?: string | null;
}

export class ControlDb {
  readonly prisma: PrismaClient;
  constructor(url: string) {
    this.prisma = createPrisma(url, { max: 4 });
  }

  async putRoute(spec: RouteSpec): Promise<{ routeId: string; version: number }> {
    return this.prisma.$transaction(async (tx) => {
      const slug = spec.tenant ?? 'acme';
      const tenant = await tx.tenant.upsert({ where: { slug }, update: {}, create: { slug, name: slug } });
      const upstream = {
        upstreamHost: spec.upstream.host,
        upstreamPort: spec.upstream.port,
        endpoints: spec.endpoints ?? [spec.upstream],
        balancePolicy: spec.balance ?? 'round-robin',
        healthCheck: spec.healthCheck ?? Prisma.DbNull,
      };
      const db = await tx.database.upsert({
        where: { tenantId_name: { tenantId: tenant.id, name: spec.database } },
        update: upstream,
        create: { tenantId: tenant.id, name: spec.database, engine: spec.engine, ...upstream },
      });
      const data = {
        hostname: spec.hostname,
        listener: spec.listener,
        tlsMode: 'passthrough',
        enabled: spec.enabled ?? true,
        disableBehavior: spec.disableBehavior ?? 'drain',
        sourceCidrs: spec.sourceCidrs ?? [],
        maxConnections: spec.maxConnections ?? null,
        proxyProtocol: spec.proxyProtocol ?? null,
        dedicatedPort: spec.dedicatedPort ?? null,
        destination: spec.destination ?? null,
        sourceAddress: spec.sourceAddress ?? null,
      };
      const route = await tx.route.upsert({ where: { databaseId: db.id }, update: data, create: { ...data, databaseId: db.id, tenantId: tenant.id } });
      const version = await recordRouteChange(tx, { routeId: route.id, hostname: route.hostname, op: 'upsert' });
      return { routeId: route.id, version };
    });
  }

  async setEnabled(routeId: string, enabled: boolean): Promise<number> {
    return this.prisma.$transaction(async (tx) => {
      const r = await tx.route.update({ where: { id: routeId }, data: { enabled } });
      return recordRouteChange(tx, { routeId, hostname: r.hostname, op: 'upsert' });
    });
  }

  async deleteRoute(routeId: string): Promise<number> {
    return this.prisma.$transaction(async (tx) => {
      const r = await tx.route.delete({ where: { id: routeId } });
      return recordRouteChange(tx, { routeId, hostname: r.hostname, op: 'delete' });
    });
  }

  close(): Promise<void> {
    return this.prisma.$disconnect();
  }
}
