import { BALANCE_POLICIES, DEFAULT_UPSTREAM_PORT, ENGINES } from '@switchyard/core';
import { Type, type Static } from 'typebox';
import { OwnerSchema } from '../../lib/ownership.js';
import { ListOf, Slug, Timestamp } from '../../lib/schemas.js';
import { EXTERNAL_ACCESS_EXAMPLE, ExternalAccessResponse } from '../external-access/external-access.schemas.js';

export const Engine = Type.Enum(ENGINES, { description: 'Database engine (decides the shared port and handshake)' });

export const Upstream = Type.Object(
  {
    host: Type.String({ format: 'upstream-host', minLength: 1, maxLength: 253, description: 'Service DNS name or IP address inside the cluster', examples: ['pg-rw.acme.svc.cluster.local'] }),
    port: Type.Integer({ minimum: 1, maximum: 65535, examples: [5432] }),
  },
  { additionalProperties: false },
);

/** At most this many endpoints per database. */
export const MAX_ENDPOINTS = 16;

export const Endpoints = Type.Array(Upstream, {
  minItems: 1,
  maxItems: MAX_ENDPOINTS,
  description: 'Every endpoint connections may go to (replicas, pods); each must satisfy the tenant’s upstream policy',
  examples: [[{ host: 'pg-0.pg.acme.svc.cluster.local', port: 5432 }, { host: 'pg-1.pg.acme.svc.cluster.local', port: 5432 }]],
});

export const BalancePolicy = Type.Enum(BALANCE_POLICIES, {
  description: 'round-robin (default), least-connections (fewest open connections on this proxy) or source-hash (a client keeps its endpoint)',
});

export const HealthCheck = Type.Object(
  {
    type: Type.Enum(['tcp', 'tls'], { description: 'tcp: connect; tls: connect and complete a TLS handshake (after SSLRequest for PostgreSQL)' }),
    intervalMs: Type.Integer({ minimum: 100, maximum: 3_600_000, description: 'Time between checks of one endpoint' }),
    timeoutMs: Type.Integer({ minimum: 50, maximum: 60_000 }),
    rise: Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive successes that mark an endpoint up again' }),
    fall: Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive failures that mark an endpoint down' }),
  },
  { additionalProperties: false, examples: [{ type: 'tcp', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3 }] },
);

const HealthCheckOrNull = Type.Union([HealthCheck, Type.Null()], { description: 'Active health checks run by every proxy; null: none' });

export const CreateDatabaseBody = Type.Object(
  {
    name: Slug('Database name; becomes the first label of its hostname'),
    engine: Engine,
    upstream: Type.Optional(Upstream),
    endpoints: Type.Optional(Endpoints),
    discoveredService: Type.Optional(
      Type.Object(
        {
          namespace: Type.String({ minLength: 1, maxLength: 63 }),
          name: Type.String({ minLength: 1, maxLength: 253 }),
          endpoints: Type.Optional(Type.Boolean({ description: 'true: the ready endpoints (pods) the controller saw instead of the Service name' })),
        },
        { additionalProperties: false, description: 'Fill the upstream from a service the Kubernetes controller discovered (GET …/discovered-services)' },
      ),
    ),
    balance: Type.Optional(BalancePolicy),
    healthCheck: Type.Optional(HealthCheckOrNull),
  },
  {
    additionalProperties: false,
    description: 'Give `upstream` (one endpoint), `endpoints` (several) or `discoveredService`, only one of them.',
    examples: [
      { name: 'orders', engine: 'postgres', upstream: { host: 'orders-rw.acme.svc.cluster.local', port: DEFAULT_UPSTREAM_PORT.postgres } },
      { name: 'orders', engine: 'postgres', discoveredService: { namespace: 'acme', name: 'orders-rw' } },
      {
        name: 'cache',
        engine: 'redis',
        endpoints: [
          { host: 'redis-0.redis.acme.svc.cluster.local', port: 6379 },
          { host: 'redis-1.redis.acme.svc.cluster.local', port: 6379 },
        ],
        balance: 'least-connections',
        healthCheck: { type: 'tls', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3 },
      },
    ],
  },
);
export type CreateDatabaseBody = Static<typeof CreateDatabaseBody>;

export const UpdateDatabaseBody = Type.Object(
  {
    engine: Type.Optional(Engine),
    upstream: Type.Optional(Upstream),
    endpoints: Type.Optional(Endpoints),
    balance: Type.Optional(BalancePolicy),
    healthCheck: Type.Optional(HealthCheckOrNull),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description: 'Changes only the fields given. `upstream` replaces every endpoint with one; `endpoints` replaces the list.',
    examples: [{ endpoints: [{ host: 'pg-0.pg.acme.svc.cluster.local', port: 5432 }, { host: 'pg-1.pg.acme.svc.cluster.local', port: 5432 }], balance: 'round-robin' }],
  },
);
export type UpdateDatabaseBody = Static<typeof UpdateDatabaseBody>;

const { propagation: _omitted, ...EXTERNAL_ACCESS_OF_DATABASE } = EXTERNAL_ACCESS_EXAMPLE;
export const DATABASE_EXAMPLE = {
  id: '5007ae0e-bb6a-4eea-8365-6ba6153315e5',
  tenant: 'acme',
  name: 'orders',
  engine: 'postgres',
  upstream: { host: 'orders-rw.acme.svc.cluster.local', port: 5432 },
  endpoints: [{ host: 'orders-rw.acme.svc.cluster.local', port: 5432 }],
  balance: 'round-robin',
  healthCheck: null,
  externalAccess: EXTERNAL_ACCESS_OF_DATABASE,
  openConnections: 3,
  owner: { type: 'api' },
  createdAt: '2026-11-22T08:00:00.000Z',
  updatedAt: '2026-11-22T08:00:00.000Z',
};

export const DatabaseResponse = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    tenant: Type.String(),
    name: Type.String(),
    engine: Engine,
    upstream: Type.Object({ host: Type.String(), port: Type.Integer() }, { description: 'The first endpoint' }),
    endpoints: Type.Array(Type.Object({ host: Type.String(), port: Type.Integer() })),
    balance: BalancePolicy,
    healthCheck: Type.Union([HealthCheck, Type.Null()]),
    externalAccess: ExternalAccessResponse,
    openConnections: Type.Integer({
      minimum: 0,
      description:
        'Client connections to this database open right now, as the live proxies reported them in their last heartbeat (at most about a second old; stale proxies do not count). Each proxy reports up to 500 connections, so beyond that this is a lower bound. The list: GET …/connections/live?database={name}.',
    }),
    owner: OwnerSchema,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Database', examples: [DATABASE_EXAMPLE] },
);
export type DatabaseResponse = Static<typeof DatabaseResponse>;

export const DatabaseList = ListOf(DatabaseResponse, DATABASE_EXAMPLE);
