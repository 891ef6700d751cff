import { ENGINES } from '@switchyard/core';
import { Type, type Static } from 'typebox';
import { ListOf, Timestamp } from '../../lib/schemas.js';

export const DISCOVERED_SERVICE_EXAMPLE = {
  namespace: 'acme-prod',
  name: 'orders-rw',
  engine: 'postgres',
  engineReason: 'cnpg.io/cluster=orders (-rw: primary)',
  role: 'primary',
  upstream: { host: 'orders-rw.acme-prod.svc.cluster.local', port: 5432 },
  ports: [{ name: 'postgres', port: 5432, protocol: 'TCP' }],
  readyEndpoints: [{ host: '10.244.1.17', port: 5432 }],
  observedAt: '2026-12-06T03:00:00.000Z',
};

export const DiscoveredServiceResponse = Type.Object(
  {
    namespace: Type.String(),
    name: Type.String(),
    engine: Type.Enum(ENGINES, { description: 'Inferred engine' }),
    engineReason: Type.String({ description: 'Why: a CloudNativePG label, an operator label or a well-known port' }),
    role: Type.Union([Type.String(), Type.Null()], { description: 'CloudNativePG: primary (-rw), replica (-ro) or any (-r)' }),
    upstream: Type.Object({ host: Type.String(), port: Type.Integer() }, { description: 'What registering a database from it fills in' }),
    ports: Type.Array(Type.Object({ name: Type.Union([Type.String(), Type.Null()]), port: Type.Integer(), protocol: Type.String() })),
    readyEndpoints: Type.Array(Type.Object({ host: Type.String(), port: Type.Integer() }), { description: 'Ready addresses from the EndpointSlices' }),
    observedAt: Timestamp,
  },
  { $id: 'DiscoveredService', examples: [DISCOVERED_SERVICE_EXAMPLE] },
);
export type DiscoveredServiceResponse = Static<typeof DiscoveredServiceResponse>;

export const DiscoveredServiceList = ListOf(DiscoveredServiceResponse, DISCOVERED_SERVICE_EXAMPLE);
