/**
 * TLS termination for one client connection whose route is in terminate mode.
 *
 * The sniffer has already consumed the ClientHello (and, for PostgreSQL, answered the
 * SSLRequest with 'S'). Those bytes are pushed back into the paused socket and a server
 * TLSSocket is created over it: Node feeds a wrapped socket's buffered bytes to OpenSSL
 * first, so the handshake continues as if nothing had been read. The context was chosen
 * by SNI from the prebuilt store; nothing here touches the database.
 *
 * PostgreSQL: client TLS first, then the StartupMessage is read in plaintext (bounded), then
 *   the upstream is dialled (SSLRequest → 'S' → TLS, or plaintext) and the StartupMessage
 *   forwarded. Failures after the handshake reach the client as an ErrorResponse.
 * Other engines: the upstream is dialled first offering the client's ALPN list, so the
 *   client is then offered exactly what the upstream selected (h2 stays h2); failures
 *   before the handshake reach the client as a TLS alert.
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket, type SecureContext } from 'node:tls';
import { isIP } from 'node:net';
import type { Endpoint } from '@switchyard/core';
import { parseStartupPacket, PG_MAX_STARTUP_PACKET_LENGTH } from '@switchyard/wire';
import type { RefusalCode } from '../errors.js';
import { DialError } from '../pipe/dial.js';

/** ALPN identifier of PostgreSQL (PostgreSQL 17 direct TLS). */
export const ALPN_POSTGRESQL = 'postgresql';

export interface TerminateHost {
  /** The raw client socket, paused, with the sniffed bytes consumed. */
  socket: Socket;
  helloBytes: Buffer;
  /** ALPN protocols the client offered (from the sniffed hello). */
  clientAlpn: readonly string[];
  postgres: boolean;
  context: SecureContext;
  endpoint: Endpoint;
  upstreamTls: boolean;
  upstreamCa: string | null;
  /** Opens TCP to the upstream (PostgreSQL: SSLRequest and 'S' already exchanged when `postgresStartTls`). */
  dial(postgresStartTls: boolean): Promise<Socket>;
  signal: AbortSignal;
  /** The server TLS socket exists (the connection must destroy it rather than the raw socket). */
  onTlsSocket(tls: TLSSocket): void;
  /** Refuse: an ErrorResponse inside TLS for PostgreSQL past the handshake, else close. */
  refuse(code: RefusalCode, secured: boolean): void;
  established(client: TLSSocket, upstream: Socket, info: { tlsVersion: string | null; alpn: string | null }): void;
}

export function terminate(h: TerminateHost): void {
  if (h.postgres) void terminatePostgres(h);
  else void terminateStream(h);
}

function serverTls(h: TerminateHost, alpn: { callback?: (protocols: string[]) => string | undefined; protocols?: string[] }): TLSSocket {
  h.socket.unshift(h.helloBytes);
  const tls = new TLSSocket(h.socket, {
    isServer: true,
    secureContext: h.context,
    ...(alpn.callback ? { ALPNCallback: ({ protocols }: { protocols: string[] }) => alpn.callback?.(protocols) } : {}),
    ...(alpn.protocols ? { ALPNProtocols: alpn.protocols } : {}),
  });
  h.onTlsSocket(tls);
  return tls;
}

function handshake(tls: TLSSocket, signal: AbortSignal): Promise<void> {
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

async function terminatePostgres(h: TerminateHost): Promise<void> {
  // libpq 17+ always offers ALPN "postgresql"; older clients offer none. Anything else is
  // refused by OpenSSL with no_application_protocol, as PostgreSQL itself does.
  const tls = serverTls(h, { callback: (protocols) => (protocols.includes(ALPN_POSTGRESQL) ? ALPN_POSTGRESQL : undefined) });
  tls.on('error', () => {}); // after the handshake, errors end the pipe (pipe.ts listens too)
  try {
    await handshake(tls, h.signal);
  } catch {
    if (!h.signal.aborted) h.refuse('tls_handshake_failed', false);
    return;
  }
  let startup: Buffer;
  try {
    startup = await readStartupPacket(tls, h.signal);
  } catch (err) {
    // A client that left is recorded by the connection's close handler.
    if (!h.signal.aborted && err instanceof StartupError) h.refuse('protocol_violation', true);
    return;
  }
  let up: Socket;
  try {
    up = await upstream(h, h.upstreamTls ? [ALPN_POSTGRESQL] : null);
  } catch (err) {
    if (!h.signal.aborted) h.refuse(err instanceof DialError ? err.code : 'upstream_unreachable', true);
    return;
  }
  up.write(startup);
  h.established(tls, up, { tlsVersion: tls.getProtocol() || null, alpn: tls.alpnProtocol || null });
}

async function terminateStream(h: TerminateHost): Promise<void> {
  let up: Socket;
  try {
    up = await upstream(h, h.clientAlpn.length > 0 ? [...h.clientAlpn] : null);
  } catch (err) {
    if (!h.signal.aborted) h.refuse(err instanceof DialError ? err.code : 'upstream_unreachable', false);
    return;
  }
  // Offer the client what the upstream chose. A plaintext upstream chose nothing; then HTTP
  // clients get http/1.1 when they offered it (h2 needs an upstream that agreed to h2).
  const chosen = up instanceof TLSSocket ? up.alpnProtocol || null : h.clientAlpn.includes('http/1.1') ? 'http/1.1' : null;
  const tls = serverTls(h, chosen ? { protocols: [chosen] } : {});
  tls.on('error', () => {});
  try {
    await handshake(tls, h.signal);
  } catch {
    up.destroy();
    if (!h.signal.aborted) h.refuse('tls_handshake_failed', false);
    return;
  }
  h.established(tls, up, { tlsVersion: tls.getProtocol() || null, alpn: tls.alpnProtocol || null });
}

/** TCP (and the PostgreSQL SSLRequest) through the host's dialler, then TLS when configured. */
async function upstream(h: TerminateHost, alpn: string[] | null): Promise<Socket> {
  const raw = await h.dial(h.postgres && h.upstreamTls);
  if (!h.upstreamTls) return raw;
  const host = h.endpoint.host;
  return new Promise<Socket>((resolve, reject) => {
    const up = tlsConnect({
      socket: raw,
      // SNI must be a DNS name (RFC 6066 §3); identity checks still use the IP.
      servername: isIP(host) ? undefined : host,
      host,
      ca: h.upstreamCa ?? undefined,
      rejectUnauthorized: h.upstreamCa !== null,
      ALPNProtocols: alpn ?? undefined,
      minVersion: 'TLSv1.2',
    });
    const onAbort = () => fail(new DialError('upstream_unreachable', 'client went away'));
    const fail = (err: DialError) => {
      h.signal.removeEventListener('abort', onAbort);
      up.destroy();
      reject(err);
    };
    up.once('secureConnect', () => {
      h.signal.removeEventListener('abort', onAbort);
      up.removeAllListeners('error');
      up.on('error', () => {});
      resolve(up);
    });
    up.once('error', (err: Error & { code?: string }) => {
      const verify = /CERT|SELF_SIGNED|UNABLE_TO|Hostname|IP: .* is not in the cert/i.test(`${err.code ?? ''} ${err.message}`);
      fail(new DialError(verify ? 'upstream_certificate_invalid' : 'upstream_tls_failed', err.message));
    });
    h.signal.addEventListener('abort', onAbort, { once: true });
  });
}

class StartupError extends Error {}

/** Reads exactly one startup-phase packet (bounded by PostgreSQL's own maximum). */
function readStartupPacket(tls: TLSSocket, signal: AbortSignal): Promise<Buffer> {
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
      // Anything the client pipelined after the startup packet is forwarded with it.
      resolve(buf);
    };
    tls.on('data', onData);
    tls.once('close', onClose);
    signal.addEventListener('abort', onClose, { once: true });
  });
}
