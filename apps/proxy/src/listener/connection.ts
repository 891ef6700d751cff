/**
 * One client connection, from accept to close:
 *   accept → deadline → sniff (pure state machine) → match (in-memory table) → policy →
 *   dial upstream → replay the buffered hello → copy both ways.
 * Nothing here awaits the control database. A refused connection is told why in the
 * language it is speaking at that moment (PostgreSQL ErrorResponse or TLS alert) and closed.
 */
import { isIPv4, type Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import { destinationKey, formatIp, parseIp, type Endpoint, type IpAddress } from '@switchyard/core';
import { BackendKeyRewriter, buildErrorResponse, buildTlsAlert, type BackendKey, type PgError } from '@switchyard/wire';
import type { ConnectionEventInput } from '../audit/connection-log.js';
import { audienceOfListener, REFUSALS, SESSION_ENDINGS, type CloseReason, type ConnectionOutcome, type ConnectionReason, type ErrorKind, type RefusalCode } from '../errors.js';
import { Cancel, CANCELLED } from '../pipe/cancel.js';
import { DialError } from '../pipe/dial.js';
import { endPostgresSession, pipeBoth, type PgEnd, type PipeEnd, type PipeOptions } from '../pipe/pipe.js';
import { UpstreamReads } from '../pipe/upstream-reads.js';
import type { CancelOutcome } from '../pg/cancel.js';
import { routeForEndpoint } from '../pg/endpoint.js';
import { admit } from '../policy/admission.js';
import { slotKey, type SlotKey } from '../policy/limits.js';
import { rateKey } from '../policy/rate-limit.js';
import { normalizeServerName, type RouteEntry } from '../router/route-table.js';
import type { AnySniffResult } from '../sniff/http-sniffer.js';
import { ACME_HTTP_PREFIX, ACME_TLS_ALPN, answerAcmeTlsAlpn } from '../tls/acme.js';
import { ALPN_POSTGRESQL, answerOverTls, terminatePostgres, terminateStream, upstreamTls } from '../tls/terminate.js';
import type { Connected, ConnectRequest } from '../upstream/connector.js';
import type { ListenerContext } from './context.js';
import type { OpenConnectionInfo } from './registry.js';
import { httpRefusal } from './http-refusals.js';
import { redisRefusal, terminateAnswer } from './terminate-refusals.js';
import { createPrelude, createSniffer, findRoute, isRaw, type KindSniffer } from './kinds.js';
import type { ProxyPrelude } from './proxy-prelude.js';

/**
 * Refusals worth explaining to a libpq client that retries in plaintext (sslmode=prefer):
 * every refusal of a hello that named a route, so the retry is not told "TLS with SNI is
 * required" when it sent both. Upstream failures included: in passthrough the proxy has
 * already answered 'S' when the dial fails, so the alert is all the TLS attempt can carry.
 */
const REMEMBERED: ReadonlySet<RefusalCode> = new Set([
  'unknown_host',
  'route_disabled',
  'source_not_allowed',
  'no_sni',
  'route_connection_limit',
  'tenant_connection_limit',
  'client_rate_limited',
  'certificate_unavailable',
  'certificate_expired',
  'not_ready',
  'upstream_unreachable',
  'upstream_tls_refused',
  'upstream_tls_refused_passthrough',
  'upstream_tls_failed',
  'upstream_certificate_invalid',
  'upstream_protocol_error',
  'upstream_forbidden',
  'egress_source_unavailable',
  'terminated',
]);

const CANCEL_RESULT: Record<CancelOutcome | 'rate_limited', { outcome: ConnectionOutcome; reason: ConnectionReason }> = {
  rate_limited: { outcome: 'rejected', reason: 'client_rate_limited' },
  forwarded: { outcome: 'ok', reason: 'cancel_forwarded' },
  forwarded_to_worker: { outcome: 'ok', reason: 'cancel_forwarded_to_worker' },
  unknown_key: { outcome: 'rejected', reason: 'cancel_unknown_key' },
  upstream_failed: { outcome: 'error', reason: 'cancel_upstream_failed' },
};

/**
 * How a refusal is recorded: the upstream's or the proxy's failure is an `error`; an order
 * (`terminated`) ended a connection nobody refused (`aborted`, as a client leaving early);
 * everything else was refused.
 */
function outcomeOf(refusal: { kind: ErrorKind }): ConnectionOutcome {
  if (refusal.kind === 'upstream' || refusal.kind === 'internal') return 'error';
  return refusal.kind === 'shutdown' ? 'aborted' : 'rejected';
}

/** Grace period for a refused client to read our error before we drop the socket. */
const REFUSAL_LINGER_MS = 1000;

/**
 * What an established terminate-mode PostgreSQL session reads when the proxy ends it — at the
 * drain deadline, on a route disabled with `close`, on an order through the API — at a
 * boundary of the server's stream (errors.ts SESSION_ENDINGS: 57P01, worded for the cause).
 */
const GOODBYES: Record<keyof typeof SESSION_ENDINGS, Buffer> = {
  proxy_shutdown: buildErrorResponse(SESSION_ENDINGS.proxy_shutdown),
  route_disabled_closed: buildErrorResponse(SESSION_ENDINGS.route_disabled_closed),
  terminated: buildErrorResponse(SESSION_ENDINGS.terminated),
};
/**
 * How long the server's current message may take to end once the proxy decided to end the
 * session (a large DataRow mid-flight, a client too slow to take it); the linger follows.
 */
const SESSION_END_BOUNDARY_WAIT_MS = 500;
/**
 * The longest a connection ended at the drain deadline takes to close: the boundary wait, then
 * the linger (refusals linger as long). The drain waits this, and a little more for the close
 * handlers to record their events (dataplane.ts `drain`).
 */
export const SHUTDOWN_CLOSE_MAX_MS = SESSION_END_BOUNDARY_WAIT_MS + REFUSAL_LINGER_MS;


/**
 * The client socket's handlers while sniffing are shared by every connection (the socket finds
 * its connection under a symbol) rather than closures per connection: less to allocate per
 * accept and less for an idle connection to hold.
 */
const CONN = Symbol('switchyard.connection');
type Owned = Socket & { [CONN]?: ClientConnection };

function onClientData(this: Owned, chunk: Buffer): void {
  this[CONN]!.onData(chunk);
}
function onClientEnd(this: Owned): void {
  this[CONN]!.onSniffEnd();
}
function onClientClose(this: Owned): void {
  this[CONN]!.onSniffClose();
}
/** The handshake deadline: a shared function given the connection (no closure per accept). */
function onDeadline(conn: ClientConnection): void {
  conn.onDeadline();
}
function onClientError(): void {
  // ECONNRESET and friends while sniffing: the close handler records it.
}

export function handleConnection(socket: Socket, ctx: ListenerContext): void {
  new ClientConnection(socket, ctx).start();
}

class ClientConnection {
  private readonly startedAt = Date.now();
  /** The client as audited: the socket's peer, or the PROXY header's source when trusted. */
  private clientAddress: string;
  private clientPort: number;
  /**
   * `clientAddress` parsed, on first use (`clientIp()`): only source allowlists, the rate
   * limiter and PROXY-protocol trust need it, and parsing builds BigInts.
   */
  private parsedClient: IpAddress | null | undefined = undefined;
  /**
   * What the client dialled (the PROXY header's destination when present). Read from the
   * socket only when a PROXY header to the upstream needs it (`local()`): a getsockname
   * system call per connection otherwise.
   */
  private localAddress: string | null = null;
  private localPort = 0;
  /** `destination` listeners: canonical address:port from the PROXY header. */
  private destination: string | null = null;
  /** Dropped once the hello is read (an idle connection keeps no parser state). */
  private sniffer: KindSniffer | null;
  /** What the client expects to read if refused after the sniffer was dropped. */
  private speaksAfterHello: 'postgres' | 'tls' | 'http' = 'tls';
  private prelude: ProxyPrelude | null;
  /** The client opened with a ClientHello on a PostgreSQL-style listener (no SSLRequest). */
  private directTls = false;
  /** The endpoint reached (`host:port`), held in its least-connections count until `finish`. */
  private upstreamKey: string | null = null;
  private upstreamEndpoint: Endpoint | null = null;
  /** The address of `upstreamEndpoint` dialled (where a cancel for this session must go). */
  private upstreamAddress: string | null = null;
  /** Terminate-mode PostgreSQL: the key minted for this session (released in `finish`). */
  private cancelKey: BackendKey | null = null;
  /** A CancelRequest is being delivered; the close of the client socket is not a departure. */
  private cancelling = false;
  /** Terminate-mode PostgreSQL: refusals after the handshake are ErrorResponses inside TLS. */
  private pgInTls = false;
  /**
   * Terminate mode, other engines, while the upstream is dialled (before our TLS socket
   * exists): how to answer in the client's protocol (`refuseRouted` with the hello), for an
   * order or a route closed meanwhile. Dropped once established.
   */
  private refuseDialling: ((code: RefusalCode) => void) | null = null;
  private deadline: NodeJS.Timeout | null = null;
  /**
   * The upstream is being dialled: the client's part of the handshake is done, so a deadline
   * that strikes now is the upstream's, refused as `upstream_unreachable`.
   */
  private dialling = false;
  private finished = false;
  private sni: string | null = null;
  private alpn: string | null = null;
  private route: RouteEntry | null = null;
  private upstream: Socket | null = null;
  /** Terminate mode: the server TLS socket over the client socket, and its outcome. */
  private tls: TLSSocket | null = null;
  private tlsSecured = false;
  private tlsVersion: string | null = null;
  /** Cancels a dial or TLS step in flight; dropped once the pipe runs. */
  private abort: Cancel | null = new Cancel();
  private closeReason: CloseReason | null = null;
  /** The connection-cap slot this connection holds (returned in `finish`). */
  private slot: SlotKey | null = null;
  /** The registry id once routed (`<worker>.<seq>`). */
  private liveId: string | null = null;
  /** Who terminated it through the API. */
  private endedBy: string | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ListenerContext,
  ) {
    const raw = socket.remoteAddress ?? '';
    // Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d; audit the address people know.
    this.clientAddress = raw.startsWith('::ffff:') && isIPv4(raw.slice(7)) ? raw.slice(7) : raw;
    this.clientPort = socket.remotePort ?? 0;
    this.sniffer = createSniffer(ctx);
    this.prelude = createPrelude(ctx, this.clientAddress);
  }

  /** The client's address parsed (cached; reset when a PROXY header names another). */
  private clientIp(): IpAddress | null {
    if (this.parsedClient === undefined) this.parsedClient = parseIp(this.clientAddress);
    return this.parsedClient;
  }

  start(): void {
    const s = this.socket;
    this.ctx.onConnectionStart(this);
    if (!this.ctx.socketOptionsInherited) s.setNoDelay(true);
    this.ctx.counters.open.n++;
    // Answer in the language the client is waiting for when the deadline strikes: a libpq
    // client still sending its startup packet reads an ErrorResponse, a TLS client an alert.
    this.deadline = setTimeout(onDeadline, this.ctx.config.handshakeTimeoutMs, this);
    (s as Owned)[CONN] = this;
    s.on('error', onClientError);
    // `on`, not `once`: both are emitted at most once, and `once` allocates a wrapper each.
    s.on('end', onClientEnd);
    s.on('close', onClientClose);
    // Dedicated ports forward bytes unread: route at once (server-first protocols included).
    if (!this.sniffer && !this.prelude) return this.routeRaw(Buffer.alloc(0));
    s.on('data', onClientData);
  }

  /**
   * The handshake deadline struck (`start`: accept → upstream connected). While the upstream
   * is dialled (`connectUpstream`) the client's part is done, so it is not blamed
   * (`handshake_timeout`, 408 on `http` listeners) for endpoints that do not answer: it is
   * refused as for an unreachable upstream, in the language it speaks then.
   */
  onDeadline(): void {
    if (!this.dialling) {
      this.ctx.metrics.handshakeErrors.inc({ listener: this.ctx.spec.name, kind: 'timeout' });
      return this.refuse('handshake_timeout', this.sniffer?.speaks() ?? (isRaw(this.ctx) ? 'none' : this.speaksAfterHello));
    }
    this.ctx.log.warn({ route: this.route?.hostname, timeoutMs: this.ctx.config.handshakeTimeoutMs }, 'upstream dial timed out');
    if (this.pgInTls) return this.refuse('upstream_unreachable', 'none');
    if (this.refuseDialling && !this.tls) return this.refuseDialling('upstream_unreachable');
    this.refuse('upstream_unreachable', this.sniffer?.speaks() ?? (isRaw(this.ctx) ? 'none' : this.speaksAfterHello));
  }

  /** The hello is in: stop reading until the upstream is ready, and drop the parser. */
  private handOver(): void {
    this.socket.removeListener('data', onClientData);
    this.socket.removeListener('end', onClientEnd);
    this.socket.pause();
    if (this.sniffer) this.speaksAfterHello = this.sniffer.speaks();
    this.sniffer = null;
  }

  onData(chunk: Buffer): void {
    if (this.prelude) return this.feedPrelude(chunk);
    this.sniff(chunk);
  }

  /** PROXY protocol header first (listener option `proxy-protocol`). */
  private feedPrelude(chunk: Buffer): void {
    const r = this.prelude!.feed(chunk);
    if (r.type === 'need-more') return;
    if (r.type === 'refuse') {
      if (r.detail) this.ctx.metrics.handshakeErrors.inc({ listener: this.ctx.spec.name, kind: `proxy-${r.detail}` });
      return this.refuse(r.code, 'none');
    }
    this.prelude = null;
    const h = r.header;
    if (h?.command === 'proxy' && h.source && h.destination) {
      this.clientAddress = h.source.address;
      this.parsedClient = undefined;
      this.clientPort = h.source.port;
      this.localAddress = h.destination.address;
      this.localPort = h.destination.port;
      const ip = parseIp(h.destination.address);
      // Canonical like the route's `destination` (IPv4-mapped IPv6 counts as IPv4).
      if (ip) this.destination = destinationKey(formatIp(ip), ip.family, h.destination.port);
    }
    if (!this.sniffer) return this.routeRaw(r.rest);
    if (r.rest.length > 0) this.sniff(r.rest);
  }

  /** Dedicated ports and destination listeners: no sniffing; `bytes` are replayed as they are. */
  private routeRaw(bytes: Buffer): void {
    this.handOver();
    this.routeHello(bytes);
  }

  private sniff(chunk: Buffer): void {
    let r: AnySniffResult;
    try {
      r = this.sniffer!.feed(chunk);
    } catch (err) {
      this.ctx.log.error({ err }, 'sniffer threw');
      this.refuse('hello_invalid', 'none');
      return;
    }
    switch (r.type) {
      case 'need-more':
        return;
      case 'reply':
        this.socket.write(r.bytes);
        return;
      case 'refuse':
        if (r.detail) this.ctx.metrics.handshakeErrors.inc({ listener: this.ctx.spec.name, kind: r.detail });
        this.refuse(r.code, r.speak);
        return;
      case 'cancel':
        this.handOver();
        this.cancel(r.processId, r.secretKey, null);
        return;
      case 'hello':
        this.handOver();
        this.sni = r.hello.serverName;
        this.alpn = r.hello.alpn[0] ?? null;
        this.directTls = this.ctx.spec.protocol !== 'tls' && !r.viaSslRequest;
        // RFC 8737: a TLS-ALPN-01 validation offers acme-tls/1 (only). The proxy answers it
        // itself or refuses it; it never reaches an upstream.
        if (r.hello.alpn.includes(ACME_TLS_ALPN)) return this.answerTlsAlpn01(r.bytes);
        this.routeHello(r.bytes, r.hello.alpn);
        return;
      case 'request':
        this.handOver();
        this.sni = r.host;
        if (r.target.startsWith(ACME_HTTP_PREFIX) && this.answerHttp01(r.host, r.method, r.target)) return;
        this.routeHello(r.bytes);
        return;
    }
  }

  /**
   * The client half-closed (FIN) before a decision. Sockets allow half-open connections (for
   * the pipe), so without this a truncated hello would wait for the handshake deadline.
   * Truncated message: say so in the client's language; nothing buffered: it just left.
   */
  onSniffEnd(): void {
    if (this.finished) return;
    // Prelude still waiting (a PROXY header cut short) or no sniffer: the client just left.
    const r = this.prelude ? null : (this.sniffer?.endOfInput() ?? null);
    if (r?.type === 'refuse') {
      if (r.detail) this.ctx.metrics.handshakeErrors.inc({ listener: this.ctx.spec.name, kind: r.detail });
      this.refuse(r.code, r.speak);
      return;
    }
    this.socket.destroy();
  }

  onSniffClose(): void {
    if (this.finished || this.cancelling) return;
    this.abort?.abort();
    this.finish('aborted', 'client_left_during_handshake');
  }

  /**
   * TLS-ALPN-01 (RFC 8737 §3): complete TLS with the challenge certificate of the pending
   * challenge for the SNI name, selecting acme-tls/1, then close — no application data. No
   * pending challenge: refused with the no_application_protocol alert.
   */
  private answerTlsAlpn01(helloBytes: Buffer): void {
    const table = this.ctx.getTable();
    if (!table) return this.refuse('not_ready', 'tls');
    const host = normalizeServerName(this.sni);
    const route = host === null ? undefined : table.challengeFor(host);
    const context = route ? this.ctx.tlsContexts?.challenge(route.id) : undefined;
    if (!route || !context) return this.refuse('acme_no_challenge', 'tls');
    this.route = route;
    this.alpn = ACME_TLS_ALPN;
    const tls = answerAcmeTlsAlpn(this.socket, helloBytes, context, (tls) => this.adoptTlsSocket(tls));
    // The validator only checks the certificate: done once the handshake completes (a failed
    // handshake is recorded by the close handler, a slow one cut by the deadline).
    tls.once('secure', () => {
      this.tlsVersion = tls.getProtocol() ?? null;
      this.finish('ok', 'acme_challenge_answered');
      tls.end();
      setTimeout(() => tls.destroy(), REFUSAL_LINGER_MS).unref();
    });
  }

  /** HTTP-01 (RFC 8555 §8.3): true when answered (pending token), false to route as usual. */
  private answerHttp01(host: string | null, method: string, target: string): boolean {
    const table = this.ctx.getTable();
    if (!table || host === null || (method !== 'GET' && method !== 'HEAD')) return false;
    const route = table.challengeFor(host);
    const ch = route?.acmeChallenge;
    if (!route || !ch || ch.type !== 'http-01' || target !== ACME_HTTP_PREFIX + ch.token) return false;
    this.route = route;
    const body = method === 'HEAD' ? '' : ch.keyAuthorization;
    const s = this.socket;
    s.end(
      `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${Buffer.byteLength(ch.keyAuthorization)}\r\nconnection: close\r\n\r\n${body}`,
    );
    setTimeout(() => s.destroy(), REFUSAL_LINGER_MS).unref();
    this.finish('ok', 'acme_challenge_answered');
    return true;
  }

  private routeHello(helloBytes: Buffer, clientAlpn: readonly string[] = []): void {
    const table = this.ctx.getTable();
    if (!table) return this.refuse('not_ready', 'tls');
    // Every attempt that got this far counts against the client's new-connection rate.
    if (this.ctx.rateLimiter) {
      const client = this.clientIp();
      if (client && !this.ctx.rateLimiter.take(rateKey(client))) return this.refuse('client_rate_limited', 'tls');
    }
    const found = findRoute(table, this.ctx, this.sni, this.destination);
    // PostgreSQL in terminate mode: policies are applied after the handshake, so that their
    // refusals reach the client as ErrorResponses it can read (tls/terminate.ts).
    if (typeof found !== 'string' && found.tlsMode === 'terminate' && found.engine === 'postgres' && !isRaw(this.ctx)) {
      this.route = found;
      return this.terminatePg(found, helloBytes, null);
    }
    // No SNI (or an unknown name) on a postgres listener with a default certificate: finish
    // TLS with it and read the startup packet — it may name its database with the endpoint
    // option, or be a CancelRequest; anything else is refused with an ErrorResponse.
    if ((found === 'no_sni' || found === 'unknown_host') && this.ctx.spec.protocol === 'postgres' && this.ctx.defaultTlsContext) {
      return this.terminatePg(null, helloBytes, found);
    }
    if (typeof found === 'string') return this.refuse(found, 'tls');
    const route = found;
    this.route = route;
    // The same name as the route's (the usual case): keep the table's string, not the copy
    // parsed from this hello, which an idle session would otherwise hold.
    if (this.sni === route.hostname) this.sni = route.hostname;
    // PostgreSQL 17+ refuses direct TLS without ALPN "postgresql" (protection against
    // cross-protocol attacks). In passthrough the proxy reaches the server through
    // SSLRequest, so the server cannot see that the client skipped it: enforce it here.
    if (this.directTls && route.engine === 'postgres' && route.tlsMode === 'passthrough' && !clientAlpn.includes('postgresql')) {
      return this.refuse('alpn_required', 'tls');
    }
    const refusal = admit(route, route.allowedSources.length > 0 ? this.clientIp() : null);
    if (refusal) return this.refuseRouted(refusal, route, helloBytes, clientAlpn);
    const key = slotKey(route);
    const capped = this.ctx.limits.acquire(key);
    if (capped === null) return this.admitted(route, key, helloBytes, clientAlpn);
    if (typeof capped === 'string') return this.refuseRouted(capped, route, helloBytes, clientAlpn);
    // Cluster mode, capped route: the primary holds the counts.
    capped.then(
      (r) => {
        if (r !== null) return this.refuseRouted(r, route, helloBytes, clientAlpn);
        if (this.finished) return this.ctx.limits.release(key);
        this.admitted(route, key, helloBytes, clientAlpn);
      },
      () => this.refuse('not_ready', 'tls'),
    );
  }

  private admitted(route: RouteEntry, key: SlotKey, helloBytes: Buffer, clientAlpn: readonly string[]): void {
    this.slot = key;
    this.liveId = this.ctx.registry.add(route.id, this);
    if (route.tlsMode === 'terminate' && !isRaw(this.ctx)) return this.terminate(route, helloBytes, clientAlpn);
    const reads = new UpstreamReads();
    this.connectUpstream(route, helloBytes, isRaw(this.ctx), reads).then(
      (up) => this.pipe(up, this.socket, reads),
      (err: unknown) => {
        let code = err instanceof DialError ? err.code : 'upstream_unreachable';
        // In passthrough the database itself must accept TLS (the client's TLS goes through);
        // upstreamTls, which the terminate-mode refusal's hint names, plays no part.
        if (code === 'upstream_tls_refused' && route.tlsMode === 'passthrough') code = 'upstream_tls_refused_passthrough';
        this.ctx.log.warn({ route: route.hostname, err: (err as Error).message }, 'upstream dial failed');
        this.refuse(code, 'tls');
      },
    );
  }

  /**
   * Balanced, health-aware dial with fail-over before any client byte is forwarded
   * (upstream/connector.ts). `raw`: no PostgreSQL SSLRequest step.
   */
  private connectUpstream(route: RouteEntry, replay: Buffer, raw: boolean, reads?: UpstreamReads, secure?: ConnectRequest['secure']): Promise<Socket> {
    // The client's part is done: from here the handshake deadline is the upstream's (`onDeadline`).
    // A failed dial ends the connection (every caller refuses), so only success clears it.
    this.dialling = true;
    return this.ctx.upstreams
      .connect({
        route,
        client: { address: this.clientAddress, port: this.clientPort },
        local: this,
        replay,
        raw,
        timeoutMs: this.ctx.config.connectTimeoutMs,
        signal: this.abort ?? CANCELLED,
        reads,
        secure,
      })
      .then((c: Connected) => {
        this.dialling = false;
        this.upstreamKey = c.key;
        this.upstreamEndpoint = c.endpoint;
        this.upstreamAddress = c.address;
        if (this.finished) this.ctx.upstreams.release(c.key);
        return c.socket;
      });
  }

  /** What the client dialled (connector.ts asks only for a PROXY header). */
  dialled(): { address: string; port: number } {
    if (this.localAddress === null) {
      const local = this.socket.localAddress ?? '';
      this.localAddress = local.startsWith('::ffff:') && isIPv4(local.slice(7)) ? local.slice(7) : local;
      this.localPort = this.socket.localPort ?? 0;
    }
    return { address: this.localAddress, port: this.localPort };
  }

  /** The prebuilt context of a terminate route, or the refusal for its certificate. */
  private routeContext(route: RouteEntry): SecureContext | RefusalCode {
    const entry = this.ctx.tlsContexts?.get(route.id);
    if (!entry || !entry.ok) return 'certificate_unavailable';
    if (Date.now() >= entry.notAfter) return 'certificate_expired';
    return entry.context;
  }

  /** Terminate mode and ACME: our TLS socket over the client's (a method: no closure per connection). */
  private adoptTlsSocket(tls: TLSSocket): void {
    this.tls = tls;
    tls.once('secure', () => (this.tlsSecured = true));
    (tls as Owned)[CONN] = this;
    tls.once('close', onClientClose);
  }

  /** Terminate mode, engines other than PostgreSQL (tls/terminate.ts). */
  private terminate(route: RouteEntry, helloBytes: Buffer, clientAlpn: readonly string[]): void {
    const context = this.routeContext(route);
    if (typeof context === 'string') return this.refuse(context, 'tls');
    const refuse = (code: RefusalCode) => this.refuseRouted(code, route, helloBytes, clientAlpn);
    this.refuseDialling = refuse;
    void terminateStream({
      socket: this.socket,
      helloBytes,
      clientAlpn,
      engine: route.engine,
      context,
      signal: this.abort ?? CANCELLED,
      onTlsSocket: (tls) => this.adoptTlsSocket(tls),
      // The upstream is dialled before our TLS socket exists: a failure there reaches the
      // client, still waiting for a ServerHello, as a TLS alert — or, to a client the proxy can
      // answer in its protocol, as an HTTP 502 or a RESP error inside TLS (refuseRouted;
      // refuseInTls once our TLS socket exists). An order or a route closed meanwhile too.
      refuse,
      // TLS to the upstream runs within the same connect deadline as the TCP connect (connector.ts).
      dial: (alpn) =>
        this.connectUpstream(
          route,
          Buffer.alloc(0),
          true,
          undefined,
          route.upstreamTls ? (raw, endpoint, timeoutMs) => upstreamTls(raw, { endpoint, ca: route.upstreamCa, serverName: route.upstreamServerName, alpn, signal: this.abort ?? CANCELLED, timeoutMs }) : undefined,
        ),
      established: (client, up, info) => this.established(client, up, info),
    });
  }

  /**
   * Terminate mode, PostgreSQL. `sniRoute`: the route the SNI named (its certificate is
   * presented); null when the client sent no SNI or an unknown name (`sniRefusal`), and the
   * default certificate is presented. The route and its policies are decided once the
   * StartupMessage is in (`decidePg`).
   */
  private terminatePg(sniRoute: RouteEntry | null, helloBytes: Buffer, sniRefusal: RefusalCode | null): void {
    const context = sniRoute ? this.routeContext(sniRoute) : this.ctx.defaultTlsContext!;
    if (typeof context === 'string') return this.refuse(context, 'tls');
    this.pgInTls = true;
    void terminatePostgres<RouteEntry>({
      socket: this.socket,
      helloBytes,
      context,
      signal: this.abort ?? CANCELLED,
      onTlsSocket: (tls) => this.adoptTlsSocket(tls),
      refuse: (code) => this.refuse(code, 'none'),
      decide: (endpoint) => this.decidePg(sniRoute, sniRefusal, endpoint),
      // One deadline from the TCP connect through 'S' to the end of TLS (connector.ts): the
      // TLS handshake used to get a second PROXY_CONNECT_TIMEOUT_MS of its own.
      dial: (route) =>
        this.connectUpstream(
          route,
          Buffer.alloc(0),
          !route.upstreamTls,
          undefined,
          route.upstreamTls ? (raw, endpoint, timeoutMs) => upstreamTls(raw, { endpoint, ca: route.upstreamCa, serverName: route.upstreamServerName, alpn: [ALPN_POSTGRESQL], signal: this.abort ?? CANCELLED, timeoutMs }) : undefined,
        ),
      cancel: (processId, secretKey, tls) => this.cancel(processId, secretKey, tls, sniRoute?.id),
      established: (client, up, info) => {
        const cancels = this.ctx.cancels;
        const rewriter = cancels ? new BackendKeyRewriter((backend) => this.mintCancelKey(backend)) : undefined;
        this.established(client, up, info, { rewriter, clientForwarded: info.pipelined });
      },
    });
  }

  /**
   * The route of a terminate-mode PostgreSQL session, from the SNI and the endpoint option
   * (pg/endpoint.ts; they must agree when both are given), then the route's policies — the
   * same checks, in the same order, as for every other connection.
   */
  private decidePg(sniRoute: RouteEntry | null, sniRefusal: RefusalCode | null, endpoint: string | null): Promise<RouteEntry | RefusalCode> | RouteEntry | RefusalCode {
    const table = this.ctx.getTable();
    if (!table) return 'not_ready';
    let route: RouteEntry;
    if (sniRoute) {
      if (endpoint !== null) {
        const named = routeForEndpoint(table, this.ctx.spec.name, endpoint, this.ctx.config.baseDomain);
        if (typeof named === 'string' || named.id !== sniRoute.id) return 'endpoint_mismatch';
      }
      route = sniRoute;
    } else if (sniRefusal === 'no_sni') {
      if (endpoint === null) return 'endpoint_required';
      const named = routeForEndpoint(table, this.ctx.spec.name, endpoint, this.ctx.config.baseDomain);
      if (typeof named === 'string') return named;
      if (named.engine !== 'postgres') return 'unknown_host';
      this.route = named;
      if (named.tlsMode !== 'terminate') return 'endpoint_passthrough';
      route = named;
    } else {
      return sniRefusal ?? 'unknown_host';
    }
    const refusal = admit(route, route.allowedSources.length > 0 ? this.clientIp() : null);
    if (refusal) return refusal;
    const key = slotKey(route);
    const take = (): RouteEntry | RefusalCode => {
      if (this.finished) {
        this.ctx.limits.release(key);
        return 'not_ready';
      }
      this.slot = key;
      this.liveId = this.ctx.registry.add(route.id, this);
      return route;
    };
    const capped = this.ctx.limits.acquire(key);
    if (capped === null) return take();
    if (typeof capped === 'string') return capped;
    // Cluster mode, capped route: the primary holds the counts.
    return capped.then((r) => r ?? take());
  }

  /** BackendKeyData of a terminate-mode session: the client gets a key minted here. */
  private mintCancelKey(backend: BackendKey): BackendKey {
    const cancels = this.ctx.cancels;
    const route = this.route;
    const endpoint = this.upstreamEndpoint;
    if (!cancels || !route || !endpoint || this.finished) return backend;
    if (this.cancelKey) cancels.release(this.cancelKey);
    this.cancelKey = cancels.mint({ routeId: route.id, host: endpoint.host, port: endpoint.port, backend, route, endpoint, address: this.upstreamAddress ?? undefined });
    return this.cancelKey ?? backend;
  }

  /**
   * A CancelRequest (plaintext, or inside TLS with `tls`): delivered to the backend that owns
   * the key, then the client's connection is closed without a reply — PostgreSQL answers no
   * CancelRequest, and libpq waits for that close as the sign the request was handled.
   */
  private cancel(processId: number, secretKey: Buffer, tls: TLSSocket | null, routeId?: string): void {
    this.clearDeadline();
    this.cancelling = true;
    const cancels = this.ctx.cancels;
    // Plaintext cancels skip routing, so they take their token here: guessing keys costs the
    // same budget as opening connections. A refused one is closed like an unknown key.
    const client = tls ? null : this.clientIp();
    const limited = client !== null && this.ctx.rateLimiter !== null && !this.ctx.rateLimiter.take(rateKey(client));
    const handled: Promise<CancelOutcome | 'rate_limited'> = limited
      ? Promise.resolve('rate_limited')
      : cancels
        ? cancels.handleCancel(processId, secretKey, routeId !== undefined ? { routeId } : {})
        : Promise.resolve('unknown_key');
    void handled.then((outcome) => {
      const s = tls ?? this.socket;
      if (!s.destroyed && s.writable) {
        s.end();
        setTimeout(() => s.destroy(), REFUSAL_LINGER_MS).unref();
      } else {
        s.destroy();
      }
      const r = CANCEL_RESULT[outcome];
      this.finish(r.outcome, r.reason);
    });
  }

  /** `postgres`: both sides speak plaintext PostgreSQL through us (terminate mode). */
  private established(client: TLSSocket, up: Socket, info: { tlsVersion: string | null; alpn: string | null }, postgres?: PipeOptions['postgres']): void {
    this.refuseDialling = null;
    this.tlsVersion = info.tlsVersion;
    this.alpn = info.alpn ?? this.alpn;
    client.removeListener('close', onClientClose);
    this.pipe(up, client, undefined, postgres);
  }

  private pipe(up: Socket, client: Socket = this.socket, reads?: UpstreamReads, postgres?: PipeOptions['postgres']): void {
    if (this.finished || client.destroyed) {
      up.destroy();
      return;
    }
    this.clearDeadline();
    this.upstream = up;
    this.abort = null;
    pipeBoth(client, up, this, { reads, postgres, clientKeepAlive: this.ctx.socketOptionsInherited === true });
    // After the pipe's own listeners are on: an event type never loses its last listener, so
    // the socket's listener table is not rebuilt (V8 dictionary mode) for every connection.
    this.socket.removeListener('error', onClientError);
    this.socket.removeListener('close', onClientClose);
    if (this.ctx.idleTimeoutMs > 0) {
      // Every byte either way passes through the client socket (read or written), so its
      // inactivity timer is the connection's. Off by default: idle database sessions and
      // long queries are legitimate.
      client.setTimeout(this.ctx.idleTimeoutMs, () => {
        this.closeReason ??= 'idle_timeout';
        this.destroyBoth();
      });
    }
    this.ctx.counters.routed.n++;
  }

  /** Called when the route is disabled with `close` or the proxy stops. */
  closeForRoute(): void {
    this.closeReason = 'route_disabled_closed';
    // Terminate-mode PostgreSQL not yet handed over (the database is being dialled): the
    // client is inside TLS waiting for authentication and can still read why, as a refusal.
    if (this.pgInTls && !this.upstream) return this.refuse('route_disabled', 'none');
    // Other terminate-mode engines still dialling: an HTTP 404, a Kubernetes Status, a RESP error.
    if (this.refuseDialling && !this.upstream && !this.tls) return this.refuseDialling('route_disabled');
    // Anything else still dialling (passthrough; `http` listeners) is refused like a disabled
    // route: a TLS alert (libpq's plaintext retry is told why), a 404 on `http` listeners. It
    // was closed without a word, and recorded as a client that left.
    if (!this.upstream) return this.refuse('route_disabled', 'tls');
    // An established terminate-mode PostgreSQL session is told too (see `closeForShutdown`).
    this.endSession('route_disabled_closed');
  }

  /**
   * Ended through the API (registry.terminate): both sides are closed at once, but for an
   * established terminate-mode PostgreSQL session, which reads FATAL 57P01 "terminating
   * connection due to administrator command" first (`endSession`), as from `pg_terminate_backend`.
   */
  terminateOnOrder(by: string): void {
    this.closeReason = 'terminated';
    this.endedBy = by;
    // Not handed over yet (the upstream is being dialled, or our TLS handshake runs): the
    // client still waits for an answer, so it is told, in its language — an ErrorResponse
    // 57P01 inside TLS for terminate-mode PostgreSQL past the handshake; for other
    // terminate-mode engines still dialling, an HTTP 503, a Kubernetes Status or a RESP error
    // inside TLS with the route's certificate; else a TLS alert (or a plain close). Refusing
    // ends the connection, which aborts the dial.
    if (this.upstream) return this.endSession('terminated');
    if (this.refuseDialling && !this.tls) return this.refuseDialling('terminated');
    this.refuse('terminated', this.pgInTls ? 'none' : 'tls');
  }

  /** The live view of this routed connection (heartbeat). */
  describe(): OpenConnectionInfo | undefined {
    const route = this.route;
    if (!route || !this.liveId || this.finished) return undefined;
    return {
      id: this.liveId,
      listener: this.ctx.spec.name,
      routeId: route.id,
      tenantId: route.tenantId,
      databaseId: route.databaseId,
      clientAddress: this.clientAddress || null,
      clientPort: this.clientPort,
      sni: this.sni,
      mode: route.tlsMode,
      startedAt: this.startedAt,
      bytesIn: this.socket.bytesRead,
      bytesOut: this.socket.bytesWritten,
    };
  }

  /**
   * The drain deadline passed (dataplane.ts `drain`). A terminate-mode PostgreSQL session is
   * told why — an ErrorResponse 57P01 at the server's next message boundary, then its TLS is
   * closed and the database sent a Terminate (pipe.ts `endPostgresSession`) — unless no
   * boundary comes within SESSION_END_BOUNDARY_WAIT_MS. Other established sessions
   * (passthrough: the proxy cannot write into its TLS; other engines) are closed at once.
   * A connection not handed over yet (its hello still coming, its upstream still dialled, our
   * TLS handshake under way) still waits for an answer, so it is refused in the language it
   * speaks at that moment, as `closeForRoute` does (`shutting_down`): an ErrorResponse 57P01
   * inside TLS for terminate-mode PostgreSQL, an HTTP 503, a Kubernetes Status or a RESP error
   * for other terminate-mode engines, a TLS alert after a hello, a plaintext ErrorResponse to
   * a PostgreSQL client that has not asked for TLS.
   */
  closeForShutdown(): void {
    if (this.finished) return;
    // A CancelRequest being delivered is answered by the close alone (PostgreSQL's way).
    if (this.upstream || this.cancelling) {
      this.closeReason ??= 'proxy_shutdown';
      return this.endSession('proxy_shutdown');
    }
    if (this.pgInTls) return this.refuse('shutting_down', 'none');
    if (this.refuseDialling && !this.tls) return this.refuseDialling('shutting_down');
    this.refuse('shutting_down', this.sniffer?.speaks() ?? (isRaw(this.ctx) ? 'none' : this.speaksAfterHello));
  }

  /**
   * Ends an established session for `why`: a terminate-mode PostgreSQL one with an
   * ErrorResponse at the server's next message boundary (`endPostgresSession`; false when it
   * cannot be written: not such a session, already ending, or a stream that is not
   * PostgreSQL), everything else at once.
   */
  private endSession(why: keyof typeof SESSION_ENDINGS): void {
    if (this.pgInTls && this.upstream && this.tls && endPostgresSession(this.tls, this.sessionEnd(why))) return;
    this.destroyBoth();
  }

  /** Built only when the session is ended: an idle session holds no closure for it. */
  private sessionEnd(why: keyof typeof SESSION_ENDINGS): PgEnd {
    return {
      goodbye: GOODBYES[why],
      boundaryWaitMs: SESSION_END_BOUNDARY_WAIT_MS,
      lingerMs: REFUSAL_LINGER_MS,
      giveUp: () => this.destroyBoth(),
    };
  }

  private destroyBoth(): void {
    this.upstream?.destroy();
    this.tls?.destroy();
    this.socket.destroy();
  }

  private refuse(code: RefusalCode, requested: 'postgres' | 'tls' | 'none' | 'http' | 'redis'): void {
    if (this.finished) return;
    const refusal = REFUSALS[code];
    if (this.tls) return this.refuseInTls(code);
    // Plain-HTTP clients read an HTTP response; raw forwards (dedicated, destination) just close.
    const speak = isRaw(this.ctx) ? 'none' : this.ctx.spec.protocol === 'http' && requested !== 'none' ? 'http' : requested;
    const s = this.socket;
    s.removeListener('data', onClientData);
    s.removeListener('end', onClientEnd);
    // Only a libpq client that spoke SSLRequest retries in plaintext, and only on a
    // PostgreSQL-style port: a hello refused elsewhere must not explain someone's retry.
    if (speak === 'tls' && REMEMBERED.has(code) && this.mayRetryInPlaintext()) this.ctx.recentRefusals.remember(this.clientAddress, code, normalizeServerName(this.sni));
    if (!s.destroyed && s.writable) {
      if (speak === 'postgres') {
        s.end(buildErrorResponse(this.explain(code)));
      } else if (speak === 'tls') {
        s.end(buildTlsAlert(refusal.alert));
      } else if (speak === 'redis') {
        s.end(redisRefusal(code));
      } else if (speak === 'http') {
        // Worded for the route's engine once one matched, else for the listener's clients.
        s.end(httpRefusal(code, this.route?.engine ?? audienceOfListener(this.ctx.spec.protocol), this.ctx.spec.protocol === 'http'));
      } else {
        s.end();
      }
      setTimeout(() => s.destroy(), REFUSAL_LINGER_MS).unref();
    } else {
      s.destroy();
    }
    this.finish(outcomeOf(refusal), code);
  }

  /**
   * A refusal of a connection whose route is known, before any TLS socket of ours exists. A
   * terminate-mode route of an engine whose protocol the proxy can speak an error in (HTTP,
   * the Kubernetes API, Redis: `terminate-refusals.ts`) holds a usable certificate, so the
   * client is told in its own protocol: TLS completed with the route's certificate, then an
   * HTTP error response (403 source policy, 404 disabled, 429 limits, 502 upstream failures)
   * or a RESP error. Before, each got a TLS alert (curl: "tlsv1 alert internal error",
   * kubectl: "remote error: tls: internal error", redis-cli: "SSL_connect failed"). Anything
   * else is `refuse(code, 'tls')`. Refusal paths only: nothing here runs for an admitted
   * connection.
   */
  private refuseRouted(code: RefusalCode, route: RouteEntry, helloBytes: Buffer, clientAlpn: readonly string[]): void {
    if (this.finished) return;
    const answer = route.tlsMode === 'terminate' && !this.tls && !isRaw(this.ctx) ? terminateAnswer(code, route.engine, clientAlpn) : null;
    const context = answer ? this.routeContext(route) : null;
    if (!answer || context === null || typeof context === 'string') return this.refuse(code, 'tls');
    this.route = route;
    answerOverTls({
      socket: this.socket,
      helloBytes,
      context,
      alpn: answer.alpn,
      response: answer.response,
      timeoutMs: this.ctx.config.handshakeTimeoutMs,
      onTlsSocket: (tls) => this.adoptTlsSocket(tls),
    });
    this.finish(outcomeOf(REFUSALS[code]), code);
  }

  /** A libpq client that negotiated TLS with SSLRequest (not direct TLS) on a PostgreSQL-style port. */
  private mayRetryInPlaintext(): boolean {
    const p = this.ctx.spec.protocol;
    return (p === 'postgres' || p === 'egress') && !this.directTls;
  }

  /**
   * Terminate mode, once our TLS socket owns the connection: a PostgreSQL client past the
   * handshake reads an ErrorResponse inside TLS; otherwise OpenSSL has already sent its alert
   * (or the handshake is cut), so the socket is just closed.
   */
  private refuseInTls(code: RefusalCode): void {
    const tls = this.tls!;
    const refusal = REFUSALS[code];
    if (this.tlsSecured && this.pgInTls && !tls.destroyed && tls.writable) {
      // libpq's sslmode=prefer (its default) retries in plaintext after an error inside TLS:
      // explain the same reason then, not "TLS required".
      this.ctx.recentRefusals.remember(this.clientAddress, code, normalizeServerName(this.sni) ?? this.route?.hostname ?? null);
      tls.end(buildErrorResponse(this.explain(code)));
      setTimeout(() => tls.destroy(), REFUSAL_LINGER_MS).unref();
    } else {
      tls.destroy();
    }
    this.finish(outcomeOf(refusal), code);
  }

  /**
   * The ErrorResponse for a plaintext client. When it is libpq falling back from a TLS
   * attempt we refused moments ago, explain that refusal rather than "TLS required".
   */
  private explain(code: RefusalCode): PgError {
    const refusal = REFUSALS[code];
    const hint = 'hint' in refusal ? refusal.hint : undefined;
    if (code === 'tls_required') {
      const earlier = this.ctx.recentRefusals.take(this.clientAddress);
      if (earlier) {
        const r = REFUSALS[earlier.code];
        return {
          sqlstate: r.sqlstate,
          message: r.message,
          detail: earlier.hostname ? `Host name: ${earlier.hostname}. The TLS attempt was refused for this reason; the plaintext retry cannot be routed.` : undefined,
          hint: 'hint' in r ? r.hint : undefined,
        };
      }
    }
    if (code === 'postgres_on_tls_port') {
      // Name the port to use: the public port of this proxy's PostgreSQL-style listeners.
      const ports = this.ctx.config.listeners.filter((l) => l.protocol === 'postgres').map((l) => l.publicPort);
      if (ports.length > 0) return { sqlstate: refusal.sqlstate, message: refusal.message, detail: `PostgreSQL clients use port ${ports.join(' or ')} with SSLRequest (sslmode=require).`, hint };
    }
    return { sqlstate: refusal.sqlstate, message: refusal.message, hint };
  }

  /** pipe.ts: both sockets closed (a method, not a closure: an idle session holds it). */
  pipeDone(firstEnd: PipeEnd): void {
    this.finish('ok', this.closeReason ?? firstEnd);
  }

  private clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }

  private finish(outcome: ConnectionOutcome, reason: ConnectionReason): void {
    if (this.finished) return;
    this.finished = true;
    this.clearDeadline();
    this.abort?.abort();
    this.abort = null;
    if (this.route) this.ctx.registry.remove(this.route.id, this);
    if (this.upstreamKey !== null) this.ctx.upstreams.release(this.upstreamKey);
    if (this.cancelKey) this.ctx.cancels?.release(this.cancelKey);
    if (this.slot) this.ctx.limits.release(this.slot);
    this.slot = null;
    const listener = this.ctx.spec.name;
    const counters = this.ctx.counters;
    counters.open.n--;
    counters.closed(outcome, reason).n++;
    const routeLabel = this.ctx.metrics.routeLabels.label(this.route);
    const routeCells = routeLabel === null ? null : counters.route(routeLabel);
    if (routeCells) routeCells.outcome(outcome).n++;
    const event: ConnectionEventInput = {
      listener,
      routeId: this.route?.id ?? null,
      tenantId: this.route?.tenantId ?? null,
      databaseId: this.route?.databaseId ?? null,
      clientAddress: this.clientAddress || null,
      clientPort: this.clientPort,
      sni: this.sni,
      alpn: this.alpn,
      tlsVersion: this.tlsVersion,
      mode: this.route?.tlsMode ?? null,
      startedAt: this.startedAt,
      endedAt: Date.now(),
      bytesIn: this.socket.bytesRead,
      bytesOut: this.socket.bytesWritten,
      outcome,
      reason,
      upstream: this.upstreamKey,
      connectionId: this.liveId,
      endedBy: this.endedBy,
    };
    if (outcome === 'ok') {
      // Byte counters are final only once both sockets closed, which is when we get here.
      counters.bytesIn.n += event.bytesIn;
      counters.bytesOut.n += event.bytesOut;
      if (routeCells) {
        routeCells.bytesIn.n += event.bytesIn;
        routeCells.bytesOut.n += event.bytesOut;
      }
    }
    this.ctx.onConnectionDone(this, event);
  }
}

export type { ClientConnection };
