/**
 * Builds the API as a Fastify instance without listening (tests use `app.inject()`).
 * Routes declare schemas and call one service method; services own permissions and
 * transactions; the error handler turns every failure into the one error shape.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { createPrisma, type PrismaClient } from '@switchyard/db';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawReplyDefaultExpression, type RawRequestDefaultExpression, type RawServerDefault } from 'fastify';
import { Type } from 'typebox';
import type { ApiConfig } from './config.js';
import { ApiMetrics } from './metrics.js';
import { refuseUnexpectedBodies, registerJsonParser } from './lib/json-body.js';
import { ErrorResponse } from './lib/schemas.js';
import { createValidatorFactory } from './lib/validation.js';
import { AcmeCa } from './modules/acme/acme.ca.js';
import { acmeRoutes } from './modules/acme/acme.routes.js';
import { AcmeService } from './modules/acme/acme.service.js';
import { AcmeWorker } from './modules/acme/acme.worker.js';
import { authRoutes } from './modules/auth/auth.routes.js';
import { AuthService } from './modules/auth/auth.service.js';
import { SessionCleanup } from './modules/auth/session-cleanup.js';
import { SessionStore } from './modules/auth/sessions.js';
import { membersRoutes } from './modules/members/members.routes.js';
import { MembersService } from './modules/members/members.service.js';
import { usersRoutes } from './modules/users/users.routes.js';
import { UsersService } from './modules/users/users.service.js';
import { certificatesRoutes } from './modules/certificates/certificates.routes.js';
import { CertificatesService } from './modules/certificates/certificates.service.js';
import { databasesRoutes } from './modules/databases/databases.routes.js';
import { eventsRoutes } from './modules/events/events.routes.js';
import { EventsService } from './modules/events/events.service.js';
import { EventRetention } from './modules/events/retention.js';
import { DatabasesService } from './modules/databases/databases.service.js';
import { discoveredServicesRoutes } from './modules/discovered-services/discovered-services.routes.js';
import { DiscoveredServicesService } from './modules/discovered-services/discovered-services.service.js';
import { externalAccessRoutes } from './modules/external-access/external-access.routes.js';
import { ExternalAccessService } from './modules/external-access/external-access.service.js';
import { PropagationTracker } from './modules/proxies/propagation.js';
import { proxiesRoutes } from './modules/proxies/proxies.routes.js';
import { connectionsRoutes } from './modules/connections/connections.routes.js';
import { ConnectionsService } from './modules/connections/connections.service.js';
import { tenantsRoutes } from './modules/tenants/tenants.routes.js';
import { TenantsService } from './modules/tenants/tenants.service.js';
import { tokensRoutes } from './modules/tokens/tokens.routes.js';
import { TokensService } from './modules/tokens/tokens.service.js';
import { authPlugin } from './plugins/auth.js';
import { errorHandlerPlugin } from './plugins/error-handler.js';
import { SOFTWARE_VERSION } from './version.js';

export interface Services {
  acme: AcmeService;
  acmeWorker: AcmeWorker | null;
  tenants: TenantsService;
  certificates: CertificatesService;
  databases: DatabasesService;
  externalAccess: ExternalAccessService;
  discoveredServices: DiscoveredServicesService;
  tokens: TokensService;
  propagation: PropagationTracker;
  events: EventsService;
  connections: ConnectionsService;
  auth: AuthService;
  sessions: SessionStore;
  sessionCleanup: SessionCleanup;
  users: UsersService;
  members: MembersService;
}

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient;
    services: Services;
    /** Prometheus metrics; served by metrics-server.ts on their own port, never by this app. */
    metrics: ApiMetrics;
  }
}

/**
 * Never logged: credentials, and private keys wherever they could appear (request bodies are
 * not logged by default; this holds if someone logs one).
 */
export const LOG_REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'req.body.privateKeyPem',
  'body.privateKeyPem',
  '*.privateKeyPem',
  '*.keyPem',
  '*.keyCiphertext',
  'keyring',
  '*.keyring',
];

/** Query parameters whose values never reach the log: a token or password pasted into a URL. */
const SECRET_PARAM = /token|secret|passw|key|session|csrf|auth|signature|credential/i;
/** Our API tokens wherever they appear in a URL (a path segment, an oddly named parameter). */
const TOKEN_SHAPE = /sy_[a-z0-9]{10}_[A-Za-z0-9_-]{43}/g;

/**
 * The request URL as it is logged: the API takes no credentials in the URL, but automation
 * sometimes sends one there anyway (`?token=sy_…`, `?access_token=…`); the request is refused,
 * and before this its secret stayed in the log line of every request.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).replace(TOKEN_SHAPE, '[redacted]');
  if (q < 0) return path;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair.replace(TOKEN_SHAPE, '[redacted]');
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name.replaceAll('+', ' '));
      } catch {
        // Undecodable: judge the raw name.
      }
      return SECRET_PARAM.test(name) ? `${pair.slice(0, eq)}=[redacted]` : pair.replace(TOKEN_SHAPE, '[redacted]');
    })
    .join('&');
  return `${path}?${query}`;
}

/** The API's logger: redacted paths, and requests logged without secrets in their URL. */
export function loggerOptions(config: Pick<ApiConfig, 'logLevel'>): Record<string, unknown> {
  return {
    level: config.logLevel,
    redact: { paths: LOG_REDACT, censor: '[redacted]' },
    serializers: {
      // Fastify's own request serializer, with the URL redacted.
      req: (req: { method: string; url: string; host?: string; ip?: string; headers?: Record<string, unknown>; socket?: { remotePort?: number } }) => ({
        method: req.method,
        url: redactUrl(req.url),
        version: req.headers?.['accept-version'],
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
  };
}

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface BuildOptions {
  config: ApiConfig;
  /** Fastify logger options (default: loggerOptions(config)); false in tests. */
  logger?: boolean | Record<string, unknown>;
  prisma?: PrismaClient;
  /** false: no ACME background worker (tests that drive it by hand). */
  acmeWorker?: boolean;
}

/** Incoming X-Request-Id is kept when it looks like an id, so traces join across services. */
function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(h) ? h : randomUUID();
}

/** The route-changing domain services: what the API serves and the Kubernetes controller reuses. */
export interface DomainServices {
  propagation: PropagationTracker;
  tenants: TenantsService;
  certificates: CertificatesService;
  externalAccess: ExternalAccessService;
  databases: DatabasesService;
  acme: AcmeService;
}

/** What the API process adds to the ACME service: the CA, the worker to wake and the metrics (none in the controller). */
export interface AcmeRuntime {
  ca: AcmeCa | null;
  poke: () => void;
  metrics?: ApiMetrics;
}

/**
 * Builds the services that change routes (one transaction with the version bump and the
 * NOTIFY each). The propagation tracker is not started: the caller starts and stops it.
 */
export function buildDomainServices(config: ApiConfig, prisma: PrismaClient, log: FastifyBaseLogger, acmeRuntime: AcmeRuntime = { ca: null, poke: () => {} }): DomainServices {
  const propagation = new PropagationTracker(prisma, config.databaseUrl, config.proxyLivenessMs, log);
  const tenants = new TenantsService(prisma, { upstreamSuffixes: config.defaultUpstreamSuffixes, limits: config.tenantDefaultLimits });
  const certificates = new CertificatesService({
    prisma,
    tenants,
    keyring: config.keyring,
    baseDomain: config.baseDomain,
    propagation,
    propagationTimeoutMs: config.propagationTimeoutMs,
  });
  // Without a CA (the controller) requests answer SY_ACME_UNAVAILABLE.
  const acme = new AcmeService({
    prisma,
    tenants,
    certificates,
    propagation,
    propagationTimeoutMs: config.propagationTimeoutMs,
    keyring: config.keyring,
    config: config.acme,
    ca: acmeRuntime.ca,
    log: log.child({ component: 'acme' }),
    poke: acmeRuntime.poke,
    ...(acmeRuntime.metrics ? { metrics: acmeRuntime.metrics } : {}),
  });
  const externalAccess = new ExternalAccessService({
    prisma,
    tenants,
    certificates,
    propagation,
    baseDomain: config.baseDomain,
    listeners: config.listeners,
    propagationTimeoutMs: config.propagationTimeoutMs,
    dedicatedPorts: config.dedicatedPorts,
    egressSourceAddresses: config.egressSourceAddresses,
    publicAddress: config.publicAddress,
    trustedRoots: config.acme?.rootsPem ? [config.acme.rootsPem] : [],
    acme,
  });
  const databases = new DatabasesService({
    prisma,
    tenants,
    access: externalAccess,
    controlDatabase: config.controlDatabase,
    allowLoopbackUpstreams: config.allowLoopbackUpstreams,
    proxyLivenessMs: config.proxyLivenessMs,
  });
  return { propagation, tenants, certificates, externalAccess, databases, acme };
}

export async function buildApp(opts: BuildOptions): Promise<App> {
  const { config } = opts;
  const app = Fastify({
    logger: opts.logger ?? loggerOptions(config),
    genReqId: requestId,
    bodyLimit: 256 * 1024,
    // Only the configured reverse proxies may name the client (X-Forwarded-For) and the scheme
    // (X-Forwarded-Proto); the address of anyone else's header is ignored. Without this, behind
    // a load balancer every client had the balancer's address: one shared login budget
    // (LOGIN_MAX_ATTEMPTS_PER_ADDRESS) that any stranger could use up for everybody.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    // Bodies must have the declared types: no coercion of "5432" into 5432 and no silently
    // dropped unknown fields. Query strings and params are strings on the wire, so they are
    // coerced. A factory (not setValidatorCompiler) so that this also holds in plugins that
    // call addSchema (see lib/validation.ts).
    // (Fastify types the factory as returning Ajv's compile; it is called with the route schema.)
    schemaController: { compilersFactory: { buildValidator: createValidatorFactory() as never } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Bodies are JSON only (Fastify also parses text/plain by default, into a string that then
  // failed as "body must be object"): anything else is 415 SY_UNSUPPORTED_MEDIA_TYPE.
  app.removeContentTypeParser('text/plain');
  // An empty JSON body is no body; only UTF-8; no body where none is taken (lib/json-body.ts).
  registerJsonParser(app);
  refuseUnexpectedBodies(app);

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  const prisma = opts.prisma ?? createPrisma(config.databaseUrl);
  const ownsPrisma = !opts.prisma;
  app.decorate('prisma', prisma);

  const metrics = new ApiMetrics(prisma, { onError: (err) => app.log.warn({ err: (err as Error).message }, 'metrics: loading the certificate gauges failed') });
  app.decorate('metrics', metrics);
  // Every answered request, under its route pattern (never the URL: bounded label values).
  app.addHook('onResponse', async (req, reply) => {
    metrics.observeRequest(req.routeOptions.url, req.method, reply.statusCode, reply.elapsedTime / 1000);
  });

  // ACME: the worker runs in every replica; the lease lets exactly one of them act.
  const acmeCa = config.acme && config.keyring ? new AcmeCa(config.acme, prisma, config.keyring) : null;
  let acmeWorker: AcmeWorker | null = null;
  const { propagation, tenants, certificates, externalAccess, databases, acme } = buildDomainServices(config, prisma, app.log, { ca: acmeCa, poke: () => void acmeWorker?.poke(), metrics });
  propagation.onWait = (source, result) => metrics.propagationWait(source, result);
  const discoveredServices = new DiscoveredServicesService(prisma, tenants);
  if (acmeCa && config.acme && opts.acmeWorker !== false) acmeWorker = new AcmeWorker(prisma, acme, config.acme.workerIntervalMs, app.log.child({ component: 'acme-worker' }));
  const tokens = new TokensService(prisma, tenants);
  const events = new EventsService(prisma, tenants);
  const connections = new ConnectionsService(prisma, tenants, config.proxyLivenessMs, { externalAccess, listeners: config.listeners, check: config.check });
  const sessions = new SessionStore(prisma, config.sessions.ttlMs, config.sessions.idleMs);
  const auth = new AuthService(prisma, sessions, config.loginRateLimit);
  const users = new UsersService(prisma);
  const members = new MembersService(prisma, tenants);
  // Ended sessions are refused at once; this only deletes them, on a timer, off the request path.
  const sessionCleanup = new SessionCleanup(prisma, config.sessions.idleMs, app.log);
  app.decorate('services', { acme, acmeWorker, tenants, certificates, databases, externalAccess, discoveredServices, tokens, propagation, events, connections, auth, sessions, sessionCleanup, users, members });
  // Secure cookies when served over TLS (auto) or when told so (behind a TLS load balancer).
  const secureCookies = (req: { protocol: string }) =>
    config.sessions.cookieSecure === 'always' || (config.sessions.cookieSecure === 'auto' && req.protocol === 'https');
  propagation.start();
  const retention = new EventRetention(prisma, config.connectionEventsRetentionDays, app.log);
  retention.start();
  sessionCleanup.start();
  acmeWorker?.start();
  app.addHook('onClose', async () => {
    await acmeWorker?.stop();
    await sessionCleanup.stop();
    await retention.stop();
    await propagation.stop();
    if (ownsPrisma) await prisma.$disconnect();
  });

  app.addSchema(ErrorResponse);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchyard API',
        version: SOFTWARE_VERSION,
        description:
          'Expose tenant databases on shared ports, routed by TLS SNI. Automation authenticates with `Authorization: Bearer <token>`; ' +
          'the dashboard signs in (`POST /api/v1/auth/login`) and sends the session cookie plus `X-CSRF-Token` on changes. ' +
          'Errors share one shape with a stable `code` (see docs/api-errors.md).',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: 'sy_session', description: '`__Host-sy_session` over TLS; changes also need `X-CSRF-Token`.' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (json.$id as string | undefined) ?? `def-${i}` },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  // The dashboard (a single-page app) is served from the same origin as the API.
  const serveSpa = Boolean(config.webDistDir && existsSync(config.webDistDir));
  if (serveSpa) {
    await app.register(fastifyStatic, {
      root: config.webDistDir!,
      prefix: '/',
      wildcard: false,
      // Vite names assets by content hash: cache them for good; index.html is always revalidated
      // so a new build is picked up at once.
      setHeaders: (res, path) => {
        res.setHeader('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
  }
  await app.register(errorHandlerPlugin, { serveSpa });
  await app.register(authPlugin, { prisma, adminToken: config.adminToken, sessions, secureCookies });

  app.get('/healthz', { schema: { hide: true }, config: { public: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true }, config: { public: true } }, async (_req, reply) => {
    try {
      await prisma.$queryRaw`SELECT 1`;
      return { ready: true };
    } catch {
      return reply.status(503).send({ ready: false });
    }
  });
  app.get('/api/v1/meta', {
    config: { public: true },
    schema: {
      tags: ['meta'],
      summary: 'Public facts clients need: base domain and shared ports',
      security: [],
      response: {
        200: Type.Object(
          {
            version: Type.String(),
            baseDomain: Type.String(),
            listeners: Type.Array(Type.Object({ name: Type.String(), protocol: Type.String(), port: Type.Integer() })),
            propagationTimeoutMs: Type.Integer({ description: 'How long a change may take to reach every live proxy before the API reports it as not applied' }),
            dedicatedPorts: Type.Boolean({ description: 'Whether routes can get a dedicated port (for clients without SNI)' }),
            egressSourceAddresses: Type.Array(Type.String(), { description: 'Source addresses upstream connections may leave from (for upstream firewalls)' }),
            acme: Type.Boolean({ description: 'Whether ACME certificates can be requested (ACME_DIRECTORY_URL and the keyring configured); otherwise requests answer SY_ACME_UNAVAILABLE' }),
          },
          {
            examples: [
              {
                version: '0.1.0',
                baseDomain: 'db.example.com',
                listeners: [
                  { name: 'postgres', protocol: 'postgres', port: 5432 },
                  { name: 'tls', protocol: 'tls', port: 443 },
                ],
                propagationTimeoutMs: 10000,
                dedicatedPorts: true,
                egressSourceAddresses: ['203.0.113.10'],
                acme: true,
              },
            ],
          },
        ),
      },
    },
  }, async () => ({
    version: SOFTWARE_VERSION,
    baseDomain: config.baseDomain,
    listeners: config.listeners.map((l) => ({ name: l.name, protocol: l.protocol, port: l.publicPort })),
    propagationTimeoutMs: config.propagationTimeoutMs,
    dedicatedPorts: config.dedicatedPorts.length > 0,
    egressSourceAddresses: config.egressSourceAddresses,
    acme: config.acme !== null && config.keyring !== null,
  }));

  await app.register(authRoutes, { secureCookies });
  await app.register(usersRoutes);
  await app.register(tenantsRoutes);
  await app.register(membersRoutes);
  await app.register(databasesRoutes);
  await app.register(externalAccessRoutes);
  await app.register(discoveredServicesRoutes);
  await app.register(tokensRoutes);
  await app.register(certificatesRoutes);
  await app.register(acmeRoutes);
  await app.register(proxiesRoutes);
  await app.register(eventsRoutes);
  await app.register(connectionsRoutes);

  return app;
}
