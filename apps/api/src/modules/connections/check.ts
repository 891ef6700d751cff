/**
 * Check connection, the pure part: what each step's outcome means, in words a tenant
 * understands. The I/O (`check-runner.ts`) dials the route's public listener with its SNI
 * and the engine's handshake; everything it observes is turned into steps here.
 *
 * Steps, in order (the first that fails is the answer to "is it the proxy or my client?"):
 *   reach        TCP connection to the listener (PostgreSQL: the SSLRequest answered `S`)
 *   tls          the TLS handshake, i.e. the proxy routed the host name
 *   certificate  the certificate presented verifies with the CA the connect panel offers
 *   upstream     the database answered (PostgreSQL: its first message after a StartupMessage)
 * and, where the route has them, the other ways in, each as one step:
 *   dedicated    the route's dedicated port (the proxy forwards it unread: the database answers)
 *   endpoint     PostgreSQL terminate mode without SNI, `options=endpoint=<host name>`
 *                (optional: it needs the proxy's default certificate; its failure is
 *                reported but does not fail the check)
 */
import { parseBackendMessage, parseErrorFields } from '@switchyard/wire';

export type StepName = 'reach' | 'tls' | 'certificate' | 'upstream' | 'dedicated' | 'endpoint';

export interface CheckStep {
  step: StepName;
  ok: boolean;
  /** Milliseconds the step took (0 when it did not run). */
  ms: number;
  /** What happened, in plain words. */
  message: string;
  /** Did not run because an earlier step failed. */
  skipped?: boolean;
  /** An alternative way in that the route does not depend on: reported, never failing the check. */
  optional?: boolean;
}

/**
 * Why the proxy refused or closed the check's own connection, in plain words: the proxy
 * records it as the connection event's reason (docs/proxy.md), which says far more than
 * the TLS alert the client sees (one alert stands for several reasons).
 */
export function explainProxyReason(reason: string, ctx: { hostname: string; upstream?: string | null }): string {
  const up = ctx.upstream ? ` (${ctx.upstream})` : '';
  const known: Record<string, string> = {
    unknown_host: `The proxy has no route for ${ctx.hostname}. The host name is wrong, or the change has not reached this proxy yet.`,
    route_disabled: `External access to this database is disabled, so the proxy refuses connections to ${ctx.hostname}. Enable it to connect.`,
    source_not_allowed: 'The platform’s own address is not in the route’s allowed source networks, so the proxy refused the check. Your clients may still be allowed.',
    route_connection_limit: 'The route has reached its connection limit; the proxy refuses new connections until some close.',
    tenant_connection_limit: 'Your tenant has reached its connection limit; the proxy refuses new connections until some close.',
    client_rate_limited: 'Too many new connections from one address; the proxy is slowing them down.',
    upstream_unreachable: `The proxy could not reach the database${up}: the connection was refused or timed out. Is the database running and listening?`,
    upstream_forbidden: 'The database’s address is not one the platform may connect to (it resolves to a forbidden address).',
    upstream_tls_refused: `The database${up} does not accept TLS (it answered the SSLRequest with N). Enable SSL on the database.`,
    upstream_tls_refused_passthrough: `The database${up} does not accept TLS (it answered the SSLRequest with N). In passthrough mode the client’s TLS goes straight to the database, so the database must have SSL on; or switch the route to terminate mode with upstream TLS off.`,
    postgres_on_tls_port: 'A PostgreSQL client without direct TLS reached the TLS port: use the PostgreSQL port, or sslnegotiation=direct on this one.',
    redis_on_tls_port: 'A Redis client without TLS reached the TLS port: use redis-cli --tls with the host name as SNI (--sni <host>).',
    http_on_tls_port: 'A plain HTTP request reached the TLS port: use https://.',
    terminated: 'An operator’s terminate order closed the connection before it was established.',
    upstream_tls_failed: `The TLS handshake between the proxy and the database${up} failed.`,
    upstream_certificate_invalid: `The database’s certificate${up} did not verify with the CA configured for the route.`,
    upstream_protocol_error: `The database${up} answered with something that is not PostgreSQL.`,
    certificate_unavailable: 'The route’s certificate could not be loaded by the proxy.',
    certificate_expired: 'The route’s certificate has expired; the proxy refuses to present it.',
    not_ready: 'The proxy is starting and has not loaded its routes yet.',
    shutting_down: 'The proxy is shutting down.',
    egress_source_unavailable: 'The route’s egress source address is not configured on this proxy.',
    endpoint_passthrough: 'The endpoint option only works for routes that terminate TLS.',
    no_sni: 'The check sent no host name (SNI).',
  };
  return known[reason] ?? `The proxy refused the connection (reason ${reason}, see docs/proxy.md).`;
}

/** A socket-level failure reaching the listener, in plain words. */
export function explainSocketError(err: { code?: string; message: string }, address: string): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `Nothing accepts connections at ${address}: the proxy is not running there, or the port is wrong.`;
    case 'ETIMEDOUT':
    case 'CHECK_TIMEOUT':
      return `No answer from ${address} in time: a firewall may drop the traffic, or the proxy is overloaded.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `The proxy’s address ${address} does not resolve.`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `The proxy at ${address} closed the connection abruptly.`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `No network route to ${address}.`;
    default:
      return `Could not reach ${address}: ${err.message}`;
  }
}

/** The answer to a PostgreSQL SSLRequest (one byte). */
export function explainSslAnswer(byte: number | null): { ok: boolean; message: string } {
  if (byte === 0x53) return { ok: true, message: 'The proxy answered the SSLRequest and is ready for TLS.' };
  if (byte === 0x4e) return { ok: false, message: 'The listener refused TLS (it answered N): it is not a Switchyard PostgreSQL listener.' };
  if (byte === null) return { ok: false, message: 'The listener closed the connection without answering the SSLRequest.' };
  return { ok: false, message: `The listener answered the SSLRequest with an unexpected byte (0x${byte.toString(16).padStart(2, '0')}): it does not speak PostgreSQL.` };
}

/** A TLS alert as OpenSSL names it in Node's error codes, e.g. ERR_SSL_TLSV1_UNRECOGNIZED_NAME. */
export function alertOf(err: { code?: string; message: string }): string | null {
  const m = /^ERR_SSL_(?:TLSV1_ALERT_|SSLV3_ALERT_|TLSV1_|TLSV13_ALERT_)?([A-Z_]+)$/.exec(err.code ?? '');
  if (m && /ALERT|UNRECOGNIZED_NAME/.test(err.code ?? '')) return m[1]!.toLowerCase();
  const t = /alert (?:number )?([a-z_ ]+)/i.exec(err.message);
  return t ? t[1]!.trim().replace(/ /g, '_').toLowerCase() : null;
}

/** The TLS handshake failed; `proxyReason` (from the proxy's event) explains it best when known. */
export function explainTlsFailure(err: { code?: string; message: string }, ctx: { hostname: string; proxyReason: string | null; upstream?: string | null }): string {
  if (ctx.proxyReason) return explainProxyReason(ctx.proxyReason, ctx);
  const alert = alertOf(err);
  if (alert === 'unrecognized_name') return `The proxy does not serve ${ctx.hostname} (TLS alert unrecognized_name): no route, or the route is disabled.`;
  if (alert === 'access_denied') return 'The proxy refused the platform’s address (TLS alert access_denied).';
  if (alert === 'internal_error') return 'The proxy accepted the host name but could not complete the connection (TLS alert internal_error): usually the database is unreachable.';
  if (err.code === 'ECONNRESET' || /socket disconnected/i.test(err.message)) return 'The proxy closed the connection during the TLS handshake.';
  return `The TLS handshake failed: ${err.message}`;
}

export interface PresentedCertificate {
  subject: string;
  issuer: string;
  subjectAltNames: string[];
  notBefore: string;
  notAfter: string;
  expiresInDays: number;
  fingerprint256: string;
}

/** What the certificate step reports, from the handshake's verification results. */
export function certificateStep(
  cert: PresentedCertificate,
  v: { caSource: 'platform' | 'route' | 'system' | 'database'; authorizationError: string | null; hostnameError: string | null; now?: number },
  ms: number,
): CheckStep {
  const now = v.now ?? Date.now();
  const expired = Date.parse(cert.notAfter) <= now;
  const lead = `Presented ${cert.subject} issued by ${cert.issuer}, valid until ${cert.notAfter.slice(0, 10)}`;
  if (v.caSource === 'database') {
    // Passthrough: the database's own certificate; the platform has no CA for it.
    const note = expired ? ' It has EXPIRED.' : v.hostnameError ? ` It does not cover the host name: ${v.hostnameError}` : '';
    return {
      step: 'certificate',
      ok: !expired && !v.hostnameError,
      ms,
      message: `${lead}. This route passes TLS through: this is the database’s own certificate, verify it with your database’s CA.${note}`,
    };
  }
  const ca = v.caSource === 'system' ? 'the public CAs' : v.caSource === 'platform' ? 'the platform CA the connect panel offers' : 'the CA the connect panel offers';
  if (expired) return { step: 'certificate', ok: false, ms, message: `${lead}: it has EXPIRED; clients refuse it.` };
  if (v.authorizationError) return { step: 'certificate', ok: false, ms, message: `${lead}. It does NOT verify with ${ca}: ${v.authorizationError}.` };
  if (v.hostnameError) return { step: 'certificate', ok: false, ms, message: `${lead}. It does not cover the host name: ${v.hostnameError}` };
  return { step: 'certificate', ok: true, ms, message: `${lead}; it verifies with ${ca}${cert.expiresInDays < 14 ? ` (expires in ${cert.expiresInDays} days)` : ''}.` };
}

export type FirstBackendMessage =
  | { kind: 'need-more' }
  | { kind: 'auth'; method: string }
  | { kind: 'error'; fromProxy: boolean; sqlstate: string | null; message: string }
  | { kind: 'other'; type: string }
  | { kind: 'invalid' };

const AUTH_METHODS: Record<number, string> = { 0: 'none (trust)', 2: 'Kerberos', 3: 'cleartext password', 5: 'MD5 password', 7: 'GSSAPI', 9: 'SSPI', 10: 'SASL (SCRAM)' };

/**
 * The first message after our StartupMessage. An ErrorResponse whose message starts with
 * "Switchyard:" comes from the proxy (terminate mode refusals); any other answer — even "role
 * does not exist" — is the database speaking, which is what this step proves.
 */
export function parseFirstBackendMessage(buf: Uint8Array): FirstBackendMessage {
  const r = parseBackendMessage(buf, 1 << 16);
  if (r.status === 'need-more') return { kind: 'need-more' };
  if (r.status === 'error') return { kind: 'invalid' };
  const { type, body } = r.value;
  if (type === 'R' && body.length >= 4) return { kind: 'auth', method: AUTH_METHODS[body.readInt32BE(0)] ?? `method ${body.readInt32BE(0)}` };
  if (type === 'E') {
    const f = parseErrorFields(body);
    const message = f.M ?? 'error';
    return { kind: 'error', fromProxy: message.startsWith('Switchyard:'), sqlstate: f.C ?? null, message };
  }
  return { kind: 'other', type };
}

/** The upstream step from the database's first answer. */
export function upstreamStepFromMessage(m: Exclude<FirstBackendMessage, { kind: 'need-more' }>, ms: number): CheckStep {
  switch (m.kind) {
    case 'auth':
      return { step: 'upstream', ok: true, ms, message: `The database answered and asks for authentication: ${m.method}.` };
    case 'error':
      return m.fromProxy
        ? { step: 'upstream', ok: false, ms, message: m.message.replace(/^Switchyard:\s*/, 'The proxy: ') }
        : { step: 'upstream', ok: true, ms, message: `The database answered (with “${m.message}” to the check’s placeholder user, as expected without credentials).` };
    case 'other':
      return { step: 'upstream', ok: true, ms, message: `The database answered (message type ${m.type}).` };
    case 'invalid':
      return { step: 'upstream', ok: false, ms, message: 'Something answered that is not PostgreSQL.' };
  }
}

/** Steps that did not run because an earlier one failed. */
export function skipped(step: StepName, message = 'Not run: an earlier step failed.'): CheckStep {
  return { step, ok: false, ms: 0, message, skipped: true };
}

/** Reasons the proxy records when it routed the host name but the database failed it. */
export function isUpstreamReason(reason: string): boolean {
  return reason.startsWith('upstream_');
}

export interface CheckSummary {
  ok: boolean;
  failedStep: StepName | null;
  message: string;
}

export function summarize(steps: CheckStep[]): CheckSummary {
  const failed = steps.find((s) => !s.ok && !s.skipped && !s.optional);
  if (!failed) {
    const optional = steps.find((s) => !s.ok && !s.skipped && s.optional);
    return {
      ok: true,
      failedStep: null,
      message: `Every step succeeded: the route works up to the database. If your client still fails, look at its settings (host name, TLS mode, CA file, credentials).${optional ? ` Not available: ${optional.message}` : ''}`,
    };
  }
  const where: Record<StepName, string> = {
    reach: 'The platform could not reach the proxy',
    tls: 'The proxy did not accept the connection for this host name',
    certificate: 'The certificate would not be accepted by a verifying client',
    upstream: 'The proxy could not get an answer from the database',
    dedicated: 'The route’s dedicated port does not work',
    endpoint: 'Clients without SNI cannot connect',
  };
  return { ok: false, failedStep: failed.step, message: `${where[failed.step]}: ${failed.message}` };
}
