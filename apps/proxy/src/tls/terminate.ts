/**
 * TLS termination for one client connection whose route is in terminate mode.
 *
 * The sniffer has already consumed the ClientHello (and, for PostgreSQL, answered the
 * SSLRequest with 'S'). Those bytes are pushed back into the paused socket and a server
 * TLSSocket is created over it: Node feeds a wrapped socket's buffered bytes to OpenSSL
 * first, so the handshake continues as if nothing had been read. The context was chosen
 * by SNI from the prebuilt store; nothing here touches the database.
 *
 * PostgreSQL (`terminatePostgres`): client TLS first — with the route's certificate, or the
 *   default certificate when the client sent no SNI — then one startup packet is read in
 *   plaintext (bounded). A CancelRequest is handed to the cancel router; a StartupMessage's
 *   `endpoint` option is taken out and the connection decides the route (SNI and/or the
 *   option, then policies); the upstream is dialled (SSLRequest → 'S' → TLS, or plaintext)
 *   and the StartupMessage forwarded. Every refusal from the handshake on reaches the client
 *   as an ErrorResponse inside TLS.
 * Other engines: the upstream is dialled first offering the client's ALPN list, so the
 *   client is then offered exactly what the upstream selected (h2 stays h2); failures
 *   before the handshake reach the client as a TLS alert, or — for clients whose protocol
 *   the proxy can answer in (HTTP/1.1, the Kubernetes API, Redis) — in that protocol after
 *   a handshake with the route's certificate (`answerOverTls`).
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket, type SecureContext } from 'node:tls';
import { isIP } from 'node:net';
import type { Endpoint, Engine } from '@switchyard/core';
import { extractEndpointOption, parseStartupPacket, PG_MAX_STARTUP_PACKET_LENGTH, withStartupParameter, type StartupPacket } from '@switchyard/wire';
import type { RefusalCode } from '../errors.js';
import type { CancelSignal } from '../pipe/cancel.js';
import { DialError } from '../pipe/dial.js';

/** ALPN identifier of PostgreSQL (PostgreSQL 17 direct TLS). */
export const ALPN_POSTGRESQL = 'postgresql';

export interface TerminateHost {
  /** The raw client socket, paused, with the sniffed bytes consumed. */
  socket: Socket;
  helloBytes: Buffer;
  context: SecureContext;
  signal: CancelSignal;
  /** The server TLS socket exists (the connection must destroy it rather than the raw socket). */
  onTlsSocket(tls: TLSSocket): void;
  /** Refuse: an ErrorResponse inside TLS for PostgreSQL past the handshake, else close. */
  refuse(code: RefusalCode): void;
}

export interface StreamTerminateHost extends TerminateHost {
  /** ALPN protocols the client offered (from the sniffed hello). */
  clientAlpn: readonly string[];
  /** The route's engine: what a plaintext upstream speaks (`plaintextUpstreamAlpn`). */
  engine: Engine;
  /** Opens the upstream (TLS included when the route says so) offering `alpn`. */
  dial(alpn: string[] | null): Promise<Socket>;
  established(client: TLSSocket, upstream: Socket, info: { tlsVersion: string | null; alpn: string | null }): void;
}

export interface PostgresTerminateHost<R> extends TerminateHost {
  /**
   * The StartupMessage is in: decide the route from the SNI and the `endpoint` option (null
   * when absent) and apply policies. A refusal code is answered with an ErrorResponse.
   */
  decide(endpoint: string | null): Promise<R | RefusalCode> | R | RefusalCode;
  /** Opens the upstream of `route`, ready for the StartupMessage (TLS done when configured). */
  dial(route: R): Promise<Socket>;
  /** A CancelRequest arrived inside TLS: the connection delivers it and closes `tls`. */
  cancel(processId: number, secretKey: Buffer, tls: TLSSocket): void;
  /** `pipelined`: what the client sent after its StartupMessage, already forwarded with it. */
  established(client: TLSSocket, upstream: Socket, info: { tlsVersion: string | null; alpn: string | null; pipelined: Buffer }): void;
}

function serverTls(h: Pick<TerminateHost, 'socket' | 'helloBytes' | 'context' | 'onTlsSocket'>, alpn: { callback?: (protocols: string[]) => string | undefined; protocols?: string[] }): TLSSocket {
  h.socket.unshift(h.helloBytes);
  const tls = new TLSSocket(h.socket, {
    isServer: true,
    secureContext: h.context,
    ...(alpn.callback ? { ALPNCallback: ({ protocols }: { protocols: string[] }) => alpn.callback?.(protocols) } : {}),
    ...(alpn.protocols ? { ALPNProtocols: alpn.protocols } : {}),
  });
  // A TLSSocket made outside a tls.Server never "releases control": Node reports its TLS
  // errors (a corrupt record, a bad alert) only as the internal '_tlsError' event and leaves
  // the socket open — the client got its alert, but the proxy held the connection and its
  // upstream session forever. Turn them into a destroy with the error, as tls.Server does.
  tls.on('_tlsError', (err: Error) => tls.destroy(err));
  h.onTlsSocket(tls);
  return tls;
}

function handshake(tls: TLSSocket, signal: CancelSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onErr = (err: Error) => done(err);
    const onClose = () => done(new Error('client closed during the TLS handshake'));
    const onAbort = () => done(new Error('aborted'));
    const done = (err: Error | null) => {
      tls.removeListener('secure', onSecure);
      tls.removeListener('error', onErr);
      tls.removeListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onSecure = () => done(null);
    tls.once('secure', onSecure);
    tls.once('error', onErr);
    tls.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export async function terminatePostgres<R>(h: PostgresTerminateHost<R>): Promise<void> {
  // libpq 17+ always offers ALPN "postgresql" (direct TLS or not); older clients offer none.
  // Anything else is refused by OpenSSL with no_application_protocol, as PostgreSQL does.
  const tls = serverTls(h, { callback: (protocols) => (protocols.includes(ALPN_POSTGRESQL) ? ALPN_POSTGRESQL : undefined) });
  tls.on('error', () => {}); // after the handshake, errors end the pipe (pipe.ts listens too)
  try {
    await handshake(tls, h.signal);
  } catch {
    if (!h.signal.aborted) h.refuse('tls_handshake_failed');
    return;
  }
  let first: { packet: StartupPacket; bytes: Buffer; consumed: number };
  try {
    first = await readStartupPacket(tls, h.signal);
  } catch (err) {
    // A client that left is recorded by the connection's close handler.
    if (!h.signal.aborted && err instanceof StartupError) h.refuse('protocol_violation');
    return;
  }
  const { packet } = first;
  if (packet.kind === 'cancel-request') return h.cancel(packet.processId, packet.secretKey, tls);
  if (packet.kind !== 'startup') return h.refuse('protocol_violation');
  const option = extractEndpointOption(packet.parameters.options);
  if (option.status === 'error') return h.refuse('endpoint_invalid');
  const { endpoint, rest } = option.value;
  let route: R | RefusalCode;
  try {
    route = await h.decide(endpoint);
  } catch {
    route = 'not_ready';
  }
  if (h.signal.aborted) return;
  if (typeof route === 'string') return h.refuse(route as RefusalCode);
  let up: Socket;
  try {
    up = await h.dial(route);
  } catch (err) {
    if (!h.signal.aborted) h.refuse(err instanceof DialError ? err.code : 'upstream_unreachable');
    return;
  }
  // PostgreSQL rejects an unknown command-line switch: the endpoint option never reaches it.
  let startup = first.bytes;
  // Only the options pair changes: the others go byte for byte (a LATIN1 server's user name
  // is not UTF-8; decoded and encoded again it would arrive as U+FFFD).
  if (endpoint !== null) {
    startup = Buffer.concat([withStartupParameter(first.bytes.subarray(0, first.consumed), 'options', rest), first.bytes.subarray(first.consumed)]);
  }
  up.write(startup);
  h.established(tls, up, { tlsVersion: tls.getProtocol() || null, alpn: tls.alpnProtocol || null, pipelined: first.bytes.subarray(first.consumed) });
}

export async function terminateStream(h: StreamTerminateHost): Promise<void> {
  let up: Socket;
  try {
    up = await h.dial(h.clientAlpn.length > 0 ? [...h.clientAlpn] : null);
  } catch (err) {
    if (!h.signal.aborted) h.refuse(err instanceof DialError ? err.code : 'upstream_unreachable');
    return;
  }
  // Offer the client what the upstream chose. A plaintext upstream chose nothing: then the
  // engine says what it speaks.
  const chosen = up instanceof TLSSocket ? up.alpnProtocol || null : plaintextUpstreamAlpn(h.engine, h.clientAlpn);
  const tls = serverTls(h, chosen ? { protocols: [chosen] } : {});
  tls.on('error', () => {});
  try {
    await handshake(tls, h.signal);
  } catch {
    up.destroy();
    if (!h.signal.aborted) h.refuse('tls_handshake_failed');
    return;
  }
  h.established(tls, up, { tlsVersion: tls.getProtocol() || null, alpn: tls.alpnProtocol || null });
}

export interface AnswerTerminateHost extends Pick<TerminateHost, 'socket' | 'helloBytes' | 'context' | 'onTlsSocket'> {
  /** The ALPN protocol to select (`http/1.1`), or null when the client offered none. */
  alpn: string | null;
  /**
   * The complete response, written once the client's request begins; or made from those first
   * bytes (Kubernetes: discovery requests are answered differently).
   */
  response: Buffer | ((request: Buffer) => Buffer);
  /** Bound on the whole exchange (handshake, request, response): then the socket is destroyed. */
  timeoutMs: number;
}

/**
 * A refusal answered in the client's own protocol inside TLS (HTTP, Kubernetes and Redis
 * clients of terminate-mode routes: `listener/connection.ts` `refuseRouted`,
 * `listener/terminate-refusals.ts`): the handshake is completed with the route's
 * certificate, and `response` is written once the client's first bytes (its request) are in —
 * HTTP is client-first, and closing before the request is read would make the kernel answer
 * it with a reset that can destroy the response in flight. Then close_notify and FIN; the
 * socket is destroyed when the client closes or at `timeoutMs`. Only refusal paths get here.
 */
export function answerOverTls(h: AnswerTerminateHost): void {
  const tls = serverTls(h, h.alpn ? { protocols: [h.alpn] } : {});
  tls.on('error', () => {});
  const timer = setTimeout(() => tls.destroy(), h.timeoutMs);
  timer.unref();
  tls.once('close', () => clearTimeout(timer));
  let answered = false;
  const answer = (request?: Buffer) => {
    if (answered || tls.destroyed) return;
    answered = true;
    tls.end(typeof h.response === 'function' ? h.response(request ?? Buffer.alloc(0)) : h.response);
  };
  // Anything after the first chunk (the rest of a request body) is read and dropped.
  tls.on('data', answer);
  tls.once('end', () => answer());
}

/**
 * The ALPN protocol the client is given when the upstream leg is plaintext (so no upstream
 * chose one). Only HTTP engines — `http`, and `kubernetes-api`, an HTTP API — speak a protocol
 * ALPN names: `http/1.1`, when the client offered it (h2 would need an upstream that agreed to
 * h2; a plaintext leg carries HTTP/1.1). Redis, MongoDB and generic `tls` routes select none,
 * as their own servers do: a client offering `h2,http/1.1` to Redis must not be told it is
 * speaking HTTP/1.1 (it would be a lie an ALPN-checking client acts on).
 */
export function plaintextUpstreamAlpn(engine: Engine, clientAlpn: readonly string[]): string | null {
  if (engine !== 'http' && engine !== 'kubernetes-api') return null;
  return clientAlpn.includes('http/1.1') ? 'http/1.1' : null;
}

export interface UpstreamTlsOptions {
  endpoint: Endpoint;
  /** PEM CA the upstream's certificate must chain to; null = not verified. */
  ca: string | null;
  alpn: string[] | null;
  /**
   * The route's `upstreamServerName`: sent as SNI and checked against the certificate instead
   * of the endpoint's host (an IP address gets no SNI and is checked as an address).
   */
  serverName?: string | null;
  signal?: CancelSignal;
  /**
   * Deadline of the handshake (PROXY_CONNECT_TIMEOUT_MS). Without it an upstream that
   * answered 'S' (or accepted TCP) and then stalled was cut only by the client's handshake
   * deadline, and the client was told its own network was too slow (`handshake_timeout`).
   */
  timeoutMs?: number;
}

/** TLS over an upstream socket already connected (PostgreSQL: after SSLRequest and 'S'). */
export function upstreamTls(raw: Socket, o: UpstreamTlsOptions): Promise<TLSSocket> {
  const host = o.endpoint.host;
  return new Promise<TLSSocket>((resolve, reject) => {
    const up = tlsConnect({
      socket: raw,
      // SNI must be a DNS name (RFC 6066 §3); identity checks still use the IP. Node checks
      // the certificate against `servername` when it is set, else against `host`.
      servername: o.serverName || (isIP(host) ? undefined : host),
      host,
      ca: o.ca ?? undefined,
      rejectUnauthorized: o.ca !== null,
      ALPNProtocols: o.alpn ?? undefined,
      minVersion: 'TLSv1.2',
    });
    const onAbort = () => fail(new DialError('upstream_unreachable', 'client went away'));
    const timer = o.timeoutMs ? setTimeout(() => fail(new DialError('upstream_tls_failed', `TLS handshake not completed within ${o.timeoutMs} ms`)), o.timeoutMs) : null;
    const fail = (err: DialError) => {
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      up.destroy();
      reject(err);
    };
    up.once('secureConnect', () => {
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      up.removeAllListeners('error');
      up.on('error', () => {});
      resolve(up);
    });
    up.once('error', (err: Error & { code?: string }) => {
      const verify = /CERT|SELF_SIGNED|UNABLE_TO|Hostname|IP: .* is not in the cert/i.test(`${err.code ?? ''} ${err.message}`);
      fail(new DialError(verify ? 'upstream_certificate_invalid' : 'upstream_tls_failed', err.message));
    });
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

class StartupError extends Error {}

/**
 * Reads exactly one startup-phase packet (bounded by PostgreSQL's own maximum). `bytes` also
 * holds anything the client pipelined after it, forwarded with it.
 */
function readStartupPacket(tls: TLSSocket, signal: CancelSignal): Promise<{ packet: StartupPacket; bytes: Buffer; consumed: number }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const cleanup = () => {
      tls.removeListener('data', onData);
      tls.removeListener('close', onClose);
      signal.removeEventListener('abort', onClose);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('client left before its startup packet'));
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseStartupPacket(buf);
      if (r.status === 'need-more' && buf.length <= PG_MAX_STARTUP_PACKET_LENGTH) return;
      cleanup();
      tls.pause();
      if (r.status !== 'ok' || r.value.kind === 'ssl-request' || r.value.kind === 'gssenc-request') {
        reject(new StartupError(r.status === 'error' ? r.message : 'unexpected packet inside TLS'));
        return;
      }
      resolve({ packet: r.value, bytes: buf, consumed: r.consumed });
    };
    tls.on('data', onData);
    tls.once('close', onClose);
    signal.addEventListener('abort', onClose, { once: true });
  });
}
