import type { ExternalAccess } from './api';

/** An enabled passthrough route's external access as the API returns it, for component tests. */
export function externalAccess(overrides: Partial<ExternalAccess> = {}): ExternalAccess {
  return {
    enabled: true,
    hostname: 'orders.acme.db.example.com',
    listener: 'postgres',
    port: 5432,
    tlsMode: 'passthrough',
    disableBehavior: 'drain',
    sourceCidrs: [],
    maxConnections: null,
    dedicatedPort: null,
    proxyProtocol: null,
    destination: null,
    sourceAddress: null,
    connection: {},
    certificate: null,
    acme: null,
    ca: null,
    upstreamTls: false,
    upstreamCa: null,
    upstreamServerName: null,
    version: 3,
    owner: { type: 'api' },
    ...overrides,
  };
}
