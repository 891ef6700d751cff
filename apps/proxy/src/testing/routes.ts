import type { RouteRecord } from '@switchyard/core';

/** A route record with sensible defaults, for tests. */
export function route(over: Partial<RouteRecord> = {}): RouteRecord {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    hostname: 'db1.acme.db.example.com',
    listener: 'postgres',
    tlsMode: 'passthrough',
    enabled: true,
    disableBehavior: 'drain',
    sourceCidrs: [],
    maxConnections: null,
    version: 1,
    tenantId: 't',
    tenantSlug: 'acme',
    tenantMaxConnections: null,
    databaseId: 'd',
    databaseName: 'db1',
    engine: 'postgres',
    endpoints: [{ host: '127.0.0.1', port: 5432 }],
    certificate: null,
    upstreamTls: true,
    upstreamCa: null,
    ...over,
  };
}
