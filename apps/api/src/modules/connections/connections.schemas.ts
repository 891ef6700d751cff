import { Type, type Static } from 'typebox';
import { Slug, Timestamp } from '../../lib/schemas.js';

export const LiveConnection = Type.Object(
  {
    proxyId: Type.String(),
    id: Type.String({ description: 'The connection’s id on its proxy (`<worker>.<seq>`); its event carries it as `connectionId`' }),
    listener: Type.String(),
    tenant: Type.String(),
    database: Type.Union([Type.String(), Type.Null()]),
    routeId: Type.String(),
    clientAddress: Type.Union([Type.String(), Type.Null()]),
    clientPort: Type.Integer(),
    sni: Type.Union([Type.String(), Type.Null()]),
    mode: Type.String(),
    startedAt: Timestamp,
    durationMs: Type.Integer(),
    bytesIn: Type.Integer({ description: 'Bytes from the client so far (as of the proxy’s last report)' }),
    bytesOut: Type.Integer({ description: 'Bytes to the client so far' }),
  },
  {
    $id: 'LiveConnection',
    examples: [
      {
        proxyId: 'switchyard-proxy-7d9f-abcde',
        id: '2.1841',
        listener: 'postgres',
        tenant: 'acme',
        database: 'orders',
        routeId: '3b0d8f8e-52f4-4d51-9a0c-0e8a1c1a3f11',
        clientAddress: '203.0.113.7',
        clientPort: 53122,
        sni: 'orders.acme.db.example.com',
        mode: 'passthrough',
        startedAt: '2026-11-22T10:00:00.000Z',
        durationMs: 65000,
        bytesIn: 1822,
        bytesOut: 99120,
      },
    ],
  },
);
export type LiveConnection = Static<typeof LiveConnection>;

export const LiveConnectionsResponse = Type.Object(
  {
    items: Type.Array(LiveConnection, { description: 'Newest first' }),
    reportedAt: Type.Union([Timestamp, Type.Null()], { description: 'The oldest heartbeat the list is built from (null: no live proxy)' }),
    truncated: Type.Boolean({ description: 'A proxy had more open connections than it reports (500 each, the newest)' }),
  },
  { examples: [{ items: (LiveConnection as { examples?: unknown[] }).examples, reportedAt: '2026-11-22T10:01:05.000Z', truncated: false }] },
);

export const LiveQuery = Type.Object(
  {
    database: Type.Optional(Slug('Database name')),
    tenant: Type.Optional(Slug('Tenant slug (platform admins; omit for all)')),
  },
  { additionalProperties: false },
);
export type LiveQuery = Static<typeof LiveQuery>;

export const TerminateParams = Type.Object(
  {
    proxyId: Type.String({ minLength: 1, maxLength: 99, pattern: '^[A-Za-z0-9._:-]+$', description: 'The proxy’s id (PROXY_ID; its host name by default)' }),
    connectionId: Type.String({ pattern: '^\\d{1,3}\\.\\d{1,15}$', maxLength: 19, description: '`<worker>.<seq>` from the live list' }),
  },
  { additionalProperties: false },
);

export const TerminateResponse = Type.Object(
  {
    proxyId: Type.String(),
    connectionId: Type.String(),
    tenant: Type.String(),
    endedBy: Type.String({ description: 'What the connection event records as `endedBy`' }),
    requestedAt: Timestamp,
  },
  { examples: [{ proxyId: 'switchyard-proxy-7d9f-abcde', connectionId: '2.1841', tenant: 'acme', endedBy: 'user:ada@example.com', requestedAt: '2026-11-22T10:01:05.000Z' }] },
);

export const ProxyStatus = Type.Object(
  {
    id: Type.String(),
    hostname: Type.String(),
    version: Type.String({ description: 'Software version' }),
    appliedVersion: Type.Integer(),
    lag: Type.Integer({ description: 'Config versions behind the latest (0: up to date)' }),
    upToDate: Type.Boolean(),
    stale: Type.Boolean({ description: 'No heartbeat within PROXY_LIVENESS_MS: stopped, crashed or cut off from the control database' }),
    heartbeatAt: Timestamp,
    heartbeatAgeMs: Type.Integer(),
    startedAt: Timestamp,
    appliedAt: Type.Union([Timestamp, Type.Null()]),
    workers: Type.Integer(),
    openConnections: Type.Integer(),
    routes: Type.Integer({ description: 'Routes in the table it serves' }),
    eventsDropped: Type.Integer({ description: 'Connection events lost since it started (queue full while the control database was away)' }),
    eventsPending: Type.Integer(),
    listeners: Type.Array(Type.Object({ name: Type.String(), protocol: Type.String(), port: Type.Integer() })),
    stats: Type.Record(Type.String(), Type.Number()),
  },
  { $id: 'ProxyStatus' },
);
export type ProxyStatus = Static<typeof ProxyStatus>;

export const ProxiesResponse = Type.Object(
  {
    currentVersion: Type.Integer({ description: 'The latest committed config version' }),
    livenessMs: Type.Integer({ description: 'A proxy is stale when its last heartbeat is older than this' }),
    items: Type.Array(ProxyStatus),
  },
  {
    examples: [
      {
        currentVersion: 42,
        livenessMs: 15000,
        items: [
          {
            id: 'switchyard-proxy-7d9f-abcde',
            hostname: 'switchyard-proxy-7d9f-abcde',
            version: '0.1.0',
            appliedVersion: 42,
            lag: 0,
            upToDate: true,
            stale: false,
            heartbeatAt: '2026-11-22T10:00:05.000Z',
            heartbeatAgeMs: 1200,
            startedAt: '2026-11-22T08:00:00.000Z',
            appliedAt: '2026-11-22T09:59:31.000Z',
            workers: 2,
            openConnections: 17,
            routes: 230,
            eventsDropped: 0,
            eventsPending: 0,
            listeners: [
              { name: 'postgres', protocol: 'postgres', port: 5432 },
              { name: 'tls', protocol: 'tls', port: 443 },
            ],
            stats: { openConnections: 17, routedConnections: 17, routes: 230, workers: 2, auditPending: 0, auditDropped: 0, auditWritten: 18422 },
          },
        ],
      },
    ],
  },
);

const STEPS = ['reach', 'tls', 'certificate', 'upstream', 'dedicated', 'endpoint'];

export const CheckStep = Type.Object({
  step: Type.Enum(STEPS, {
    description:
      'reach, tls, certificate, upstream: through the shared listener with the host name as SNI. dedicated: the whole handshake through the route’s dedicated port (when it has one). endpoint: PostgreSQL terminate-mode routes, without SNI and with options=endpoint=<host name> (optional).',
  }),
  ok: Type.Boolean(),
  skipped: Type.Optional(Type.Boolean({ description: 'Not run because an earlier step failed' })),
  optional: Type.Optional(Type.Boolean({ description: 'A way in the route does not depend on (endpoint option: needs the proxy’s default certificate); a failure is reported but does not fail the check' })),
  ms: Type.Integer({ description: 'How long the step took' }),
  message: Type.String({ description: 'What happened, in plain words' }),
});

export const CheckResponse = Type.Object(
  {
    ok: Type.Boolean(),
    failedStep: Type.Union([Type.Enum(STEPS), Type.Null()]),
    summary: Type.String(),
    hostname: Type.String(),
    listener: Type.String(),
    address: Type.String({ description: 'host:port the platform dialled' }),
    tlsMode: Type.String(),
    enabled: Type.Boolean(),
    checkedAt: Timestamp,
    steps: Type.Array(CheckStep),
    certificate: Type.Union([
      Type.Object({
        subject: Type.String(),
        issuer: Type.String(),
        subjectAltNames: Type.Array(Type.String()),
        notBefore: Timestamp,
        notAfter: Timestamp,
        expiresInDays: Type.Integer(),
        fingerprint256: Type.String(),
      }),
      Type.Null(),
    ]),
    proxyReason: Type.Union([Type.String(), Type.Null()], { description: 'The reason the proxy recorded for the check’s own connection, when found' }),
  },
  {
    examples: [
      {
        ok: false,
        failedStep: 'upstream',
        summary: 'The proxy could not get an answer from the database: The proxy could not reach the database (10.0.4.7:5432): the connection was refused or timed out. Is the database running and listening?',
        hostname: 'orders.acme.db.example.com',
        listener: 'postgres',
        address: 'switchyard-proxy:5432',
        tlsMode: 'passthrough',
        enabled: true,
        checkedAt: '2026-11-22T10:00:00.000Z',
        steps: [
          { step: 'reach', ok: true, ms: 2, message: 'Reached the proxy at switchyard-proxy:5432; it answered the SSLRequest.' },
          { step: 'tls', ok: true, ms: 1003, message: 'The proxy accepted orders.acme.db.example.com and tried the database.' },
          { step: 'certificate', ok: false, skipped: true, ms: 0, message: 'Not checked: the handshake could not complete without the database.' },
          { step: 'upstream', ok: false, ms: 1003, message: 'The proxy could not reach the database (10.0.4.7:5432): the connection was refused or timed out. Is the database running and listening?' },
        ],
        certificate: null,
        proxyReason: 'upstream_unreachable',
      },
    ],
  },
);
export type CheckResponse = Static<typeof CheckResponse>;
