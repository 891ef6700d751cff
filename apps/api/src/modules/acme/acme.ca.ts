/**
 * The ACME CA as the worker sees it, on top of `acme-client` (RFC 8555; no hand-written
 * protocol): the platform account (key generated once, sealed with the keyring, reused), the
 * TLS-ALPN-01 challenge certificate, and ACME Renewal Information (RFC 9773) when the
 * directory offers `renewalInfo` (acme-client has no ARI call; it is one unauthenticated GET).
 */
import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { PrismaClient } from '@switchyard/db';
import type { Keyring } from '@switchyard/pki';
import * as acme from 'acme-client';
import type { AcmeConfig } from '../../config.js';
import { ariCertId } from './acme.policy.js';

/** The ACME client calls the worker makes (a Pick so tests can see what is used). */
export type AcmeClient = Pick<
  acme.Client,
  | 'createOrder'
  | 'getAuthorizations'
  | 'getChallengeKeyAuthorization'
  | 'completeChallenge'
  | 'waitForValidStatus'
  | 'finalizeOrder'
  | 'getCertificate'
  | 'getOrder'
  | 'deactivateAuthorization'
>;

export interface ChallengeCertificate {
  certPem: string;
  keyPem: string;
}

/**
 * RFC 8737 §3: a self-signed certificate for the name with the critical acmeIdentifier
 * extension (id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31) holding SHA-256(key authorization).
 * ECDSA P-256: generated in about a millisecond.
 */
export async function buildTlsAlpnCertificate(hostname: string, keyAuthorization: string): Promise<ChallengeCertificate> {
  const key = await acme.crypto.createPrivateEcdsaKey('P-256');
  const [keyPem, certPem] = await acme.crypto.createAlpnCertificate({ identifier: { type: 'dns', value: hostname } } as acme.Authorization, keyAuthorization, key);
  return { certPem: certPem.toString(), keyPem: keyPem.toString() };
}

/** An RFC 7807 problem document as the CA sent it (RFC 8555 §6.7). */
export interface CaProblem {
  type: string;
  detail: string;
  status?: number;
}

/** How long one request to the CA may stay silent (connect, TLS, answer) before it fails. */
export const CA_REQUEST_TIMEOUT_MS = 30_000;

let retryAfterMs: number | null = null;
let lastProblem: CaProblem | null = null;
let watching = false;

/**
 * The CA gave no HTTP answer at all (connection refused, name not found, TLS failure,
 * timeout). The worker records it as `switchyard:caUnreachable` with the cause.
 */
export class CaUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`the ACME CA could not be reached (${url}): ${reason}`);
  }
}

/**
 * acme-client's own response interceptor assumes an answer: on a network error it dereferences
 * the missing response and throws `TypeError: Cannot read properties of undefined (reading
 * 'config')`, losing the cause (acme-client 5.4.0 `src/axios.js` `validateStatus`). This one
 * runs before it and turns such an error into a `CaUnreachableError`, which has no `config`,
 * so acme-client passes it through untouched.
 */
function unreachable(err: unknown): never {
  const e = err as { config?: { url?: string }; response?: unknown; code?: string; message?: string } | null;
  if (e && typeof e === 'object' && e.config && !e.response) {
    throw new CaUnreachableError(e.config.url ?? 'unknown URL', [e.code, e.message].filter(Boolean).join(' '));
  }
  throw err;
}

/**
 * Records the Retry-After of the CA's 429 and 503 answers, and the problem document of its
 * last error answer: acme-client turns an error into an Error carrying only `detail`, and the
 * worker records the CA's own `type` (e.g. urn:ietf:params:acme:error:rateLimited) with it.
 * One interceptor per process (there is one worker per process).
 */
function watchResponses(): void {
  if (watching) return;
  watching = true;
  // First in the chain (axios runs response interceptors in order; `use` appends).
  const chain = (acme.axios.interceptors.response as unknown as { handlers?: unknown[] }).handlers;
  if (Array.isArray(chain)) chain.unshift({ fulfilled: null, rejected: unreachable, synchronous: false, runWhen: null });
  acme.axios.interceptors.response.use((res) => {
    if (res.status === 429 || res.status === 503) retryAfterMs = parseRetryAfter(res.headers['retry-after'], Date.now());
    if (res.status >= 400) lastProblem = problemDocument(res.data, res.status);
    return res;
  });
}

/** The problem document of an error answer, or null when the body is not one. */
export function problemDocument(data: unknown, status: number): CaProblem | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as Record<string, unknown>;
  if (typeof d.type !== 'string' || typeof d.detail !== 'string') return null;
  return { type: d.type, detail: d.detail, status: typeof d.status === 'number' ? d.status : status };
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date; null when absent or unparsable. */
export function parseRetryAfter(value: unknown, now: number): number | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export class AcmeCa {
  /** The Retry-After (ms) of the CA's last 429/503 answer, once; null when none since. */
  takeRetryAfter(): number | null {
    const v = retryAfterMs;
    retryAfterMs = null;
    return v;
  }

  /** The problem document of the CA's last error answer, once; null when none since. */
  takeProblem(): CaProblem | null {
    const v = lastProblem;
    lastProblem = null;
    return v;
  }

  /**
   * Whether the CA's last error answer said it does not know the account (RFC 8555 §6.7
   * `accountDoesNotExist`: the account was deleted, or the CA lost its state). Not consumed.
   */
  accountGone(): boolean {
    return lastProblem?.type === 'urn:ietf:params:acme:error:accountDoesNotExist';
  }

  /**
   * Drops the account URL the CA no longer knows, so the next `client()` registers the same
   * sealed key again (a CA that still knows the key answers with its account). Without this
   * the cached client kept signing with the dead URL and every order failed until a restart.
   */
  async forgetAccount(accountUrl: string): Promise<void> {
    lastProblem = null;
    this.cached = null;
    await this.prisma.acmeAccount.updateMany({ where: { directoryUrl: this.cfg.directoryUrl, accountUrl }, data: { accountUrl: null } });
  }

  private cached: Promise<acme.Client> | null = null;
  private directory: Promise<Record<string, unknown>> | null = null;

  constructor(
    private readonly cfg: AcmeConfig,
    private readonly prisma: PrismaClient,
    private readonly keyring: Keyring,
    opts: { requestTimeoutMs?: number } = {},
  ) {
    // The directory's own HTTPS: the system roots plus a private CA when configured (pebble,
    // step-ca). acme-client talks through its one axios instance.
    if (cfg.caPem) acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, cfg.caPem], keepAlive: true });
    // axios waits forever by default: a CA that accepts the connection and never answers held
    // the worker in one request for good — and its lease with it (renewed while it works), so
    // no replica renewed anything. Each request now gives up after this much silence
    // (`switchyard:caUnreachable`, retried with backoff).
    acme.axios.defaults.timeout = opts.requestTimeoutMs ?? CA_REQUEST_TIMEOUT_MS;
    // acme-client would sleep through a CA's Retry-After itself (an hour would block the
    // worker): no in-process retries; the Retry-After of a 429/503 is kept and the worker
    // schedules the next attempt no earlier (acme.service.ts `fail`).
    (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
    watchResponses();
    acme.setLogger(() => {});
  }

  /** The account client: loads the sealed key or generates and stores one (once per directory). */
  client(): Promise<acme.Client> {
    this.cached ??= this.loadClient().catch((err: unknown) => {
      this.cached = null;
      throw err;
    });
    return this.cached;
  }

  private async loadClient(): Promise<acme.Client> {
    const url = this.cfg.directoryUrl;
    let row = await this.prisma.acmeAccount.findUnique({ where: { directoryUrl: url } });
    if (!row) {
      const key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      await this.prisma.acmeAccount.createMany({ data: [{ directoryUrl: url, keyCiphertext: this.keyring.encrypt(key, url), email: this.cfg.email }], skipDuplicates: true });
      row = await this.prisma.acmeAccount.findUniqueOrThrow({ where: { directoryUrl: url } });
    }
    const accountKey = this.keyring.decrypt(row.keyCiphertext, url);
    const client = new acme.Client({
      directoryUrl: url,
      accountKey,
      ...(row.accountUrl ? { accountUrl: row.accountUrl } : {}),
      ...(this.cfg.eab ? { externalAccountBinding: { kid: this.cfg.eab.kid, hmacKey: this.cfg.eab.hmacKey } } : {}),
      backoffAttempts: 10,
      backoffMin: 500,
      backoffMax: 10_000,
    });
    if (!row.accountUrl) {
      await client.createAccount({ termsOfServiceAgreed: true, ...(this.cfg.email ? { contact: [`mailto:${this.cfg.email}`] } : {}) });
      await this.prisma.acmeAccount.update({ where: { directoryUrl: url }, data: { accountUrl: client.getAccountUrl() } });
    }
    return client;
  }

  /**
   * RFC 9773: the CA's suggested renewal window for a certificate, or null when the directory
   * has no `renewalInfo` or the call fails (the caller falls back to a third of the lifetime).
   */
  async renewalWindow(certPem: string): Promise<{ start: Date; end: Date } | null> {
    return (await this.renewalInfo(certPem)).window;
  }

  /**
   * RFC 9773 §4.2–4.3: the suggested window (null when the fetch failed or the answer has
   * none) and the answer's Retry-After (when to ask again); `offered: false` when the
   * directory has no `renewalInfo` at all (nothing to poll). A failed fetch counts as
   * offered: it is asked again later.
   */
  async renewalInfo(certPem: string, now = Date.now()): Promise<{ offered: boolean; window: { start: Date; end: Date } | null; retryAfterMs: number | null }> {
    try {
      this.directory ??= acme.axios.get<Record<string, unknown>>(this.cfg.directoryUrl).then((r) => r.data);
      const base = (await this.directory).renewalInfo;
      if (typeof base !== 'string') return { offered: false, window: null, retryAfterMs: null };
      const x = new X509Certificate(certPem);
      const aki = authorityKeyId(x.raw);
      if (!aki) return { offered: false, window: null, retryAfterMs: null };
      const res = await acme.axios.get<{ suggestedWindow?: { start: string; end: string } }>(`${base.replace(/\/$/, '')}/${ariCertId(aki, x.serialNumber)}`);
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now);
      const w = res.data.suggestedWindow;
      if (!w) return { offered: true, window: null, retryAfterMs };
      const start = new Date(w.start);
      const end = new Date(w.end);
      return { offered: true, window: Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) ? null : { start, end }, retryAfterMs };
    } catch {
      this.directory = null;
      return { offered: true, window: null, retryAfterMs: null };
    }
  }
}

/**
 * The keyIdentifier of a certificate's authorityKeyIdentifier extension (RFC 5280 §4.2.1.1):
 * OID 2.5.29.35, [critical], OCTET STRING { SEQUENCE { [0] keyIdentifier … } }. Node's
 * X509Certificate does not expose it; a bounded scan of the DER is enough.
 */
export function authorityKeyId(der: Buffer): Buffer | null {
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);
  let i = der.indexOf(oid);
  if (i < 0) return null;
  i += oid.length;
  if (der[i] === 0x01) i += 3; // BOOLEAN critical
  const len = (at: number): [number, number] => {
    const b = der[at]!;
    if (b < 0x80) return [b, at + 1];
    const n = b & 0x7f;
    let v = 0;
    for (let k = 1; k <= n; k++) v = (v << 8) | der[at + k]!;
    return [v, at + 1 + n];
  };
  if (der[i] !== 0x04) return null;
  let [, p] = len(i + 1);
  if (der[p] !== 0x30) return null;
  [, p] = len(p + 1);
  if (der[p] !== 0x80) return null;
  const [n, start] = len(p + 1);
  return start + n <= der.length ? Buffer.from(der.subarray(start, start + n)) : null;
}
