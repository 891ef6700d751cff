import { Type, type Static } from 'typebox';
import { CursorParam, LimitParam, NextCursor } from '../../lib/pagination.js';
import { Slug, Timestamp, TimestampInput } from '../../lib/schemas.js';

const Limit = LimitParam({ default: 100, maximum: 1000 });
const Format = Type.Optional(Type.Enum(['json', 'csv'], { description: 'csv streams every matching row as text/csv' }));
const TimeRange = {
  from: Type.Optional(TimestampInput('Inclusive start; default: 24 h before `to`')),
  to: Type.Optional(TimestampInput('Exclusive end; default: now')),
};

export const OUTCOMES = ['ok', 'rejected', 'error', 'aborted'] as const;

export const ConnectionEventsQuery = Type.Object(
  {
    ...TimeRange,
    database: Type.Optional(Slug('Database name')),
    clientAddress: Type.Optional(Type.String({ format: 'cidr', minLength: 2, maxLength: 49, description: 'An IP address or a CIDR' })),
    outcome: Type.Optional(Type.Enum(OUTCOMES)),
    reason: Type.Optional(Type.String({ pattern: '^[a-z_]{1,64}$', maxLength: 64, description: 'Close/refusal reason code (docs/proxy.md)' })),
    sni: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(CursorParam),
    format: Format,
  },
  { additionalProperties: false },
);
export type ConnectionEventsQuery = Static<typeof ConnectionEventsQuery>;

export const PlatformConnectionEventsQuery = Type.Object(
  { ...ConnectionEventsQuery.properties, tenant: Type.Optional(Slug('Tenant slug; omit for all tenants and unrouted connections')) },
  { additionalProperties: false },
);
export type PlatformConnectionEventsQuery = Static<typeof PlatformConnectionEventsQuery>;

export const ConnectionEvent = Type.Object(
  {
    id: Type.String({ description: 'Event id (a 64-bit integer as a string)' }),
    proxyId: Type.String(),
    listener: Type.String(),
    tenant: Type.Union([Type.String(), Type.Null()]),
    database: Type.Union([Type.String(), Type.Null()]),
    routeId: Type.Union([Type.String(), Type.Null()]),
    clientAddress: Type.String(),
    clientPort: Type.Integer(),
    sni: Type.Union([Type.String(), Type.Null()]),
    alpn: Type.Union([Type.String(), Type.Null()]),
    tlsVersion: Type.Union([Type.String(), Type.Null()]),
    mode: Type.Union([Type.String(), Type.Null()]),
    startedAt: Timestamp,
    endedAt: Timestamp,
    durationMs: Type.Integer(),
    bytesIn: Type.Integer({ description: 'Bytes from the client' }),
    bytesOut: Type.Integer({ description: 'Bytes to the client' }),
    outcome: Type.Enum(OUTCOMES),
    reason: Type.String(),
    upstream: Type.Union([Type.String(), Type.Null()], { description: 'Endpoint (host:port) the connection was forwarded to; null when none was reached' }),
    connectionId: Type.Union([Type.String(), Type.Null()], { description: 'The id the live list showed for it (`<worker>.<seq>` on `proxyId`); null when it was never routed' }),
    endedBy: Type.Union([Type.String(), Type.Null()], { description: 'Who terminated it through the API (`user:<email>`, `token:<name>`, `admin-token`); null otherwise' }),
  },
  {
    $id: 'ConnectionEvent',
    examples: [
      {
        id: '1042',
        proxyId: 'switchyard-proxy-7d9f-abcde',
        listener: 'postgres',
        tenant: 'acme',
        database: 'orders',
        routeId: '3b0d8f8e-52f4-4d51-9a0c-0e8a1c1a3f11',
        clientAddress: '203.0.113.7',
        clientPort: 53122,
        sni: 'orders.acme.db.example.com',
        alpn: 'postgresql',
        tlsVersion: null,
        mode: 'passthrough',
        startedAt: '2026-11-22T10:00:00.000Z',
        endedAt: '2026-11-22T10:05:00.000Z',
        durationMs: 300000,
        bytesIn: 18211,
        bytesOut: 991203,
        outcome: 'ok',
        reason: 'client_closed',
        upstream: 'orders-rw.acme.svc.cluster.local:5432',
        connectionId: '2.1841',
        endedBy: null,
      },
    ],
  },
);

export const ConnectionEventsPage = Type.Object(
  {
    items: Type.Array(ConnectionEvent),
    nextCursor: NextCursor,
  },
  { examples: [{ items: (ConnectionEvent as { examples?: unknown[] }).examples, nextCursor: 'MTc2Mzc5NTYwMDAwMDoxMDQy' }] },
);

export const INTERVALS = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '6h': 21600, '1d': 86400 } as const;

const { limit: _l, cursor: _c, format: _f, ...connectionFilters } = ConnectionEventsQuery.properties;

export const StatsQuery = Type.Object(
  {
    ...connectionFilters,
    interval: Type.Optional(Type.Enum(Object.keys(INTERVALS) as Array<keyof typeof INTERVALS>, { default: '1h' })),
  },
  { additionalProperties: false },
);
export type StatsQuery = Static<typeof StatsQuery>;

export const PlatformStatsQuery = Type.Object(
  { ...StatsQuery.properties, tenant: Type.Optional(Slug('Tenant slug; omit for all tenants and unrouted connections')) },
  { additionalProperties: false },
);
export type PlatformStatsQuery = Static<typeof PlatformStatsQuery>;

export const StatsResponse = Type.Object(
  {
    from: Timestamp,
    to: Timestamp,
    interval: Type.String(),
    buckets: Type.Array(
      Type.Object({
        start: Timestamp,
        connections: Type.Integer(),
        ok: Type.Integer(),
        failures: Type.Integer(),
        bytesIn: Type.Integer(),
        bytesOut: Type.Integer(),
        failuresByReason: Type.Record(Type.String(), Type.Integer()),
      }),
    ),
    topClients: Type.Array(
      Type.Object({ clientAddress: Type.String(), connections: Type.Integer(), failures: Type.Integer() }),
      { description: 'The 10 client addresses with the most connections in the range (same filters). Exact unless `topClientsSampled` is set: then estimated from a sample, see there.' },
    ),
    topClientsSampled: Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 1 }), Type.Null()], {
      description:
        'null: `topClients` is exact. Otherwise the share of the range’s matching events that were counted (ranges with more than 30,000 matching events and no address or host-name filter): time slices spread evenly over the range, counts scaled up by 1/share and rounded, so `topClients` is APPROXIMATE — reliable for addresses that stand out, not for ranking addresses with similar counts. Filter by client address for exact counts.',
    }),
  },
  {
    examples: [
      {
        from: '2026-11-22T00:00:00.000Z',
        to: '2026-11-22T02:00:00.000Z',
        interval: '1h',
        buckets: [
          { start: '2026-11-22T00:00:00.000Z', connections: 120, ok: 117, failures: 3, bytesIn: 80123, bytesOut: 9912034, failuresByReason: { source_not_allowed: 3 } },
          { start: '2026-11-22T01:00:00.000Z', connections: 0, ok: 0, failures: 0, bytesIn: 0, bytesOut: 0, failuresByReason: {} },
        ],
        topClients: [{ clientAddress: '203.0.113.7', connections: 98, failures: 0 }],
        topClientsSampled: null,
      },
    ],
  },
);
export type StatsResponse = Static<typeof StatsResponse>;

export const AuditEventsQuery = Type.Object(
  {
    ...TimeRange,
    action: Type.Optional(Type.String({ pattern: '^[a-z_.-]{1,64}$', maxLength: 64, examples: ['route.enable'] })),
    targetType: Type.Optional(Type.String({ pattern: '^[a-z_]{1,64}$', maxLength: 64, examples: ['route'] })),
    actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(CursorParam),
    format: Format,
  },
  { additionalProperties: false },
);
export type AuditEventsQuery = Static<typeof AuditEventsQuery>;

export const PlatformAuditEventsQuery = Type.Object(
  { ...AuditEventsQuery.properties, tenant: Type.Optional(Slug('Tenant slug; omit for all')) },
  { additionalProperties: false },
);
export type PlatformAuditEventsQuery = Static<typeof PlatformAuditEventsQuery>;

export const AuditEvent = Type.Object(
  {
    id: Type.String(),
    at: Timestamp,
    actorType: Type.String(),
    actorId: Type.Union([Type.String(), Type.Null()]),
    tenant: Type.Union([Type.String(), Type.Null()]),
    action: Type.String(),
    targetType: Type.String(),
    targetId: Type.Union([Type.String(), Type.Null()]),
    changes: Type.Unknown(),
    clientAddress: Type.Union([Type.String(), Type.Null()]),
    requestId: Type.Union([Type.String(), Type.Null()]),
  },
  {
    $id: 'AuditEvent',
    examples: [
      {
        id: '77',
        at: '2026-11-22T10:00:00.000Z',
        actorType: 'token',
        actorId: '5f6c…',
        tenant: 'acme',
        action: 'route.enable',
        targetType: 'route',
        targetId: '3b0d8f8e-52f4-4d51-9a0c-0e8a1c1a3f11',
        changes: { enabled: { from: false, to: true } },
        clientAddress: '198.51.100.4',
        requestId: 'b7e1…',
      },
    ],
  },
);

export const AuditEventsPage = Type.Object(
  {
    items: Type.Array(AuditEvent),
    nextCursor: NextCursor,
  },
  { examples: [{ items: (AuditEvent as { examples?: unknown[] }).examples, nextCursor: null }] },
);
