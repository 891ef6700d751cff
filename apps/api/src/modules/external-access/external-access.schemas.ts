import { DISABLE_BEHAVIORS, TLS_MODES, UPSTREAM_PROXY_PROTOCOLS } from '@switchyard/core';
import { Type, type Static } from 'typebox';
import { OwnerSchema } from '../../lib/ownership.js';
import { Slug, UuidInput } from '../../lib/schemas.js';
import { AcmeChallengeType } from '../acme/acme.schemas.js';

export const Propagation = Type.Object(
  {
    version: Type.Integer({ description: 'Config version that carries this change' }),
    state: Type.Union([Type.Literal('applied'), Type.Literal('pending'), Type.Literal('timeout'), Type.Literal('no-proxies')], {
      description: 'applied: every live proxy serves this version; pending: not yet (no wait requested); timeout: waited, some did not; no-proxies: none is live',
    }),
    proxies: Type.Array(
      Type.Object({ id: Type.String(), appliedVersion: Type.Integer(), applied: Type.Boolean() }),
    ),
  },
  {
    $id: 'Propagation',
    examples: [{ version: 42, state: 'applied', proxies: [{ id: 'switchyard-proxy-7d9f-abcde', appliedVersion: 42, applied: true }] }],
  },
);
export type Propagation = Static<typeof Propagation>;

const host = 'orders.acme.db.example.com';
/** Passthrough on the shared PostgreSQL port, applied by the one live proxy. */
export const EXTERNAL_ACCESS_EXAMPLE = {
  enabled: true,
  hostname: host,
  listener: 'postgres',
  port: 5432,
  tlsMode: 'passthrough',
  disableBehavior: 'drain',
  sourceCidrs: ['203.0.113.0/24'],
  maxConnections: null,
  dedicatedPort: null,
  proxyProtocol: null,
  destination: null,
  sourceAddress: null,
  connection: {
    primary: `postgresql://USER@${host}:5432/DBNAME?sslmode=verify-full&sslrootcert=DATABASE_CA.pem`,
    uri: `postgresql://USER@${host}:5432/DBNAME?sslmode=verify-full&sslrootcert=DATABASE_CA.pem`,
    psql: `psql "host=${host} port=5432 dbname=DBNAME user=USER sslmode=verify-full sslrootcert=DATABASE_CA.pem"`,
    jdbc: `jdbc:postgresql://${host}:5432/DBNAME?user=USER&ssl=true&sslmode=verify-full&sslrootcert=DATABASE_CA.pem`,
    nodePostgres: `new pg.Client({ host: '${host}', port: 5432, user: 'USER', database: 'DBNAME', ssl: { servername: '${host}', ca: fs.readFileSync('DATABASE_CA.pem', 'utf8') } })`,
    psqlRequire: `psql "host=${host} port=5432 dbname=DBNAME user=USER sslmode=require"`,
  },
  certificate: null,
  acme: null,
  ca: null,
  upstreamTls: true,
  upstreamCa: null,
  upstreamServerName: null,
  version: 42,
  owner: { type: 'api' },
  propagation: { version: 42, state: 'applied', proxies: [{ id: 'switchyard-proxy-7d9f-abcde', appliedVersion: 42, applied: true }] },
};

export const ExternalAccessResponse = Type.Object(
  {
    enabled: Type.Boolean(),
    hostname: Type.String({ description: 'SNI host name clients connect to', examples: ['orders.acme.db.example.com'] }),
    listener: Type.String({ description: 'Shared port the route is served on' }),
    port: Type.Integer({ description: 'Public port of that listener' }),
    tlsMode: Type.Enum(TLS_MODES),
    disableBehavior: Type.Enum(DISABLE_BEHAVIORS),
    sourceCidrs: Type.Array(Type.String()),
    maxConnections: Type.Union([Type.Integer(), Type.Null()]),
    dedicatedPort: Type.Union([Type.Integer(), Type.Null()], { description: 'The route’s own port, for clients that cannot send SNI (null: shared ports only)' }),
    proxyProtocol: Type.Union([Type.Enum(UPSTREAM_PROXY_PROTOCOLS), Type.Null()], { description: 'PROXY protocol header sent to the upstream (null: none)' }),
    destination: Type.Union([Type.String(), Type.Null()], { description: 'address:port a destination listener routes here (from the PROXY header)' }),
    sourceAddress: Type.Union([Type.String(), Type.Null()], { description: 'Local address upstream connections leave from (static egress IP)' }),
    connection: Type.Record(Type.String(), Type.String(), {
      description: 'Ready-to-paste connection strings; `primary` is the usual one',
    }),
    certificate: Type.Union(
      [
        Type.Object({
          id: Type.String({ format: 'uuid' }),
          name: Type.String(),
          kind: Type.String(),
          fingerprint: Type.String(),
          notAfter: Type.String({ format: 'date-time' }),
          expiresInDays: Type.Integer(),
          auto: Type.Boolean(),
        }),
        Type.Null(),
      ],
      { description: 'Terminate mode: the certificate the proxy presents' },
    ),
    acme: Type.Union(
      [
        Type.Object({
          id: Type.String({ format: 'uuid' }),
          state: Type.String({ description: 'pending | validating | issued | failed' }),
          challenge: Type.String({ description: 'tls-alpn-01 | http-01' }),
          renewAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
          problem: Type.Union([Type.Object({ type: Type.String(), detail: Type.String() }, { additionalProperties: true }), Type.Null()]),
        }),
        Type.Null(),
      ],
      {
        description:
          'The ACME certificate requested for this host name (PUT with `acme`, or POST …/acme-certificates; GET …/acme-certificates/:id for details). ' +
          'Until `state` is `issued`, `certificate` above is the platform-CA one and clients verify with `ca`; then it is the ACME certificate.',
      },
    ),
    ca: Type.Union(
      [
        Type.Object({
          fileName: Type.String({ description: 'File name the connection strings refer to' }),
          url: Type.Union([Type.String(), Type.Null()], { description: 'Download URL (platform CA)' }),
          pem: Type.String({ description: 'The PEM to save under fileName' }),
        }),
        Type.Null(),
      ],
      { description: 'What clients verify the certificate with, when it is not publicly trusted (terminate mode)' },
    ),
    upstreamTls: Type.Boolean({ description: 'Terminate mode: TLS (true) or plaintext to the upstream' }),
    upstreamCa: Type.Union([Type.String(), Type.Null()], { description: 'Terminate mode: PEM CA the upstream certificate must chain to; null = not verified' }),
    upstreamServerName: Type.Union([Type.String(), Type.Null()], {
      description: 'Terminate mode with upstream TLS: the name sent as SNI to the upstream and checked against its certificate; null = the upstream host name',
    }),
    version: Type.Union([Type.Integer(), Type.Null()], { description: 'Config version of the route’s last change' }),
    owner: OwnerSchema,
    propagation: Type.Optional(Propagation),
  },
  { $id: 'ExternalAccess', examples: [EXTERNAL_ACCESS_EXAMPLE] },
);
export type ExternalAccessResponse = Static<typeof ExternalAccessResponse>;

export const PutExternalAccessBody = Type.Object(
  {
    enabled: Type.Boolean(),
    tlsMode: Type.Optional(Type.Enum(TLS_MODES, { description: 'passthrough (default): TLS ends at the database' })),
    hostname: Type.Optional(
      Type.String({
        format: 'route-hostname',
        minLength: 3,
        maxLength: 253,
        description: 'Custom hostname under a domain allowed for the tenant; `*.apps.example.com` routes every name beneath it (exact names win)',
      }),
    ),
    listener: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    sourceCidrs: Type.Optional(Type.Array(Type.String({ format: 'cidr', minLength: 2, maxLength: 49 }), { maxItems: 100, description: 'Client networks allowed; empty = any' })),
    maxConnections: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()])),
    disableBehavior: Type.Optional(Type.Enum(DISABLE_BEHAVIORS, { description: 'What disabling does to open connections' })),
    dedicatedPort: Type.Optional(Type.Boolean({ description: 'true: assign a port from the platform’s pool (kept while true); false: release it' })),
    proxyProtocol: Type.Optional(Type.Union([Type.Enum(UPSTREAM_PROXY_PROTOCOLS), Type.Null()], { description: 'Send a PROXY v1/v2 header to the upstream' })),
    destination: Type.Optional(
      Type.Union([Type.String({ format: 'ip-port', minLength: 3, maxLength: 60, examples: ['10.1.2.3:443'] }), Type.Null()], {
        description: 'For destination listeners: the address:port (e.g. a cluster IP) whose PROXY-header connections go to this route',
      }),
    ),
    sourceAddress: Type.Optional(
      Type.Union([Type.String({ format: 'ip', minLength: 2, maxLength: 45 }), Type.Null()], { description: 'Egress source address, one of SWITCHYARD_EGRESS_SOURCE_ADDRESSES' }),
    ),
    certificateId: Type.Optional(
      Type.Union([UuidInput(), Type.Null()], {
        description: 'Terminate mode: a certificate of the tenant covering the hostname. Omitted with terminate and none attached: one is issued from the platform CA.',
      }),
    ),
    acme: Type.Optional(
      Type.Object(
        { challenge: Type.Optional(AcmeChallengeType) },
        {
          additionalProperties: false,
          description:
            'Terminate mode: also request a publicly trusted certificate from the platform’s ACME CA, in the same transaction as the route change ' +
            '(the checks, rate limits and errors of POST …/acme-certificates, with `details[].field` = `body.acme`). The platform-CA certificate is served ' +
            'until the ACME one is issued; follow `acme.state`. Repeating it for a host name that already has one changes nothing. Not with `certificateId`.',
        },
      ),
    ),
    upstreamTls: Type.Optional(Type.Boolean({ description: 'Terminate mode: TLS to the upstream (default true); PostgreSQL uses SSLRequest first' })),
    upstreamCa: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 65536 }), Type.Null()], { description: 'Terminate mode: PEM CA to verify the upstream certificate (and its host name) with' }),
    ),
    upstreamServerName: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 253, examples: ['pg-rw.tenant.svc'] }), Type.Null()], {
        description:
          'Terminate mode with upstream TLS: the DNS name sent as SNI to the upstream and checked against its certificate (with upstreamCa), ' +
          'for upstreams reached by IP address (pod addresses) or through a name their certificate does not carry; null = the upstream host name',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { enabled: true, tlsMode: 'passthrough' },
      { enabled: true, dedicatedPort: true, sourceCidrs: ['203.0.113.0/24'] },
      { enabled: true, listener: 'kube', destination: '10.1.2.3:443' },
      { enabled: true, tlsMode: 'terminate' },
      { enabled: true, tlsMode: 'terminate', acme: { challenge: 'tls-alpn-01' } },
      { enabled: true, tlsMode: 'terminate', certificateId: '7d1f8a8e-8a53-4e4b-9a3e-2f0c6f1c9b11', upstreamTls: false },
    ],
  },
);
export type PutExternalAccessBody = Static<typeof PutExternalAccessBody>;

export const WaitQuery = Type.Object(
  {
    wait: Type.Optional(Type.Boolean({ description: 'Wait until every live proxy applied the change (bounded)' })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000 })),
  },
  { additionalProperties: false },
);
export type WaitQuery = Static<typeof WaitQuery>;

/** Items per batch (`MAX_BATCH_ITEMS` in the service). */
const BATCH_MAX = 500;

/** A batch item: the PUT body without `acme` (ACME requests are counted against rate limits one at a time: PUT or POST …/acme-certificates). */
const { acme: _acme, ...batchProperties } = PutExternalAccessBody.properties;
export const BatchItem = Type.Object(
  { database: Slug('Database name (of this tenant)'), ...batchProperties },
  { additionalProperties: false },
);
export type BatchItem = Static<typeof BatchItem>;

export const BatchExternalAccessBody = Type.Object(
  {
    items: Type.Array(BatchItem, {
      minItems: 1,
      maxItems: BATCH_MAX,
      description: `Up to ${BATCH_MAX} databases of the tenant, each at most once; each item is what PUT …/databases/:database/external-access takes (except \`acme\`), plus \`database\``,
    }),
  },
  {
    additionalProperties: false,
    examples: [{ items: [{ database: 'orders', enabled: true }, { database: 'billing', enabled: true, sourceCidrs: ['203.0.113.0/24'] }, { database: 'legacy', enabled: false }] }],
  },
);
export type BatchExternalAccessBody = Static<typeof BatchExternalAccessBody>;

export const BatchExternalAccessResponse = Type.Object(
  {
    version: Type.Integer({ description: 'Config version of the last change in the batch (the newest route version when nothing changed)' }),
    changed: Type.Integer({ description: 'Routes the batch changed; each got its own consecutive version' }),
    items: Type.Array(
      Type.Object({
        database: Type.String(),
        changed: Type.Boolean({ description: 'false: the route already was as asked (no new version, no audit event)' }),
        enabled: Type.Boolean(),
        hostname: Type.String(),
        listener: Type.String(),
        dedicatedPort: Type.Union([Type.Integer(), Type.Null()]),
        version: Type.Union([Type.Integer(), Type.Null()], { description: 'Config version of the route’s last change' }),
      }),
      { description: 'One per request item, in request order' },
    ),
    propagation: Propagation,
  },
  {
    $id: 'BatchExternalAccess',
    examples: [
      {
        version: 44,
        changed: 2,
        items: [
          { database: 'orders', changed: true, enabled: true, hostname: 'orders.acme.db.example.com', listener: 'postgres', dedicatedPort: null, version: 43 },
          { database: 'billing', changed: true, enabled: true, hostname: 'billing.acme.db.example.com', listener: 'postgres', dedicatedPort: null, version: 44 },
          { database: 'legacy', changed: false, enabled: false, hostname: 'legacy.acme.db.example.com', listener: 'postgres', dedicatedPort: null, version: 12 },
        ],
        propagation: { version: 44, state: 'applied', proxies: [{ id: 'switchyard-proxy-7d9f-abcde', appliedVersion: 44, applied: true }] },
      },
    ],
  },
);
export type BatchExternalAccessResponse = Static<typeof BatchExternalAccessResponse>;
