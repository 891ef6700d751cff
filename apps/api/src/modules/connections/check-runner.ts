/**
 * Check connection, the I/O: the platform dials a route's public listener with the route's
 * host name as SNI and performs the engine's handshake — SSLRequest then TLS for
 * PostgreSQL, TLS for everything else — then, for PostgreSQL, sends a StartupMessage with a
 * placeholder user (no credentials) and reads the first answer. Every step is timed and
 * explained by `check.ts`. When the proxy refuses, the reason it recorded for this very
 * connection (found by the check's source port) names the cause.
 *
 * Besides the shared listener, the other ways clients reach a route are checked as their own
 * steps: the route's dedicated port (`runDedicatedCheck`), and for terminate-mode PostgreSQL
 * routes the `endpoint` startup option used by clients without SNI (`runEndpointCheck`).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, rootCertificates, type PeerCertificate, type TLSSocket } from 'node:tls';
import { buildSslRequest, buildStartupMessage } from '@switchyard/wire';
import {
  alertOf,
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

/** Dials host:port (timed). */
function dial(host: string, port: number, timeoutMs: number): Promise<Socket> {
  let s: Socket | null = null;
  return withTimeout(
    new Promise<Socket>((resolve, reject) => {
      s = netConnect({ host, port });
      s.once('connect', () => resolve(s!));
      s.once('error', reject);
    }),
    timeoutMs,
    () => s?.destroy(),
  );
}

/** TLS over `raw` (timed); `servername` null sends no SNI, as clients without SNI do. */
function startTls(raw: Socket, servername: string | null, timeoutMs: number): Promise<TLSSocket> {
  let s: TLSSocket | null = null;
  return withTimeout(
    new Promise<TLSSocket>((resolve, reject) => {
      // An empty servername makes Node send no SNI extension at all.
      s = tlsConnect({ socket: raw, servername: servername ?? '', rejectUnauthorized: false });
      s.once('secureConnect', () => resolve(s!));
      s.once('error', reject);
    }),
    timeoutMs,
    () => s?.destroy(),
  );
}

/** StartupMessage (placeholder user, optional `options`) and the database's first answer. */
async function firstAnswer(tls: TLSSocket, timeoutMs: number, options?: string) {
  const params: Record<string, string> = { user: 'switchyard_check', database: 'switchyard_check', application_name: 'switchyard-check' };
  if (options) params.options = options;
  tls.write(buildStartupMessage(params));
  const buf = await withTimeout(readUntil(tls as unknown as Socket, (b) => parseFirstBackendMessage(b).kind !== 'need-more'), timeoutMs, () => tls.destroy());
  return parseFirstBackendMessage(buf);
}

export interface PathTarget {
  host: string;
  port: number;
  hostname: string;
  engine: string;
  timeoutMs: number;
}

/**
 * The route's dedicated port: the proxy forwards everything arriving there to the database
 * unread, so the database itself answers the SSLRequest and presents its own certificate.
 * PostgreSQL: SSLRequest, TLS, StartupMessage, first answer. Other engines: the connection is
 * accepted and kept open (the proxy closes it when the database cannot be reached).
 */
export async function runDedicatedCheck(t: PathTarget, lookupReason: ProxyReasonLookup): Promise<CheckStep> {
  const startedAt = new Date();
  const address = `${t.host}:${t.port}`;
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  const fail = (message: string): CheckStep => ({ step: 'dedicated', ok: false, ms: ms(), message: `Dedicated port ${t.port}: ${message}` });
  let raw: Socket | null = null;
  let tls: TLSSocket | null = null;
  let localPort: number | null = null;
  const why = async (fallback: string) => {
    const r = localPort === null ? null : await lookupReason(localPort, startedAt);
    return r && r.reason !== 'client_closed' ? explainProxyReason(r.reason, { hostname: t.hostname, upstream: r.upstream }) : fallback;
  };
  try {
    try {
      raw = await dial(t.host, t.port, t.timeoutMs);
    } catch (err) {
      return fail(explainSocketError(err as Error & { code?: string }, address));
    }
    localPort = raw.localPort ?? null;
    raw.on('error', () => {});
    if (t.engine !== 'postgres') {
      const closed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Math.min(1500, t.timeoutMs));
        raw!.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
        raw!.once('data', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (closed) return fail(await why('the proxy closed the connection: it could not reach the database.'));
      return { step: 'dedicated', ok: true, ms: ms(), message: `Dedicated port ${t.port}: the proxy accepted the connection and forwards it to the database.` };
    }
    raw.write(buildSslRequest());
    const answer = await withTimeout(readUntil(raw, (b) => b.length >= 1), t.timeoutMs, () => raw?.destroy());
    if (answer.length === 0) return fail(await why('the connection closed without an answer to the SSLRequest.'));
    if (answer[0] === 0x4e) {
      return fail('the database answered the SSLRequest with N: it does not accept TLS, so clients with sslmode=require cannot connect through this port. Enable SSL on the database.');
    }
    if (answer[0] !== 0x53) return fail(`the answer to the SSLRequest was not PostgreSQL (0x${answer[0]!.toString(16).padStart(2, '0')}).`);
    try {
      tls = await startTls(raw, t.hostname, t.timeoutMs);
      tls.on('error', () => {});
    } catch (err) {
      return fail(`the TLS handshake with the database failed: ${(err as Error).message}.`);
    }
    const peer = tls.getPeerCertificate();
    const who = peer?.raw ? ` (its own certificate, ${presented(peer).subject})` : '';
    let m: ReturnType<typeof parseFirstBackendMessage>;
    try {
      m = await firstAnswer(tls, t.timeoutMs);
    } catch (err) {
      return fail(`no answer from the database: ${(err as Error).message}.`);
    }
    if (m.kind === 'need-more') return fail(await why('the connection closed before the database answered.'));
    const up = upstreamStepFromMessage(m, ms());
    if (!up.ok) return fail(up.message);
    tls.write(Buffer.from([0x58, 0, 0, 0, 4]));
    return { step: 'dedicated', ok: true, ms: ms(), message: `Dedicated port ${t.port}: the database answered the SSLRequest and completed TLS${who}; ${up.message.charAt(0).toLowerCase()}${up.message.slice(1)}` };
  } catch (err) {
    return fail(`${(err as Error).message}.`);
  } finally {
    tls?.destroy();
    raw?.destroy();
  }
}

/**
 * PostgreSQL clients without SNI (terminate-mode routes): the shared listener, TLS with no
 * SNI (the proxy presents its default certificate), and `options=endpoint=<host name>` in the
 * StartupMessage naming the route.
 */
export async function runEndpointCheck(t: PathTarget, lookupReason: ProxyReasonLookup): Promise<CheckStep> {
  const startedAt = new Date();
  const address = `${t.host}:${t.port}`;
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  const lead = `Without SNI, with options=endpoint=${t.hostname}`;
  const fail = (message: string): CheckStep => ({ step: 'endpoint', ok: false, optional: true, ms: ms(), message: `${lead}: ${message}` });
  let raw: Socket | null = null;
  let tls: TLSSocket | null = null;
  try {
    try {
      raw = await dial(t.host, t.port, t.timeoutMs);
    } catch (err) {
      return fail(explainSocketError(err as Error & { code?: string }, address));
    }
    const localPort = raw.localPort ?? null;
    raw.on('error', () => {});
    raw.write(buildSslRequest());
    const answer = await withTimeout(readUntil(raw, (b) => b.length >= 1), t.timeoutMs, () => raw?.destroy());
    const ssl = explainSslAnswer(answer.length ? answer[0]! : null);
    if (!ssl.ok) return fail(ssl.message);
    try {
      tls = await startTls(raw, null, t.timeoutMs);
      tls.on('error', () => {});
    } catch (err) {
      const e = err as Error & { code?: string };
      if (alertOf(e) === 'unrecognized_name') {
        return fail('the proxy has no default certificate (PROXY_DEFAULT_CERT_FILE), so clients that send no SNI cannot connect. Clients that send SNI are not affected.');
      }
      return fail(`the TLS handshake failed: ${e.message}.`);
    }
    let m: ReturnType<typeof parseFirstBackendMessage>;
    try {
      m = await firstAnswer(tls, t.timeoutMs, `endpoint=${t.hostname}`);
    } catch (err) {
      return fail(`no answer: ${(err as Error).message}.`);
    }
    if (m.kind === 'need-more' || (m.kind === 'error' && m.fromProxy)) {
      const r = localPort === null ? null : await lookupReason(localPort, startedAt);
      if (r && r.reason !== 'client_closed') return fail(explainProxyReason(r.reason, { hostname: t.hostname, upstream: r.upstream }));
      return fail(m.kind === 'error' ? m.message.replace(/^Switchyard:\s*/, 'the proxy: ') : 'the connection closed before the database answered.');
    }
    const up = upstreamStepFromMessage(m, ms());
    if (!up.ok) return fail(up.message);
    tls.write(Buffer.from([0x58, 0, 0, 0, 4]));
    return { step: 'endpoint', ok: true, optional: true, ms: ms(), message: `${lead} (for clients that cannot send SNI): the proxy routed it; ${up.message.charAt(0).toLowerCase()}${up.message.slice(1)}` };
  } catch (err) {
    return fail(`${(err as Error).message}.`);
  } finally {
    tls?.destroy();
    raw?.destroy();
  }
}
