/**
 * ACME certificates (docs/certificates.md "ACME").
 *
 * Requests only record what is wanted (`pending`) and return at once; the background worker
 * (acme.worker.ts, one runner across replicas) places orders, publishes challenges to every
 * proxy through the route config versions, and stores the result. All state lives in
 * `acme_certificates`, so a restart mid-order simply retries it.
 *
 * Safety: a tenant can order only the host name of one of its own enabled terminate-mode
 * routes (route host names are unique and were checked against the tenant's domains when the
 * route was made), so no tenant can cause a certificate for another tenant's name. Rate limits
 * are counted here and refused before the CA would.
 *
 * Lifecycle: the row follows its route. When the route is deleted, disabled, renamed or leaves
 * terminate mode, the change's own transaction deletes the row (acme.lifecycle.ts).
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isValidWildcardHostname, normalizeHostname, parseIp, formatIp } from '@switchyard/core';
import { Prisma, recordRouteChanges, type AcmeCertificate, type Certificate, type PrismaClient, type Route, type Tenant } from '@switchyard/db';
import { certificateInfo, type Keyring } from '@switchyard/pki';
import * as acme from 'acme-client';
import type { FastifyBaseLogger } from 'fastify';
import type { Actor } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import type { AcmeConfig } from '../../config.js';
import type { ApiMetrics } from '../../metrics.js';
import { recordAudit } from '../audit/audit.service.js';
import { isPubliclyTrusted, type CertificatesService } from '../certificates/certificates.service.js';
import type { PropagationTracker } from '../proxies/propagation.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import { buildTlsAlpnCertificate, CaUnreachableError, type AcmeCa, type AcmeClient } from './acme.ca.js';
import { ariNextCheck, ariRecheck, backoffMs, checkRateLimits, registeredDomain, renewalTime, WEEK_MS, type RateDecision } from './acme.policy.js';
import type { AcmeCertificateResponse, AcmeChallengeType, RequestAcmeBody } from './acme.schemas.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

type Row = AcmeCertificate & { certificate: Certificate | null };

/** A request that passed every check, ready to be recorded (`existing`: nothing to record). */
export interface AcmeRequestPlan {
  tenantId: string;
  hostname: string;
  challengeType: string;
  /** The request field errors name (`body.hostname` for the POST, `body.acme` for the PUT). */
  field: string;
  existing: Row | null;
}

export interface AcmeProblem {
  type: string;
  detail: string;
  status?: number;
}

/** A failure with the problem document to record; `validation`: counts as a failed validation. */
export class AcmeFailure extends Error {
  constructor(
    readonly problem: AcmeProblem,
    readonly validation = false,
    readonly retry: 'backoff' | 'never' | Date = 'backoff',
  ) {
    super(problem.detail);
  }
}

export interface AcmeDeps {
  prisma: PrismaClient;
  tenants: Pick<TenantsService, 'resolve'>;
  certificates: Pick<CertificatesService, 'swapContent'>;
  propagation: Pick<PropagationTracker, 'waitFor'>;
  propagationTimeoutMs: number;
  keyring: Keyring | null;
  config: AcmeConfig | null;
  ca: AcmeCa | null;
  log: FastifyBaseLogger;
  /** Wakes the worker after a request (absent in tests that drive the worker by hand). */
  poke?: () => void;
  /** Told how each order ended (the API's metrics; absent in the controller and some tests). */
  metrics?: Pick<ApiMetrics, 'acmeOrder'>;
  /** Name lookup for the DNS check (tests may replace it). */
  resolve?: (hostname: string) => Promise<string[]>;
}

/**
 * The worker's audit identity: actor type `system` (audit_events.actor_type documents it),
 * which no request can carry — principals from requests are users and tokens only.
 */
export function systemActor(what: string): Actor {
  const actorType = 'system' as unknown as Actor['principal']['actorType'];
  return { principal: { actorType, actorId: 'acme-worker', isPlatformAdmin: true, tenantRoles: new Map() }, requestId: what, clientAddress: '' };
}

/** In-process counters for /metrics (orders and failures by reason since this replica started). */
export const acmeCounters = { orders: [0, 0] as [first: number, renewal: number], issued: 0, renewed: 0, failures: new Map<string, number>() };

export class AcmeService {
  constructor(private readonly deps: AcmeDeps) {}

  private get cfg(): AcmeConfig {
    if (!this.deps.config || !this.deps.ca) throw new AppError('SY_ACME_UNAVAILABLE', 'ACME is not configured on this platform (ACME_DIRECTORY_URL)');
    if (!this.deps.keyring) throw new AppError('SY_KEYRING_UNAVAILABLE', 'ACME needs the keyring (SWITCHYARD_KEYS) to store keys');
    return this.deps.config;
  }

  // ── API ─────────────────────────────────────────────────────────────────────────────

  async list(actor: Actor, tenantSlug: string): Promise<AcmeCertificateResponse[]> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'member');
    const rows = await this.deps.prisma.acmeCertificate.findMany({ where: { tenantId: tenant.id }, include: { certificate: true }, orderBy: [{ hostname: 'asc' }], take: 1000 });
    return this.views(rows);
  }

  async get(actor: Actor, tenantSlug: string, id: string): Promise<AcmeCertificateResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'member');
    return (await this.views([await this.find(tenant, id)]))[0]!;
  }

  /** The ACME certificate of a host name, for the external-access view (null: none). */
  async forHostname(hostname: string): Promise<AcmeCertificateResponse | null> {
    const row = await this.deps.prisma.acmeCertificate.findUnique({ where: { hostname }, include: { certificate: true } });
    return row ? (await this.views([row]))[0]! : null;
  }

  async request(actor: Actor, tenantSlug: string, body: RequestAcmeBody): Promise<AcmeCertificateResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const hostname = normalizeHostname(body.hostname) ?? body.hostname;
    const route = await this.deps.prisma.route.findUnique({ where: { hostname } });
    const plan = await this.checkRequest(tenant, hostname, route, body.challenge, 'body.hostname');
    const row = await this.deps.prisma.$transaction((tx) => this.recordRequest(tx, actor, plan));
    this.wake();
    return (await this.views([row]))[0]!;
  }

  /**
   * Every check made before an order is recorded, for `POST …/acme-certificates` and for
   * `PUT …/external-access` with `acme` (there `route` is the route as the PUT will leave it,
   * and errors name `field`). A host name that already has an ACME certificate of the tenant
   * with the same challenge is `existing` (a repeated PUT changes nothing); one of another
   * tenant, or asked for with another challenge, is refused.
   */
  async checkRequest(
    tenant: Tenant,
    hostname: string,
    route: Pick<Route, 'tenantId' | 'tlsMode' | 'enabled'> | null,
    challenge: AcmeChallengeType | undefined,
    field: string,
    opts: { reuseExisting?: boolean } = {},
  ): Promise<AcmeRequestPlan> {
    let cfg: AcmeConfig;
    try {
      cfg = this.cfg;
    } catch (err) {
      throw err instanceof AppError ? new AppError(err.code, err.message, [{ field, message: 'ACME is not available on this platform' }]) : err;
    }
    if (isValidWildcardHostname(hostname)) {
      throw new AppError('SY_ACME_WILDCARD_UNSUPPORTED', 'Wildcard names can only be validated with DNS-01, which Switchyard does not implement; order each host name', [
        { field, message: `${hostname} is a wildcard` },
      ]);
    }
    this.ownRoute(tenant, hostname, route, field);
    if (opts.reuseExisting) {
      const existing = await this.deps.prisma.acmeCertificate.findUnique({ where: { hostname }, include: { certificate: true } });
      if (existing) {
        if (existing.tenantId !== tenant.id || (challenge !== undefined && challenge !== existing.challengeType)) throw acmeExists(hostname, field, existing.tenantId === tenant.id ? existing.challengeType : null);
        return { tenantId: tenant.id, hostname, challengeType: existing.challengeType, field, existing };
      }
    }
    await this.checkDns(hostname, field);
    // Nothing is ordered when the route still holds an ACME certificate for the name (see
    // `reusable`): no rate limit to count against.
    if (!(await reusable(this.deps.prisma, tenant.id, hostname))) {
      const decision = await this.rateDecision(hostname, false);
      if (!decision.ok) throw rateLimited(decision, field);
    }
    return { tenantId: tenant.id, hostname, challengeType: challenge ?? cfg.defaultChallenge, field, existing: null };
  }

  /**
   * Records a checked request and its audit event inside the caller's transaction: `pending`,
   * due now — or, when the route still holds an ACME certificate for the name that is not due
   * for renewal (`reusable`), `issued` with that certificate, renewed when it is due.
   */
  async recordRequest(tx: Prisma.TransactionClient, actor: Actor, plan: AcmeRequestPlan): Promise<Row> {
    if (plan.existing) return plan.existing;
    const id = randomUUID();
    const kept = await reusable(tx, plan.tenantId, plan.hostname);
    const now = new Date();
    const state = kept
      ? // The renewal window is asked of the CA (renewalInfo) at the worker's next ARI pass.
        { state: 'issued', certificateId: kept.id, renewAt: kept.renewAt, nextAttemptAt: kept.renewAt, lastIssuedAt: kept.notBefore, ariCheckAt: now }
      : { state: 'pending', nextAttemptAt: now };
    try {
      const row = await tx.acmeCertificate.create({
        data: { id, tenantId: plan.tenantId, hostname: plan.hostname, challengeType: plan.challengeType, ...state },
        include: { certificate: true },
      });
      await recordAudit(tx, actor, {
        tenantId: plan.tenantId,
        action: 'acme.request',
        targetType: 'acme-certificate',
        targetId: id,
        changes: {
          hostname: { from: null, to: plan.hostname },
          challenge: { from: null, to: row.challengeType },
          ...(kept ? { reusedCertificate: { from: null, to: kept.id } } : {}),
        },
      });
      return row;
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw acmeExists(plan.hostname, plan.field, null);
      throw err;
    }
  }

  /** Wakes the worker once a recorded request has committed. */
  wake(): void {
    this.deps.poke?.();
  }

  /** Renew (or retry a failed order) now rather than at `nextAttemptAt`, within the rate limits. */
  async renewNow(actor: Actor, tenantSlug: string, id: string): Promise<AcmeCertificateResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    void this.cfg; // SY_ACME_UNAVAILABLE before anything else
    const row = await this.find(tenant, id);
    // A pending order is already due, and a validating one is running: it sets its own next
    // attempt when it ends. "Renew now" would change nothing but say it did (and audit it).
    if (row.state === 'pending' || row.state === 'validating') {
      throw new AppError('SY_CONFLICT', `The ACME certificate of ${row.hostname} is ${row.state}: its order is ${row.state === 'pending' ? 'already due' : 'running'}; renew an issued certificate, or retry a failed one`, [
        { message: `is ${row.state}`, state: row.state },
      ]);
    }
    // The CA answered 429/503 with Retry-After: asking again sooner is what its limits punish
    // (Let's Encrypt extends the block). The worker waits for it; so does "renew now".
    const caRetryAt = (row.problem as { caRetryAt?: string } | null)?.caRetryAt;
    if (caRetryAt && Date.parse(caRetryAt) > Date.now()) {
      const retryAt = new Date(caRetryAt);
      throw rateLimited({ ok: false, limit: 'ca_retry_after', message: `the CA asked not to be asked again for ${row.hostname} before ${retryAt.toISOString()} (Retry-After)`, retryAt }, null);
    }
    const decision = await this.rateDecision(row.hostname, row.certificateId !== null);
    if (!decision.ok) throw rateLimited(decision, null);
    const updated = await this.deps.prisma.$transaction(async (tx) => {
      const u = await tx.acmeCertificate.update({ where: { id }, data: { nextAttemptAt: new Date(), ...(row.state === 'failed' ? { state: 'pending' } : {}) }, include: { certificate: true } });
      await recordAudit(tx, actor, { tenantId: tenant.id, action: 'acme.renew-requested', targetType: 'acme-certificate', targetId: id, changes: { hostname: { from: row.hostname, to: row.hostname } } });
      return u;
    });
    this.deps.poke?.();
    return (await this.views([updated]))[0]!;
  }

  /**
   * Stops ordering and renewing. An issued certificate stays attached (kind `acme`, no longer
   * renewed); attach another one to the route before it expires.
   */
  async remove(actor: Actor, tenantSlug: string, id: string): Promise<void> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const row = await this.find(tenant, id);
    await this.deps.prisma.$transaction(async (tx) => {
      const ch = await tx.acmeChallenge.deleteMany({ where: { acmeCertificateId: id } });
      await tx.acmeCertificate.delete({ where: { id } });
      await recordAudit(tx, actor, { tenantId: tenant.id, action: 'acme.delete', targetType: 'acme-certificate', targetId: id, changes: { hostname: { from: row.hostname, to: null } } });
      if (ch.count > 0) {
        const route = await tx.route.findUnique({ where: { hostname: row.hostname } });
        if (route) await recordRouteChanges(tx, [{ routeId: route.id, hostname: route.hostname, op: 'upsert' }]);
      }
    });
  }

  private async find(tenant: Tenant, id: string): Promise<Row> {
    const row = await this.deps.prisma.acmeCertificate.findFirst({ where: { id, tenantId: tenant.id }, include: { certificate: true } });
    if (!row) throw new AppError('SY_ACME_NOT_FOUND');
    return row;
  }

  /**
   * The route a tenant may order for: its own, in terminate mode, enabled (a disabled route's
   * certificate would be deleted with the next change, and nothing routes to it meanwhile).
   * One message for "none" and "another tenant's" (no probing).
   */
  private ownRoute(tenant: Tenant, hostname: string, route: Pick<Route, 'tenantId' | 'tlsMode' | 'enabled'> | null, field: string): void {
    if (!route || route.tenantId !== tenant.id) {
      throw new AppError('SY_ACME_ROUTE_REQUIRED', `${hostname} is not the host name of a route of this tenant`, [{ field, message: 'is not a route of this tenant' }]);
    }
    if (route.tlsMode !== 'terminate') {
      const how = field === 'body.hostname' ? 'switch it to terminate first (PUT …/external-access {"tlsMode": "terminate"})' : 'ACME certificates are served by terminating TLS: set "tlsMode": "terminate"';
      throw new AppError('SY_ACME_ROUTE_REQUIRED', `${hostname} is in ${route.tlsMode} mode; ${how}`, [{ field, message: 'needs a terminate-mode route' }]);
    }
    if (!route.enabled) {
      const how = field === 'body.hostname' ? 'enable its external access first (PUT …/external-access {"enabled": true})' : 'ACME certificates are ordered for enabled routes: set "enabled": true';
      throw new AppError('SY_ACME_ROUTE_REQUIRED', `${hostname} is the host name of a disabled route; ${how}`, [{ field, message: 'needs an enabled route' }]);
    }
  }

  private async views(rows: Row[]): Promise<AcmeCertificateResponse[]> {
    const routes = await this.deps.prisma.route.findMany({ where: { hostname: { in: rows.map((r) => r.hostname) } }, include: { certificate: { select: { id: true, kind: true } } } });
    const served = new Map(routes.map((r) => [r.hostname, r.certificate]));
    return rows.map((r) => {
      const c = r.certificate;
      const s = served.get(r.hostname) ?? null;
      return {
        id: r.id,
        hostname: r.hostname,
        challenge: r.challengeType as AcmeCertificateResponse['challenge'],
        state: r.state as AcmeCertificateResponse['state'],
        problem: (r.problem as AcmeCertificateResponse['problem']) ?? null,
        attempts: r.attempts,
        nextAttemptAt: r.nextAttemptAt?.toISOString() ?? null,
        renewAt: r.renewAt?.toISOString() ?? null,
        lastIssuedAt: r.lastIssuedAt?.toISOString() ?? null,
        certificate: c
          ? {
              id: c.id,
              fingerprint: c.fingerprint,
              issuer: new X509Certificate(c.certPem).issuer,
              notBefore: c.notBefore.toISOString(),
              notAfter: c.notAfter.toISOString(),
              expiresInDays: Math.floor((c.notAfter.getTime() - Date.now()) / DAY_MS),
              publiclyTrusted: isPubliclyTrusted(c.certPem),
            }
          : null,
        servedWith: s ? { certificateId: s.id, kind: s.kind } : null,
        createdAt: r.createdAt.toISOString(),
        updatedAt: r.updatedAt.toISOString(),
      };
    });
  }

  // ── checks before ordering ──────────────────────────────────────────────────────────

  /** With ACME_PUBLIC_ADDRESSES set: the name must resolve to one of them. */
  private async checkDns(hostname: string, field = 'body.hostname'): Promise<void> {
    const wanted = this.deps.config?.publicAddresses ?? [];
    if (wanted.length === 0) return;
    const canon = (a: string) => {
      const ip = parseIp(a);
      return ip ? formatIp(ip) : a;
    };
    let got: string[];
    try {
      got = this.deps.resolve ? await this.deps.resolve(hostname) : (await lookup(hostname, { all: true })).map((a) => a.address);
    } catch (err) {
      got = [];
      this.deps.log.debug({ hostname, err: (err as Error).message }, 'ACME DNS check: lookup failed');
    }
    const want = new Set(wanted.map(canon));
    if (!got.some((a) => want.has(canon(a)))) {
      throw new AppError('SY_ACME_DNS_MISMATCH', `${hostname} resolves to ${got.length > 0 ? got.join(', ') : 'nothing'}, not to the platform's public addresses (${wanted.join(', ')}); fix its DNS record first`, [
        { field, message: `${hostname} does not resolve to the platform`, resolved: got, expected: wanted },
      ]);
    }
  }

  /** `renewal`: the host name already has a certificate (exempt from the per-domain limit). */
  async rateDecision(hostname: string, renewal: boolean, now = new Date()): Promise<RateDecision> {
    const limits = this.deps.config?.limits;
    if (!limits) return { ok: true };
    const domain = registeredDomain(hostname);
    const since = new Date(now.getTime() - WEEK_MS);
    const [domainIssued, duplicates, failures] = await Promise.all([
      // New certificates only: renewals (`issued` events with reason `renewal`) do not count.
      this.deps.prisma.acmeEvent.findMany({ where: { registeredDomain: domain, kind: 'issued', createdAt: { gt: since }, OR: [{ reason: null }, { reason: { not: 'renewal' } }] }, select: { createdAt: true } }),
      this.deps.prisma.acmeEvent.findMany({ where: { hostname, kind: 'issued', createdAt: { gt: since } }, select: { createdAt: true } }),
      this.deps.prisma.acmeEvent.findMany({ where: { hostname, kind: 'failed_validation', createdAt: { gt: new Date(now.getTime() - HOUR_MS) } }, select: { createdAt: true } }),
    ]);
    return checkRateLimits(now, limits, { domainIssued: domainIssued.map((e) => e.createdAt), duplicates: duplicates.map((e) => e.createdAt), failures: failures.map((e) => e.createdAt) }, { hostname, domain }, renewal);
  }

  // ── the worker's steps ──────────────────────────────────────────────────────────────

  /** Rows whose next action is due, oldest first. */
  async due(now = new Date(), take = 20): Promise<Row[]> {
    return this.deps.prisma.acmeCertificate.findMany({ where: { nextAttemptAt: { lte: now } }, include: { certificate: true }, orderBy: [{ nextAttemptAt: 'asc' }], take });
  }

  /**
   * RFC 9773 §4.3: fetches renewalInfo again for issued certificates whose `ari_check_at` has
   * passed (and whose renewal is not yet due), and moves the renewal when the window no
   * longer holds it (acme.policy.ts `ariRecheck`). Returns how many renewal times moved.
   */
  async recheckRenewalInfo(now = new Date(), take = 20): Promise<number> {
    if (!this.deps.ca) return 0;
    const rows = await this.deps.prisma.acmeCertificate.findMany({
      where: { state: 'issued', ariCheckAt: { lte: now }, renewAt: { gt: now }, certificateId: { not: null } },
      include: { certificate: true },
      orderBy: [{ ariCheckAt: 'asc' }],
      take,
    });
    let moved = 0;
    for (const row of rows) {
      const info = await this.deps.ca.renewalInfo(row.certificate!.certPem, now.getTime());
      if (!info.offered) {
        await this.deps.prisma.acmeCertificate.update({ where: { id: row.id }, data: { ariCheckAt: null } });
        continue;
      }
      const r = ariRecheck(now, row.renewAt!, info.window, info.retryAfterMs);
      // The renewal moves only while nothing else (a retry's backoff) holds next_attempt_at.
      const scheduled = row.nextAttemptAt?.getTime() === row.renewAt!.getTime();
      await this.deps.prisma.acmeCertificate.update({
        where: { id: row.id },
        data: { ariCheckAt: r.nextCheckAt, ...(r.changed ? { renewAt: r.renewAt, ...(scheduled ? { nextAttemptAt: r.renewAt } : {}) } : {}) },
      });
      if (r.changed) {
        moved++;
        await this.audit(systemActor(`acme-${row.id}`), row, 'acme.renewal-window', { renewAt: { from: row.renewAt!.toISOString(), to: r.renewAt.toISOString() } });
        this.deps.log.info({ hostname: row.hostname, from: row.renewAt, to: r.renewAt, window: info.window }, 'ACME renewal moved: the CA changed its suggested window');
      }
    }
    return moved;
  }

  /**
   * One order (first issuance or renewal) for one host name, start to finish. `ca-unreachable`:
   * it failed because the CA gave no answer or said it is unavailable (503), which the next
   * due row would meet too.
   */
  async process(row: Row, isLeader: () => boolean = () => true): Promise<'done' | 'ca-unreachable'> {
    const cfg = this.cfg;
    const renewal = row.certificate !== null;
    const actor = systemActor(`acme-${row.id}`);
    // What an earlier order left behind is not this order's.
    this.deps.ca?.takeProblem();
    this.deps.ca?.takeRetryAfter();
    try {
      const route = await this.deps.prisma.route.findUnique({ where: { hostname: row.hostname } });
      // Route changes delete the row with them (acme.lifecycle.ts); this catches a change
      // committed after `due()` read the row.
      if (!route || route.tenantId !== row.tenantId || route.tlsMode !== 'terminate' || !route.enabled) {
        throw new AcmeFailure({ type: 'switchyard:routeGone', detail: `${row.hostname} is no longer an enabled terminate-mode route of the tenant; nothing is ordered` }, false, 'never');
      }
      const decision = await this.rateDecision(row.hostname, renewal);
      if (!decision.ok) throw new AcmeFailure({ type: 'switchyard:rateLimited', detail: `${decision.message}; the next attempt waits until the window frees` }, false, decision.retryAt);
      try {
        await this.checkDns(row.hostname);
      } catch (err) {
        throw new AcmeFailure({ type: 'switchyard:dns', detail: (err as Error).message });
      }
      if (!renewal) await this.deps.prisma.acmeCertificate.update({ where: { id: row.id }, data: { state: 'validating' } });
      await this.event(row.hostname, 'order');
      acmeCounters.orders[renewal ? 1 : 0]++;
      await this.audit(actor, row, 'acme.order', { renewal: { from: null, to: renewal } });
      const { client, order } = await this.createOrder(row.hostname);
      await this.deps.prisma.acmeCertificate.update({ where: { id: row.id }, data: { orderUrl: order.url } });
      for (const authz of await client.getAuthorizations(order)) {
        if (authz.status === 'valid') continue;
        if (!isLeader()) throw new AcmeFailure({ type: 'switchyard:interrupted', detail: 'the worker lost its lease; another replica retries' }, false, new Date());
        await this.validate(client, order, authz, row, route);
      }
      const key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      const [, csr] = await acme.crypto.createCsr({ commonName: row.hostname, altNames: [row.hostname] }, key);
      const finalized = await client.finalizeOrder(order, csr);
      const chainPem = await client.getCertificate(finalized);
      await this.store(actor, row, chainPem, key);
    } catch (err) {
      const problem = await this.fail(actor, row, err, cfg);
      // No answer, or 503 (RFC 8555 §6.6: the server is unavailable; Let's Encrypt in maintenance).
      if (err instanceof CaUnreachableError || problem?.status === 503) return 'ca-unreachable';
    }
    return 'done';
  }

  /**
   * A new order with the platform account. A CA that no longer knows the account (deleted, or
   * a CA that lost its state) answers `accountDoesNotExist`: the same key is registered again
   * and the order placed once more, rather than failing every order until someone intervenes.
   */
  private async createOrder(hostname: string): Promise<{ client: acme.Client; order: acme.Order }> {
    const ca = this.deps.ca!;
    const identifiers = [{ type: 'dns', value: hostname }];
    const client = await ca.client();
    try {
      return { client, order: await client.createOrder({ identifiers }) };
    } catch (err) {
      if (!ca.accountGone()) throw err;
      this.deps.log.warn({ accountUrl: client.getAccountUrl() }, 'ACME account unknown to the CA; registering the account key again');
      await ca.forgetAccount(client.getAccountUrl());
      const fresh = await ca.client();
      return { client: fresh, order: await fresh.createOrder({ identifiers }) };
    }
  }

  /** Publishes the challenge to every proxy, asks the CA to validate, withdraws it. */
  private async validate(client: AcmeClient, order: acme.Order, authz: acme.Authorization, row: Row, route: Route): Promise<void> {
    const challenge = authz.challenges.find((c) => c.type === row.challengeType);
    if (!challenge) {
      throw new AcmeFailure({ type: 'switchyard:challengeUnavailable', detail: `the CA offers no ${row.challengeType} challenge for ${row.hostname} (offered: ${authz.challenges.map((c) => c.type).join(', ')})` });
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    const id = randomUUID();
    let certPem: string | null = null;
    let keyCiphertext: string | null = null;
    if ((challenge.type as string) === 'tls-alpn-01') {
      const c = await buildTlsAlpnCertificate(row.hostname, keyAuthorization);
      certPem = c.certPem;
      keyCiphertext = this.deps.keyring!.encrypt(c.keyPem, id);
    }
    const version = await this.deps.prisma.$transaction(async (tx) => {
      await tx.acmeChallenge.deleteMany({ where: { hostname: row.hostname } });
      await tx.acmeChallenge.create({ data: { id, acmeCertificateId: row.id, hostname: row.hostname, type: challenge.type, token: challenge.token, keyAuthorization, certPem, keyCiphertext } });
      return recordRouteChanges(tx, [{ routeId: route.id, hostname: route.hostname, op: 'upsert' }]);
    });
    try {
      // Every live proxy must serve the challenge before the CA looks (it validates from
      // several vantage points, any of which may reach any proxy).
      // A live proxy that has not applied the version is not ready: the CA is not asked (a
      // validator reaching it would fail, and failed validations are rate-limited), the
      // authorization is given up and the order retried later. No live proxy at all (the
      // fleet down or restarting, heartbeats stale) is no better: nothing would answer.
      const p = await this.deps.propagation.waitFor(version, this.deps.propagationTimeoutMs, 'acme');
      if (p.state !== 'applied') {
        const lagging = p.proxies.filter((x) => !x.applied).map((x) => x.id);
        await client.deactivateAuthorization(authz).catch(() => {});
        throw new AcmeFailure({
          type: 'switchyard:notPropagated',
          detail:
            p.state === 'no-proxies'
              ? `no live proxy (heartbeat within PROXY_LIVENESS_MS) would answer the challenge; the CA was not asked to validate`
              : `proxies ${lagging.join(', ')} had not applied the challenge (config version ${version}) after ${this.deps.propagationTimeoutMs} ms; the CA was not asked to validate`,
        });
      }
      await client.completeChallenge(challenge);
      try {
        await client.waitForValidStatus(challenge);
      } catch (err) {
        throw new AcmeFailure(await this.challengeProblem(client, order, row, err), true);
      }
    } finally {
      await this.deps.prisma.$transaction(async (tx) => {
        const n = await tx.acmeChallenge.deleteMany({ where: { id } });
        if (n.count > 0) await recordRouteChanges(tx, [{ routeId: route.id, hostname: route.hostname, op: 'upsert' }]);
      });
    }
  }

  /** The CA's problem document for the failed challenge (RFC 8555 §7.1.5 `error`). */
  private async challengeProblem(client: AcmeClient, order: acme.Order, row: Row, err: unknown): Promise<AcmeProblem> {
    try {
      const authzs = await client.getAuthorizations(order);
      for (const a of authzs) {
        const c = a.challenges.find((x) => x.type === row.challengeType) as (acme.Authorization['challenges'][number] & { error?: AcmeProblem }) | undefined;
        if (c?.error) return { type: c.error.type, detail: c.error.detail, ...(c.error.status ? { status: c.error.status } : {}) };
      }
    } catch {
      // fall through to the client's message
    }
    return { type: 'urn:ietf:params:acme:error:unauthorized', detail: (err as Error).message };
  }

  /** First issuance: a new `acme` certificate attached to the route; renewal: the replace path. */
  private async store(actor: Actor, row: Row, chainPem: string, keyPem: string): Promise<void> {
    const info = certificateInfo(chainPem);
    const ariInfo = await this.deps.ca!.renewalInfo(chainPem);
    const ari = ariInfo.window;
    const renewAt = renewalTime(info.notBefore, info.notAfter, ari);
    // RFC 9773 §4.3: the window is polled again (recheckRenewalInfo) while the CA offers it.
    const ariCheckAt = ariInfo.offered ? ariNextCheck(new Date(), ariInfo.retryAfterMs) : null;
    const material = { hostnames: info.hostnames, certPem: chainPem, keyType: 'ec-prime256v1', fingerprint: info.fingerprint, notBefore: info.notBefore, notAfter: info.notAfter };
    const done = { state: 'issued', problem: Prisma.DbNull, attempts: 0, renewAt, nextAttemptAt: renewAt, lastIssuedAt: new Date(), orderUrl: null, ariCheckAt };
    let version: number | null;
    let certificateId: string;
    if (row.certificate) {
      certificateId = row.certificate.id;
      const swapped = await this.deps.certificates.swapContent(actor, row.tenantId, row.certificate, { ...material, keyCiphertext: this.deps.keyring!.encrypt(keyPem, certificateId) }, 'certificate.renew');
      version = swapped.version;
    } else {
      certificateId = randomUUID();
      const certId = certificateId;
      version = await this.deps.prisma.$transaction(async (tx) => {
        await tx.certificate.create({
          data: { id: certId, tenantId: row.tenantId, name: `acme ${row.hostname} ${Date.now().toString(36)}`, kind: 'acme', ...material, keyCiphertext: this.deps.keyring!.encrypt(keyPem, certId) },
        });
        // Linked at once, so a failure below retries as a renewal of this certificate.
        await tx.acmeCertificate.update({ where: { id: row.id }, data: { certificateId: certId } });
        const route = await tx.route.findUnique({ where: { hostname: row.hostname }, include: { certificate: true } });
        if (!route || route.tlsMode !== 'terminate') return null;
        await tx.route.update({ where: { id: route.id }, data: { certificateId: certId } });
        // The platform-CA certificate minted for the route goes once nothing uses it.
        if (route.certificate?.auto) await tx.certificate.deleteMany({ where: { id: route.certificate.id, routes: { none: {} } } });
        return recordRouteChanges(tx, [{ routeId: route.id, hostname: route.hostname, op: 'upsert' }]);
      });
    }
    await this.event(row.hostname, 'issued', row.certificate ? 'renewal' : undefined);
    // `issued` once the proxies serve it (or the wait timed out: they converge on their own).
    if (version !== null) await this.deps.propagation.waitFor(version, this.deps.propagationTimeoutMs, 'acme');
    await this.deps.prisma.acmeCertificate.update({ where: { id: row.id }, data: { ...done, certificateId } });
    this.deps.metrics?.acmeOrder(row.certificate ? 'renewal' : 'issuance', 'issued');
    if (row.certificate) {
      acmeCounters.renewed++;
      await this.audit(actor, row, 'acme.renew', { notAfter: { from: row.certificate.notAfter.toISOString(), to: info.notAfter.toISOString() } });
    } else {
      acmeCounters.issued++;
      await this.audit(actor, row, 'acme.issue', { certificate: { from: null, to: certificateId }, notAfter: { from: null, to: info.notAfter.toISOString() } });
    }
    this.deps.log.info({ hostname: row.hostname, notAfter: info.notAfter, renewAt, ari: ari !== null }, row.certificate ? 'ACME certificate renewed' : 'ACME certificate issued');
  }

  /** Records the failure; returns the problem recorded (null: the request was withdrawn). */
  private async fail(actor: Actor, row: Row, err: unknown, cfg: AcmeConfig): Promise<AcmeProblem | null> {
    // The request was withdrawn while the order ran (its route disabled, renamed, switched to
    // passthrough or deleted: acme.lifecycle.ts deletes the row): whatever failed failed for
    // that reason. Nothing to record, retry or count; not an error.
    const still = await this.deps.prisma.acmeCertificate.findUnique({ where: { id: row.id }, select: { id: true } }).catch(() => row);
    if (still === null) {
      this.deps.metrics?.acmeOrder(row.certificate ? 'renewal' : 'issuance', 'withdrawn');
      this.deps.ca?.takeProblem();
      this.deps.ca?.takeRetryAfter();
      this.deps.log.info({ hostname: row.hostname, step: (err as Error).message }, 'ACME order dropped: its request was withdrawn while it ran');
      return null;
    }
    // The CA's own problem document when its answer failed the call, else what the error says.
    const caProblem = this.deps.ca?.takeProblem() ?? null;
    const f = err instanceof AcmeFailure ? err : new AcmeFailure(caProblem && String((err as Error).message).includes(caProblem.detail.replace(/\n/g, '')) ? caProblem : problemOf(err));
    const attempts = row.attempts + 1;
    // Doubling backoff, and never sooner than the CA's Retry-After.
    const retryAfter = this.deps.ca?.takeRetryAfter() ?? null;
    const nextAttemptAt = f.retry === 'never' ? null : f.retry instanceof Date ? f.retry : new Date(Date.now() + backoffMs(attempts, cfg.retryBaseMs, retryAfter));
    const renewal = row.certificate !== null;
    // The CA's own "not before" is kept with the problem: `renew` must not ask sooner either.
    const caRetryAt = retryAfter !== null ? { caRetryAt: new Date(Date.now() + retryAfter).toISOString() } : {};
    const problem = { ...f.problem, at: new Date().toISOString(), renewal, ...caRetryAt };
    acmeCounters.failures.set(f.problem.type, (acmeCounters.failures.get(f.problem.type) ?? 0) + 1);
    this.deps.metrics?.acmeOrder(renewal ? 'renewal' : 'issuance', 'failed');
    // A failed renewal keeps the certificate in service (state issued, problem shown).
    // If this write fails the row stays due; the worker tries it again in its next pass, not
    // in this one (acme.worker.ts).
    await this.deps.prisma.acmeCertificate
      .update({ where: { id: row.id }, data: { state: renewal ? 'issued' : 'failed', problem, attempts, nextAttemptAt, orderUrl: null } })
      .catch((e: unknown) => this.deps.log.error({ hostname: row.hostname, err: (e as Error).message }, 'ACME failure could not be recorded; retried in the next worker pass'));
    if (f.validation) await this.event(row.hostname, 'failed_validation', f.problem.type);
    await this.audit(actor, row, 'acme.fail', { problem: { from: null, to: problem }, nextAttemptAt: { from: null, to: nextAttemptAt?.toISOString() ?? null } }).catch(() => {});
    this.deps.log.warn({ hostname: row.hostname, problem: f.problem, nextAttemptAt }, renewal ? 'ACME renewal failed; the current certificate stays in service' : 'ACME order failed');
    return f.problem;
  }

  private async event(hostname: string, kind: 'order' | 'issued' | 'failed_validation', reason?: string): Promise<void> {
    await this.deps.prisma.acmeEvent.create({ data: { hostname, registeredDomain: registeredDomain(hostname), kind, reason: reason ?? null } });
  }

  private async audit(actor: Actor, row: Row, action: string, changes: Record<string, { from: unknown; to: unknown }>): Promise<void> {
    await this.deps.prisma.$transaction((tx) => recordAudit(tx, actor, { tenantId: row.tenantId, action, targetType: 'acme-certificate', targetId: row.id, changes: { hostname: { from: row.hostname, to: row.hostname }, ...changes } }));
  }

  /** Counting rows older than the longest window (7 days) are dropped. */
  async pruneEvents(): Promise<void> {
    await this.deps.prisma.acmeEvent.deleteMany({ where: { createdAt: { lt: new Date(Date.now() - WEEK_MS - DAY_MS) } } });
  }

  /** Prometheus text: certificates by state, soonest expiry, orders and failures by reason. */
  async metrics(): Promise<string> {
    const byState = await this.deps.prisma.acmeCertificate.groupBy({ by: ['state'], _count: { _all: true } });
    const soonest = await this.deps.prisma.certificate.findFirst({ where: { kind: 'acme' }, orderBy: { notAfter: 'asc' }, select: { notAfter: true } });
    const lines = [
      '# HELP switchyard_acme_certificates ACME certificates by state.',
      '# TYPE switchyard_acme_certificates gauge',
      ...['pending', 'validating', 'issued', 'failed'].map((s) => `switchyard_acme_certificates{state="${s}"} ${byState.find((b) => b.state === s)?._count._all ?? 0}`),
      '# HELP switchyard_acme_soonest_expiry_days Days until the soonest ACME certificate expires (absent: none).',
      '# TYPE switchyard_acme_soonest_expiry_days gauge',
      ...(soonest ? [`switchyard_acme_soonest_expiry_days ${((soonest.notAfter.getTime() - Date.now()) / DAY_MS).toFixed(2)}`] : []),
      '# HELP switchyard_acme_orders_total ACME orders placed by this replica (first issuance or renewal).',
      '# TYPE switchyard_acme_orders_total counter',
      `switchyard_acme_orders_total{renewal="false"} ${acmeCounters.orders[0]}`,
      `switchyard_acme_orders_total{renewal="true"} ${acmeCounters.orders[1]}`,
      '# HELP switchyard_acme_issued_total Certificates issued (first time) and renewed by this replica.',
      '# TYPE switchyard_acme_issued_total counter',
      `switchyard_acme_issued_total{renewal="false"} ${acmeCounters.issued}`,
      `switchyard_acme_issued_total{renewal="true"} ${acmeCounters.renewed}`,
      '# HELP switchyard_acme_failures_total Failed orders by problem type.',
      '# TYPE switchyard_acme_failures_total counter',
      ...[...acmeCounters.failures].map(([reason, n]) => `switchyard_acme_failures_total{reason="${reason.replace(/["\\\n]/g, '_')}"} ${n}`),
    ];
    return `${lines.join('\n')}\n`;
  }
}

function problemOf(err: unknown): AcmeProblem {
  if (err instanceof CaUnreachableError) return { type: 'switchyard:caUnreachable', detail: err.message };
  const message = err instanceof Error ? err.message : String(err);
  // acme-client turns a problem document into an Error carrying its detail.
  const rate = /rate ?limit/i.test(message);
  return { type: rate ? 'urn:ietf:params:acme:error:rateLimited' : 'switchyard:orderFailed', detail: message };
}

/**
 * The ACME certificate the name's route still holds, when a request for the name can take it
 * up instead of ordering: of this tenant, kind `acme`, issued for the name, and not yet due
 * for renewal (a third of its lifetime left). Disabling external access ends the ACME request
 * but leaves the issued certificate attached (acme.lifecycle.ts); without this, every
 * re-enable ordered a new one — and a CA counts duplicates of one name (Let's Encrypt: 5 a
 * week), so a tenant toggling access would soon be refused.
 */
async function reusable(db: Pick<Prisma.TransactionClient, 'route'>, tenantId: string, hostname: string): Promise<{ id: string; notBefore: Date; renewAt: Date } | null> {
  const route = await db.route.findUnique({ where: { hostname }, select: { certificate: { select: { id: true, tenantId: true, kind: true, hostnames: true, notBefore: true, notAfter: true } } } });
  const c = route?.certificate;
  if (!c || c.kind !== 'acme' || c.tenantId !== tenantId || !c.hostnames.includes(hostname)) return null;
  const renewAt = renewalTime(c.notBefore, c.notAfter, null);
  return renewAt.getTime() > Date.now() ? { id: c.id, notBefore: c.notBefore, renewAt } : null;
}

function acmeExists(hostname: string, field: string, challenge: string | null): AppError {
  return new AppError(
    'SY_ACME_EXISTS',
    challenge ? `${hostname} already has an ACME certificate validated with ${challenge}; delete it (DELETE …/acme-certificates/:id) to change the challenge` : `${hostname} already has an ACME certificate`,
    [{ field, message: 'already has an ACME certificate' }],
  );
}

/** `field` null: the request has no body (`renew`); the detail then names no field. */
function rateLimited(d: Exclude<RateDecision, { ok: true }>, field: string | null): AppError {
  const seconds = Math.max(1, Math.ceil((d.retryAt.getTime() - Date.now()) / 1000));
  // The detail says when, too: a form shows it beside the field, without the top-level message.
  const message = `${d.message}; retry after ${d.retryAt.toISOString()}`;
  const detail = { ...(field ? { field } : {}), message, limit: d.limit, retryAt: d.retryAt.toISOString() };
  return new AppError('SY_ACME_RATE_LIMITED', message, [detail], {
    'retry-after': String(seconds),
  });
}
