/**
 * Check connection, the I/O: the platform dials a route's public listener with the route's
 * host name as SNI and performs the engine's handshake — SSLRequest then TLS for
 * PostgreSQL, TLS for everything else — then, for PostgreSQL, sends a StartupMessage with a
 * placeholder user (no credentials) and reads the first answer. Every step is timed and
 * explained by `check.ts`. When the proxy refuses, the reason it recorded for this very
 * connection (found by the check's source port) names the cause.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, rootCertificates, type PeerCertificate, type TLSSocket } from 'node:tls';
import { buildSslRequest, buildStartupMessage } from '@switchyard/wire';
import {
  certificateStep,
  explainProxyReason,
  explainSocketError,
  explainSslAnswer,
  explainTlsFailure,
  isUpstreamReason,
  parseFirstBackendMessage,
  skipped,
  upstreamStepFromMessage,
  type CheckStep,
  type PresentedCertificate,
} from './check.js';

export interface CheckTarget {
  /** Where the proxy's listener is reached from the API. */
  host: string;
  port: number;
  hostname: string;
  engine: string;
  /** postgres listeners speak SSLRequest first. */
  listenerProtocol: string;
  tlsMode: 'passthrough' | 'terminate';
  /** PEM the connect panel offers for verification; null: the public CAs. */
  caPem: string | null;
  caSource: 'platform' | 'route' | 'system' | 'database';
  timeoutMs: number;
}

export interface CheckOutcome {
  steps: CheckStep[];
  certificate: PresentedCertificate | null;
  /** The check's own source port (to find the proxy's event for it). */
  localPort: number | null;
  startedAt: Date;
}

/** Looks up the reason the proxy recorded for the check's connection (null when not found in time). */
export type ProxyReasonLookup = (localPort: number, since: Date) => Promise<{ reason: string; upstream: string | null } | null>;

class StepTimeout extends Error {
  code = 'CHECK_TIMEOUT';
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      onTimeout();
      reject(new StepTimeout(`no answer within ${ms} ms`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Reads until `done` says enough (or the socket ends: resolves with what arrived). */
function readUntil(socket: Socket, done: (buf: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (done(buf)) {
        cleanup();
        socket.pause();
        resolve(buf);
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(buf);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}

function presented(c: PeerCertificate): PresentedCertificate {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const name = (n: PeerCertificate['subject'] | undefined) => {
    const cn = one(n?.CN);
    const o = one(n?.O);
    return cn ? `CN=${cn}` : o ? `O=${o}` : 'an unnamed subject';
  };
  const notAfter = new Date(c.valid_to).toISOString();
  return {
    subject: name(c.subject),
    issuer: name(c.issuer),
    subjectAltNames: (c.subjectaltname ?? '')
      .split(',')
      .map((s) => s.trim().replace(/^DNS:/, ''))
      .filter(Boolean),
    notBefore: new Date(c.valid_from).toISOString(),
    notAfter,
    expiresInDays: Math.floor((Date.parse(notAfter) - Date.now()) / 86_400_000),
    fingerprint256: c.fingerprint256,
  };
}

export async function runCheck(t: CheckTarget, lookupReason: ProxyReasonLookup): Promise<CheckOutcome> {
  const startedAt = new Date();
  const steps: CheckStep[] = [];
  const address = `${t.host}:${t.port}`;
  let localPort: number | null = null;
  let certificate: PresentedCertificate | null = null;
  let raw: Socket | null = null;
  let tls: TLSSocket | null = null;
  const fail = (rest: Array<CheckStep['step']>) => {
    for (const s of rest) steps.push(skipped(s));
    return { steps, certificate, localPort, startedAt };
  };
  const reasonFor = async () => (localPort === null ? null : lookupReason(localPort, startedAt));

  try {
    // 1. reach: TCP, and for PostgreSQL listeners the SSLRequest answered S.
    let t0 = performance.now();
    try {
      raw = await withTimeout(
        new Promise<Socket>((resolve, reject) => {
          const s = netConnect({ host: t.host, port: t.port });
          s.once('connect', () => resolve(s));
          s.once('error', reject);
          raw = s;
        }),
        t.timeoutMs,
        () => raw?.destroy(),
      );
      localPort = raw.localPort ?? null;
      raw.on('error', () => {});
      if (t.listenerProtocol === 'postgres') {
        raw.write(buildSslRequest());
        const answer = await withTimeout(readUntil(raw, (b) => b.length >= 1), t.timeoutMs, () => raw?.destroy());
        const r = explainSslAnswer(answer.length ? answer[0]! : null);
        const ms = Math.round(performance.now() - t0);
        if (!r.ok) {
          const why = await reasonFor();
          steps.push({ step: 'reach', ok: false, ms, message: why ? explainProxyReason(why.reason, { hostname: t.hostname, upstream: why.upstream }) : r.message });
          return fail(['tls', 'certificate', 'upstream']);
        }
        steps.push({ step: 'reach', ok: true, ms, message: `Reached the proxy at ${address}; it answered the SSLRequest.` });
      } else {
        steps.push({ step: 'reach', ok: true, ms: Math.round(performance.now() - t0), message: `Reached the proxy at ${address}.` });
      }
    } catch (err) {
      steps.push({ step: 'reach', ok: false, ms: Math.round(performance.now() - t0), message: explainSocketError(err as Error & { code?: string }, address) });
      return fail(['tls', 'certificate', 'upstream']);
    }

    // 2. tls: the handshake over the same socket, with the route's host name as SNI.
    t0 = performance.now();
    const alpn = t.engine === 'postgres' ? ['postgresql'] : undefined;
    try {
      tls = await withTimeout(
        new Promise<TLSSocket>((resolve, reject) => {
          const s = tlsConnect({
            socket: raw!,
            servername: t.hostname,
            ca: t.caPem ? [t.caPem] : [...rootCertificates],
            // Verified below and reported, not enforced: the check must see what is presented.
            rejectUnauthorized: false,
            ALPNProtocols: t.listenerProtocol === 'postgres' ? alpn : undefined,
          });
          tls = s;
          s.once('secureConnect', () => resolve(s));
          s.once('error', reject);
        }),
        t.timeoutMs,
        () => tls?.destroy(),
      );
      tls.on('error', () => {});
    } catch (err) {
      const why = await reasonFor();
      if (why && isUpstreamReason(why.reason)) {
        // The proxy routed the host name; the database behind it failed (passthrough: the
        // handshake is the database's; terminate: the proxy dials before finishing it).
        steps.push({ step: 'tls', ok: true, ms: Math.round(performance.now() - t0), message: `The proxy accepted ${t.hostname} and tried the database.` });
        steps.push(skipped('certificate', 'Not checked: the handshake could not complete without the database.'));
        steps.push({ step: 'upstream', ok: false, ms: Math.round(performance.now() - t0), message: explainProxyReason(why.reason, { hostname: t.hostname, upstream: why.upstream }) });
        return { steps, certificate, localPort, startedAt };
      }
      steps.push({
        step: 'tls',
        ok: false,
        ms: Math.round(performance.now() - t0),
        message: explainTlsFailure(err as Error & { code?: string }, { hostname: t.hostname, proxyReason: why?.reason ?? null, upstream: why?.upstream }),
      });
      return fail(['certificate', 'upstream']);
    }
    const tlsMs = Math.round(performance.now() - t0);
    const peer = tls.getPeerCertificate();
    steps.push({ step: 'tls', ok: true, ms: tlsMs, message: `The proxy accepted ${t.hostname} and completed TLS (${tls.getProtocol() ?? 'TLS'}${t.tlsMode === 'passthrough' ? ', end to end with the database' : ', terminated by the proxy'}).` });

    // 3. certificate: verification as a verify-full client would do it.
    if (!peer || !peer.raw) {
      steps.push({ step: 'certificate', ok: false, ms: 0, message: 'No certificate was presented.' });
    } else {
      certificate = presented(peer);
      const idErr = checkServerIdentity(t.hostname, peer);
      steps.push(
        certificateStep(
          certificate,
          { caSource: t.caSource, authorizationError: tls.authorized ? null : String(tls.authorizationError ?? 'unknown error'), hostnameError: idErr ? idErr.message : null },
          0,
        ),
      );
    }

    // 4. upstream.
    t0 = performance.now();
    if (t.engine === 'postgres') {
      tls.write(buildStartupMessage({ user: 'switchyard_check', database: 'switchyard_check', application_name: 'switchyard-check' }));
      let buf: Buffer;
      try {
        buf = await withTimeout(readUntil(tls as unknown as Socket, (b) => parseFirstBackendMessage(b).kind !== 'need-more'), t.timeoutMs, () => tls?.destroy());
      } catch (err) {
        const why = await reasonFor();
        const message = why ? explainProxyReason(why.reason, { hostname: t.hostname, upstream: why.upstream }) : `No answer from the database: ${(err as Error).message}.`;
        steps.push({ step: 'upstream', ok: false, ms: Math.round(performance.now() - t0), message });
        return { steps, certificate, localPort, startedAt };
      }
      const m = parseFirstBackendMessage(buf);
      const ms = Math.round(performance.now() - t0);
      if (m.kind === 'need-more') {
        const why = await reasonFor();
        const message = why && why.reason !== 'client_closed' ? explainProxyReason(why.reason, { hostname: t.hostname, upstream: why.upstream }) : 'The connection closed before the database answered.';
        steps.push({ step: 'upstream', ok: false, ms, message });
      } else if (m.kind === 'error' && m.fromProxy) {
        // Terminate mode: the proxy answers inside TLS when the database fails.
        const why = await reasonFor();
        steps.push(why ? { step: 'upstream', ok: false, ms, message: explainProxyReason(why.reason, { hostname: t.hostname, upstream: why.upstream }) } : upstreamStepFromMessage(m, ms));
      } else {
        steps.push(upstreamStepFromMessage(m, ms));
        // Politely end: Terminate.
        tls.write(Buffer.from([0x58, 0, 0, 0, 4]));
      }
    } else if (t.tlsMode === 'passthrough') {
      steps.push({ step: 'upstream', ok: true, ms: tlsMs, message: 'The database itself completed the TLS handshake (passthrough): it answered.' });
    } else {
      // Terminate mode, other engines: the proxy dials the database once TLS is up and closes
      // the connection when it cannot; a connection still open a moment later reached it.
      const closed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Math.min(1500, t.timeoutMs));
        tls!.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      const ms = Math.round(performance.now() - t0);
      if (closed) {
        const why = await reasonFor();
        steps.push({ step: 'upstream', ok: false, ms, message: why ? explainProxyReason(why.reason, { hostname: t.hostname, upstream: why.upstream }) : 'The proxy closed the connection: it could not reach the database.' });
      } else {
        steps.push({ step: 'upstream', ok: true, ms, message: 'The proxy connected to the database and kept the connection open (this engine says nothing before the client speaks).' });
      }
    }
    return { steps, certificate, localPort, startedAt };
  } finally {
    tls?.destroy();
    raw?.destroy();
  }
}
