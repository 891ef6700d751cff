/**
 * Why a connection ended, as stable codes. Each code has a kind (a metric label: who is
 * at fault) and, for refusals, the message a client is shown — safe to show to anyone:
 * it names what to do, never internal addresses or stack traces.
 */
import type { Engine } from '@switchyard/core';
import { SqlState, TlsAlert } from '@switchyard/wire';

export type ErrorKind = 'client' | 'upstream' | 'config' | 'policy' | 'ratelimit' | 'internal' | 'shutdown';

export interface Refusal {
  kind: ErrorKind;
  /** TLS alert sent when the client is waiting for a ServerHello. */
  alert: number;
  sqlstate: string;
  message: string;
  hint?: string;
}

const TLS_HINT =
  'Connect with TLS and the database host name, e.g. psql "host=<database>.<tenant>.<domain> sslmode=require" (libpq 14+ sends SNI).';

export const REFUSALS = {
  handshake_timeout: {
    kind: 'client',
    alert: TlsAlert.handshakeFailure,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: TLS handshake not completed in time',
    hint: 'The connection must be established within the proxy handshake deadline; retry, and check the network between client and proxy.',
  },
  hello_invalid: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: malformed TLS ClientHello',
  },
  not_tls: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: expected a TLS ClientHello',
  },
  tls_required: {
    kind: 'client',
    alert: TlsAlert.handshakeFailure,
    sqlstate: SqlState.invalidAuthorization,
    message: 'Switchyard requires TLS with SNI: this port routes connections by the TLS server name',
    hint: TLS_HINT,
  },
  protocol_violation: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: invalid PostgreSQL startup packet',
  },
  data_after_ssl_request: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: received unencrypted data after SSL request',
  },
  // CancelRequests (pg/cancel.ts). Never answered, as PostgreSQL answers none: the client's
  // connection is closed; the reason is for metrics and connection events only.
  cancel_unknown_key: {
    kind: 'client',
    alert: TlsAlert.handshakeFailure,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: cancel request for a key this proxy did not issue (passthrough sessions cannot be cancelled in plaintext)',
  },
  cancel_upstream_failed: {
    kind: 'upstream',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.unableToConnect,
    message: 'Switchyard: the cancel request could not be delivered to the database server',
  },
  no_sni: {
    kind: 'client',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.invalidAuthorization,
    message: 'Switchyard: the TLS ClientHello carries no server name (SNI)',
    hint: TLS_HINT,
  },
  // Clients without SNI in terminate mode (pg/endpoint.ts): the Neon `endpoint` option.
  endpoint_required: {
    kind: 'client',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.rejectedConnection,
    message: 'Switchyard: no database named: the client sent no TLS server name (SNI) and no endpoint option',
    hint: 'Connect with the database host name and SNI (libpq 14+: host=<database>.<tenant>.<domain>, sslsni=1, the default), or name the database in the options: options=endpoint=<database>.<tenant> (URI: ?options=endpoint%3D<database>.<tenant>).',
  },
  endpoint_invalid: {
    kind: 'client',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.rejectedConnection,
    message: 'Switchyard: the endpoint option must name <database>.<tenant> or the full host name, once',
    hint: 'Use options=endpoint=<database>.<tenant>, e.g. options=endpoint=orders.acme.',
  },
  endpoint_mismatch: {
    kind: 'client',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.rejectedConnection,
    message: 'Switchyard: the endpoint option names another database than the TLS server name (SNI)',
    hint: 'Remove the endpoint option, or make it name the same database as the host name.',
  },
  endpoint_passthrough: {
    kind: 'config',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.rejectedConnection,
    message: 'Switchyard: this database is exposed in TLS passthrough mode, which needs the host name in SNI; the endpoint option works only in terminate mode',
    hint: 'Connect with the database host name and sslsni=1 (libpq 14+), or use its dedicated port.',
  },
  unknown_host: {
    kind: 'config',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.unknownDatabase,
    message: 'Switchyard: no database is exposed under this host name',
    hint: 'Check the host name (or endpoint option) against the connection string the API gave, and that external access is enabled.',
  },
  route_disabled: {
    kind: 'config',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.rejectedConnection,
    message: 'Switchyard: external access to this database is disabled',
    hint: 'Its owner can enable it again (PUT …/external-access {"enabled": true}).',
  },
  source_not_allowed: {
    kind: 'policy',
    alert: TlsAlert.accessDenied,
    sqlstate: SqlState.rejectedConnection,
    message: 'Switchyard: your address is not allowed to reach this database',
    hint: "Connect from an address in the database's source CIDR allowlist, or ask its owner to add yours.",
  },
  route_connection_limit: {
    kind: 'ratelimit',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.tooManyConnections,
    message: 'Switchyard: too many connections to this database',
    hint: 'The database has reached its limit of concurrent connections through the proxy; close idle connections (or use a pooler) and retry.',
  },
  tenant_connection_limit: {
    kind: 'ratelimit',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.tooManyConnections,
    message: "Switchyard: too many connections to this tenant's databases",
    hint: 'The tenant has reached its limit of concurrent connections across all its databases; close idle connections (or use a pooler) and retry.',
  },
  client_rate_limited: {
    kind: 'ratelimit',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.tooManyConnections,
    message: 'Switchyard: too many new connections from your address',
    hint: 'Open connections less often (reuse connections or use a pool) and retry in a moment.',
  },
  not_ready: {
    kind: 'internal',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.cannotConnectNow,
    message: 'Switchyard: the proxy has not loaded its routes yet; retry shortly',
  },
  upstream_unreachable: {
    kind: 'upstream',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.unableToConnect,
    message: 'Switchyard: the database server is not reachable',
    hint: 'The database may be down or restarting; retry shortly. If it persists, its owner should check the upstream address.',
  },
  upstream_tls_refused: {
    kind: 'upstream',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.unableToConnect,
    message: 'Switchyard: the database server does not accept TLS',
    hint: "The route is set to speak TLS to the database (upstreamTls) but the server refused SSLRequest; its owner should enable TLS on the server or set upstreamTls to false.",
  },
  // Passthrough: the client's TLS runs to the database itself, so upstreamTls plays no part
  // (it is a terminate-mode setting) and the server must accept TLS.
  upstream_tls_refused_passthrough: {
    kind: 'upstream',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.unableToConnect,
    message: 'Switchyard: the database server does not accept TLS',
    hint: "This database is exposed in TLS passthrough mode: TLS runs from the client to the database server itself, which refused it (SSLRequest answered N). Its owner should enable TLS on the server (ssl = on), or switch the route to terminate mode, where the proxy ends TLS and may reach the server in plaintext (upstreamTls: false).",
  },
  upstream_protocol_error: {
    kind: 'upstream',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.unableToConnect,
    message: 'Switchyard: the database server answered unexpectedly',
  },
  // Routing and upstreams (docs/proxy.md "Routing"): PROXY protocol, HTTP, destinations, endpoints.
  proxy_header_invalid: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: malformed PROXY protocol header',
  },
  proxy_header_untrusted: {
    kind: 'policy',
    alert: TlsAlert.accessDenied,
    sqlstate: SqlState.rejectedConnection,
    message: 'Switchyard: PROXY protocol headers are accepted only from trusted load balancers',
  },
  proxy_header_required: {
    kind: 'client',
    alert: TlsAlert.handshakeFailure,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: this port routes by the PROXY protocol header, which was missing',
  },
  unknown_destination: {
    kind: 'config',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.unknownDatabase,
    message: 'Switchyard: no route serves this destination address',
  },
  http_invalid: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: malformed HTTP request',
  },
  http_head_too_large: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: HTTP request head too large',
  },
  http_version_unsupported: {
    kind: 'client',
    alert: TlsAlert.protocolVersion,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: only HTTP/1.0 and HTTP/1.1 are routed on this port',
  },
  no_host: {
    kind: 'client',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.invalidAuthorization,
    message: 'Switchyard: the request carries no Host header',
  },
  misdirected: {
    kind: 'config',
    alert: TlsAlert.unrecognizedName,
    sqlstate: SqlState.unknownDatabase,
    message: 'Switchyard: this host name is served on another port',
  },
  upstream_forbidden: {
    kind: 'config',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.unableToConnect,
    message: 'Switchyard: the database server resolves to an address routes may not reach',
  },
  egress_source_unavailable: {
    kind: 'config',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.unableToConnect,
    message: 'Switchyard: the route’s egress source address is not available on this proxy',
  },
  // TLS termination (apps/proxy/src/tls/). A certificate problem refuses only its own host name.
  // libpq's plaintext retry reads 08004, as for a disabled route: only the owner can fix it, and
  // 57P03 (cannot_connect_now, "starting up") would keep a client's retry loop spinning.
  certificate_unavailable: {
    kind: 'config',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.rejectedConnection,
    message: 'Switchyard: the TLS certificate of this host name cannot be used; its owner must replace it',
  },
  alpn_required: {
    kind: 'client',
    alert: TlsAlert.noApplicationProtocol,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: direct TLS to PostgreSQL requires ALPN "postgresql" (libpq 17+ sends it with sslnegotiation=direct)',
  },
  acme_no_challenge: {
    kind: 'client',
    alert: TlsAlert.noApplicationProtocol,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: acme-tls/1 (TLS-ALPN-01) for a host name with no pending ACME challenge',
  },
  certificate_expired: {
    kind: 'config',
    alert: TlsAlert.certificateExpired,
    sqlstate: SqlState.rejectedConnection,
    message: 'Switchyard: the TLS certificate of this host name has expired; its owner must replace it',
  },
  tls_handshake_failed: {
    kind: 'client',
    alert: TlsAlert.handshakeFailure,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: TLS handshake failed (protocol version, cipher or ALPN not acceptable)',
  },
  upstream_tls_failed: {
    kind: 'upstream',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.unableToConnect,
    message: 'Switchyard: TLS to the database server failed',
    hint: "The proxy could not complete TLS with the database server; its owner should check the server's TLS settings.",
  },
  upstream_certificate_invalid: {
    kind: 'upstream',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.unableToConnect,
    message: "Switchyard: the database server's certificate failed verification against the route's upstream CA",
    hint: "The route's owner should update upstreamCa, or the server's certificate: its names must include the upstream host, or the route's upstreamServerName when one is set (an upstream reached by IP address is checked against the address otherwise).",
  },
  // The tls listener's sniffer (sniff/sniffer.ts): libpq spoke PostgreSQL in plaintext (after
  // the 'N' that answers its SSLRequest, or with sslmode=disable) to a port that expects TLS
  // from the first byte. Answered with an ErrorResponse, which libpq prints.
  postgres_on_tls_port: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.invalidAuthorization,
    message: 'Switchyard: this port expects TLS from the first byte (a TLS ClientHello), not a plaintext PostgreSQL startup',
    hint: "Connect to the proxy's PostgreSQL port (its postgres listener) with sslmode=require or stricter, or keep this port and start with TLS: sslnegotiation=direct (libpq 17+).",
  },
  // The tls listener's sniffer: a plain HTTP request (an http:// URL) on a port that expects
  // TLS from the first byte. Answered 400 with this message (sniff/sniffer.ts).
  http_on_tls_port: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: a plain HTTP request was sent to a port that expects TLS; use https://',
  },
  // The tls listener's sniffer: a plaintext Redis command (redis-cli without --tls) on a port
  // that expects TLS from the first byte. Answered with a RESP error (sniff/sniffer.ts).
  redis_on_tls_port: {
    kind: 'client',
    alert: TlsAlert.decodeError,
    sqlstate: SqlState.protocolViolation,
    message: 'Switchyard: this port expects TLS from the first byte; connect with TLS and the host name as SNI (redis-cli --tls --sni <host>)',
  },
  /**
   * Ended through the API (DELETE …/connections/{id}) before it was handed over: a
   * terminate-mode PostgreSQL client reads it inside TLS, others get the alert. Kind
   * `shutdown`: recorded as `aborted`, as before (an order, not a refusal or a failure). The
   * reason is the same `terminated` an established session ended by an order records.
   */
  terminated: {
    kind: 'shutdown',
    alert: TlsAlert.handshakeFailure,
    sqlstate: SqlState.adminShutdown,
    message: 'Switchyard: terminating connection due to administrator command',
    hint: 'The connection was ended through the Switchyard API before it was established; connect again if you still need it.',
  },
  /**
   * The drain deadline reached a connection not established yet (connection.ts
   * `closeForShutdown`: its hello still coming, its upstream still dialled): refused in its
   * protocol, recorded `aborted`. Its words are also what a terminate-mode PostgreSQL session
   * still open at the deadline reads (SESSION_ENDINGS), as PostgreSQL's own shutdown sends
   * 57P01; that session's event keeps the close reason `proxy_shutdown`.
   */
  shutting_down: {
    kind: 'shutdown',
    alert: TlsAlert.internalError,
    sqlstate: SqlState.adminShutdown,
    message: 'Switchyard: the proxy is shutting down; reconnect',
    hint: 'The proxy that carried this session is stopping (a restart or a deployment). A new connection reaches a proxy that is running.',
  },
} as const satisfies Record<string, Refusal>;

export type RefusalCode = keyof typeof REFUSALS;

/**
 * What an established terminate-mode PostgreSQL session reads when the proxy ends it
 * (pipe.ts `endPostgresSession`, at a boundary of the server's stream): FATAL 57P01
 * admin_shutdown, as PostgreSQL's own `pg_terminate_backend` and shutdown send, worded for
 * who ended it. Keyed by the session's close reason. Passthrough sessions are closed bare
 * (the proxy cannot write into their TLS).
 */
export const SESSION_ENDINGS = {
  proxy_shutdown: { sqlstate: SqlState.adminShutdown, message: REFUSALS.shutting_down.message, hint: REFUSALS.shutting_down.hint },
  route_disabled_closed: {
    sqlstate: SqlState.adminShutdown,
    message: 'Switchyard: external access to this database was disabled; the session was closed',
    hint: REFUSALS.route_disabled.hint,
  },
  terminated: {
    sqlstate: SqlState.adminShutdown,
    message: REFUSALS.terminated.message,
    hint: 'The session was ended through the Switchyard API (DELETE …/connections/{id}); connect again if you still need it.',
  },
} as const satisfies Record<string, { sqlstate: string; message: string; hint: string }>;

/**
 * Who reads a refusal's text: the engine of the route once the SNI (or Host) matched one;
 * before a match, what the listener kind expects (`audienceOfListener`). The catalogue's
 * `message` is the PostgreSQL wording (psql shows it; the hints are PostgreSQL-only too);
 * the other engines' clients — curl, browsers, kubectl, redis-cli — must not be told about
 * "the database server" of a web app or an API server.
 */
export type Audience = Engine | 'any';

interface Words {
  /** What the route exposes, after "this" / "no": `database`, `Kubernetes API server`, `service`. */
  thing: string;
  /** Its upstream, after "the": `database server`, `Redis server`, `upstream server`. */
  server: string;
  /** A tenant's routes, after "this tenant's". */
  things: string;
}

const WORDS: Record<Audience, Words> = {
  postgres: { thing: 'database', server: 'database server', things: 'databases' },
  redis: { thing: 'Redis database', server: 'Redis server', things: 'databases' },
  mongodb: { thing: 'MongoDB database', server: 'MongoDB server', things: 'databases' },
  'kubernetes-api': { thing: 'Kubernetes API server', server: 'Kubernetes API server', things: 'exposed services' },
  http: { thing: 'service', server: 'upstream server', things: 'exposed services' },
  tls: { thing: 'service', server: 'upstream server', things: 'exposed services' },
  any: { thing: 'service', server: 'upstream server', things: 'exposed services' },
};

/**
 * The refusals whose text names what was refused. For `postgres` each gives the catalogue's
 * `message` exactly (errors.test.ts holds every code to it), so PostgreSQL clients read what they
 * always read. Codes not listed here say nothing engine-specific (or only PostgreSQL clients
 * ever read them: the endpoint option, SSLRequest, cancel requests).
 */
const WORDED: Partial<Record<RefusalCode, (w: Words) => string>> = {
  unknown_host: (w) => `Switchyard: no ${w.thing} is exposed under this host name`,
  route_disabled: (w) => `Switchyard: external access to this ${w.thing} is disabled`,
  source_not_allowed: (w) => `Switchyard: your address is not allowed to reach this ${w.thing}`,
  route_connection_limit: (w) => `Switchyard: too many connections to this ${w.thing}`,
  tenant_connection_limit: (w) => `Switchyard: too many connections to this tenant's ${w.things}`,
  upstream_unreachable: (w) => `Switchyard: the ${w.server} is not reachable`,
  upstream_tls_refused: (w) => `Switchyard: the ${w.server} does not accept TLS`,
  upstream_tls_refused_passthrough: (w) => `Switchyard: the ${w.server} does not accept TLS`,
  upstream_protocol_error: (w) => `Switchyard: the ${w.server} answered unexpectedly`,
  upstream_forbidden: (w) => `Switchyard: the ${w.server} resolves to an address routes may not reach`,
  upstream_tls_failed: (w) => `Switchyard: TLS to the ${w.server} failed`,
  upstream_certificate_invalid: (w) => `Switchyard: the ${w.server}'s certificate failed verification against the route's upstream CA`,
};

/**
 * Text of `code` for `audience`. Plain-HTTP listeners (`plainHttp`) have no TLS handshake to
 * time out: their deadline covers the request head and the upstream dial (408).
 */
export function refusalMessage(code: RefusalCode, audience: Audience, plainHttp = false): string {
  if (plainHttp && code === 'handshake_timeout') return 'Switchyard: the HTTP request was not received and routed in time';
  const worded = WORDED[code];
  return worded ? worded(WORDS[audience]) : REFUSALS[code].message;
}

/** Before a route matched: what the listener kind's clients are (docs/proxy.md "Listeners"). */
export function audienceOfListener(kind: string): Audience {
  if (kind === 'postgres' || kind === 'egress') return 'postgres';
  return kind === 'http' ? 'http' : 'any';
}

/** Reasons an established (piped) connection ends (docs/proxy.md "Close reasons"). */
export const CLOSE_REASONS = [
  'client_closed',
  'upstream_closed',
  'client_error',
  'upstream_error',
  'route_disabled_closed',
  'proxy_shutdown',
  /** Someone ended it through the API (the event's `endedBy` names them). */
  'terminated',
  /** Neither side sent a byte for the listener's idle timeout (off unless configured). */
  'idle_timeout',
  /** The client disconnected before it was routed (port scanners, LB TCP health checks). */
  'client_left_during_handshake',
  /** A CancelRequest delivered to the backend that owns the key (terminate-mode sessions). */
  'cancel_forwarded',
  /** A CancelRequest handed to the worker that minted its key (cluster mode). */
  'cancel_forwarded_to_worker',
  /** An ACME validation (TLS-ALPN-01 or HTTP-01) answered by the proxy itself. */
  'acme_challenge_answered',
] as const;

export type CloseReason = (typeof CLOSE_REASONS)[number];

/** ok: proxied; rejected: refused (client, policy, config); error: upstream or internal failure; aborted: client left early. */
export type ConnectionOutcome = 'ok' | 'rejected' | 'error' | 'aborted';

export type ConnectionReason = RefusalCode | CloseReason;
