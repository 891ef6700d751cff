import { DEFAULT_UPSTREAM_PORT, ENGINES } from '@switchyard/core';
import { Type, type Static } from 'typebox';
import { Slug, Timestamp } from '../../lib/schemas.js';
import { ExternalAccessResponse } from '../external-access/external-access.schemas.js';

export const Engine = Type.Enum(ENGINES, { description: 'Database engine (decides the shared port and handshake)' });

export const Upstream = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, description: 'Service DNS name or IP address inside the cluster', examples: ['pg-rw.acme.svc.cluster.local'] }),
    port: Type.Integer({ minimum: 1, maximum: 65535, examples: [5432] }),
  },
  { additionalProperties: false },
);

export const CreateDatabaseBody = Type.Object(
  {
    name: Slug('Database name; becomes the first label of its hostname'),
    engine: Engine,
    upstream: Upstream,
  },
  {
    additionalProperties: false,
    examples: [{ name: 'orders', engine: 'postgres', upstream: { host: 'orders-rw.acme.svc.cluster.local', port: DEFAULT_UPSTREAM_PORT.postgres } }],
  },
);
export type CreateDatabaseBody = Static<typeof CreateDatabaseBody>;

export const UpdateDatabaseBody = Type.Object(
  { upstream: Upstream },
  { additionalProperties: false, examples: [{ upstream: { host: 'pg-primary.acme.svc.cluster.local', port: 5432 } }] },
);
export type UpdateDatabaseBody = Static<typeof UpdateDatabaseBody>;

export const DatabaseResponse = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    tenant: Type.String(),
    name: Type.String(),
    engine: Engine,
    upstream: Upstream,
    externalAccess: ExternalAccessResponse,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Database' },
);
export type DatabaseResponse = Static<typeof DatabaseResponse>;
