/**
 * Makes the database match what the Kubernetes objects want, through the API's own domain
 * services (DatabasesService, ExternalAccessService): every route change is the same one
 * transaction with the version bump, audit event and NOTIFY as an API call. The controller
 * acts as a platform actor *for one object at a time* (`actor.owner`), so what it creates is
 * owned by that object and it can change nothing owned by anyone else.
 *
 * Bad input loses nothing: when the API refuses a change to a route the object already has
 * (its content: a hostname outside the tenant's domains, an unknown certificate…), that route
 * stays exactly as it is — the change is written in an order where a refusal writes nothing —
 * and so do the routes the translator keeps for objects refused for their own spec — except
 * their endpoints, which follow the Service(s) of the last accepted generation where it is
 * known (KeptFollow), checked by the API like any upstream change. Refusals the world causes
 * (keepsRoute) remove the route instead.
 */
import type { Actor, AppError, DomainServices, ExternalAccessResponse, PutExternalAccessBody } from '@switchyard/api';
import { listenerServes, type Endpoint } from '@switchyard/core';
import type { PrismaClient } from '@switchyard/db';
import { describeError, isControlDatabaseOutage } from './failures.js';
import { NotLeaderError } from './leader.js';
import { keepsRoute, routeRemoved, servicesNamed, UPSTREAM_CA_INVALID, type DesiredRoute, type DiscoveredService, type KeptFollow, type KeptRoute, type RouteOwnerRef } from './translate/translate.js';

/**
 * What applying one object's route came to. A refusal carries `kept`: the route the object
 * has from an earlier, accepted generation, which keeps serving as it is (null: it has none,
 * or it was removed), and `follows`: the Service whose ready pods its endpoints are (null or
 * absent: they are as they were). What following did beyond the refusal is in `message`, and
 * apart for a TLSRoute's kept routes (their parents' message says it per hostname):
 * `removed`, why the kept route was removed, or `note`, why its endpoints did not follow.
 */
export type ApplyOutcome =
  | { ok: true; access: ExternalAccessResponse }
  | { ok: false; reason: string; message: string; kept: ExternalAccessResponse | null; follows?: KeptFollow | null; removed?: string; note?: string };

export interface ApplyReport {
  /** <owner uid>/<database> → outcome. */
  outcomes: Map<string, ApplyOutcome>;
  deleted: string[];
  /** Objects (and deletions) whose last attempt failed unexpectedly: `<what>: <error>`. */
  failing: string[];
  /** When the earliest of them is due for another attempt (epoch ms), or null. */
  retryAt: number | null;
  /** Attempts that failed in this pass (those waiting for their backoff not counted). */
  failedAttempts: number;
}

/** Condition reason of an object whose route could not be applied for an unexpected reason. */
export const APPLY_FAILED = 'ApplyFailed';

/** Per-object retry delays after unexpected failures: 1 s doubling to 5 min (a persistent bug is not hammered). */
export const OBJECT_RETRY_MIN_MS = 1000;
export const OBJECT_RETRY_MAX_MS = 5 * 60_000;

export function objectRetryDelay(attempts: number, minMs = OBJECT_RETRY_MIN_MS, maxMs = OBJECT_RETRY_MAX_MS): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
}

interface Failure {
  attempts: number;
  retryAt: number;
  /** What was being applied: a changed object (a fixed spec, say) is tried again at once. */
  fingerprint: string;
  outcome: Extract<ApplyOutcome, { ok: false }>;
  what: string;
}

/** A refusal of the change inside one(): the route the object has is then kept or removed (refused()). */
class Refusal extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export type Fence = NonNullable<Actor['fence']>;

/** The controller acting for one object; `fence` proves leadership inside each write (leader.ts). */
export function controllerActor(owner: RouteOwnerRef | undefined, id: string, fence?: Fence): Actor {
  return {
    principal: { actorType: 'controller', actorId: id, isPlatformAdmin: true, tenantRoles: new Map() },
    requestId: `controller-${Date.now().toString(36)}`,
    clientAddress: '127.0.0.1',
    owner: owner,
    fence,
  };
}

/** API error codes → condition reasons. */
const REASONS: Record<string, string> = {
  SY_UPSTREAM_NOT_ALLOWED: 'UpstreamNotAllowed',
  SY_HOSTNAME_TAKEN: 'HostnameConflict',
  SY_HOSTNAME_NOT_ALLOWED: 'HostnameNotAllowed',
  SY_DATABASE_EXISTS: 'DatabaseNameConflict',
  SY_KUBERNETES_OWNED: 'DatabaseNameConflict',
  SY_CERTIFICATE_NOT_FOUND: 'CertificateNotFound',
  SY_CERTIFICATE_HOSTNAME_MISMATCH: 'CertificateMismatch',
  SY_CERTIFICATE_REQUIRED: 'CertificateNotFound',
  SY_LISTENER_MISMATCH: 'Invalid',
  SY_UPSTREAM_CA_INVALID: UPSTREAM_CA_INVALID,
  SY_VALIDATION: 'Invalid',
  SY_TENANT_LIMIT: 'TenantLimitReached',
};

/** The condition reason of an API refusal (`Invalid` for codes without a reason of their own). */
export function refusalReason(e: Pick<AppError, 'code'>): string {
  return REASONS[e.code] ?? 'Invalid';
}

/**
 * Fields of the API's PUT body → the ExternalAccess field they come from: a refusal's message
 * names what the object's author can change (`spec.upstreamCa`), not the API's `body.…`.
 */
const SPEC_FIELDS: Record<string, string> = {
  enabled: 'spec.enabled',
  hostname: 'spec.hostname',
  sourceCidrs: 'spec.sourceCidrs',
  maxConnections: 'spec.maxConnections',
  disableBehavior: 'spec.disableBehavior',
  tlsMode: 'spec.tlsMode',
  upstreamTls: 'spec.upstreamTls',
  upstreamCa: 'spec.upstreamCa',
  upstreamServerName: 'spec.upstreamServerName',
  certificateId: 'spec.certificate.name',
};

/**
 * The ExternalAccess field an API refusal is about (from its first detail), or null — also for
 * the hostname when the object names none (the default one is the controller's choice).
 */
export function specFieldOf(e: Pick<AppError, 'details'>, r: Pick<DesiredRoute, 'customHostname'>): string | null {
  const m = /^body\.([A-Za-z]+)(?:\.(\d+))?/.exec(e.details?.[0]?.field ?? '');
  const field = m ? SPEC_FIELDS[m[1]!] : undefined;
  if (!field || (field === 'spec.hostname' && !r.customHostname)) return null;
  return m![2] === undefined ? field : `${field}[${m![2]}]`;
}

/**
 * An API refusal as a condition message that starts with the object's field at fault:
 * `body.upstreamServerName "x" is not a DNS name` → `spec.upstreamServerName: "x" is not a DNS name`.
 */
export function refusalMessage(e: Pick<AppError, 'details' | 'message'>, r: Pick<DesiredRoute, 'customHostname'>): string {
  const field = specFieldOf(e, r);
  if (!field) return e.message;
  const name = /^body\.([A-Za-z]+)/.exec(e.details?.[0]?.field ?? '')![1]!;
  const rest = e.message.replace(new RegExp(`^(?:body\\.)?${name}(?:\\.\\d+)?:?\\s*`), '');
  return `${field}: ${rest}`;
}

export class Applier {
  /** Unexpected failures of single objects (and deletions), by route key, with their backoff. */
  private readonly failing = new Map<string, Failure>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly services: Pick<DomainServices, 'databases' | 'externalAccess'>,
    private readonly actorId: string,
    private readonly fence?: Fence,
    /**
     * Runs before an object's existing route is rewritten for an accepted generation (the first
     * write of one()): the controller removes there what the object records its kept route would
     * follow when this write makes that record wrong (controller.ts, forgetFollowedFirst). An
     * error fails this object's attempt, before anything is written.
     */
    private readonly beforeRewrite?: (r: DesiredRoute) => Promise<void>,
  ) {}

  /**
   * First removes Kubernetes-owned databases nothing wants any more (objects deleted while we
   * were down included: owner bookkeeping, no finalizers), then creates or updates the rest.
   * Call only with synced caches: `routes` must be the complete wanted set — except for the
   * `frozen` kinds, whose objects cannot be read (RBAC): their routes are left exactly as they are.
   */
  async apply(routes: DesiredRoute[], kept: KeptRoute[], stillWriting: () => boolean, frozen: ReadonlySet<RouteOwnerRef['kind']> = new Set()): Promise<ApplyReport> {
    const report: ApplyReport = { outcomes: new Map(), deleted: [], failing: [], retryAt: null, failedAttempts: 0 };
    routes = routes.filter((r) => !frozen.has(r.owner.kind));
    kept = kept.filter((k) => !frozen.has(k.owner.kind));
    // A kept route is wanted as it is: the sweep below must not take it for an orphan.
    const wanted = new Set([...routes, ...kept].map((r) => `${r.owner.uid}/${r.tenant}/${r.database}`));
    const owned = await this.prisma.database.findMany({ where: { owner: 'kubernetes' }, include: { tenant: true } });
    const seen = new Set<string>();
    for (const db of owned) {
      if (wanted.has(`${db.ownerUid}/${db.tenant.slug}/${db.name}`)) continue;
      // Not wanted as far as we can tell — but we cannot tell for a kind we may not read.
      if (frozen.has(db.ownerKind as RouteOwnerRef['kind'])) continue;
      if (!stillWriting()) return report;
      const owner = { kind: db.ownerKind as RouteOwnerRef['kind'], namespace: db.ownerNamespace!, name: db.ownerName!, uid: db.ownerUid! };
      const key = `delete/${db.tenant.slug}/${db.name}`;
      seen.add(key);
      const done = await this.attempt(report, key, key, `removing ${db.tenant.slug}/${db.name} (${owner.kind} ${owner.namespace}/${owner.name})`, () =>
        this.services.databases.delete(controllerActor(owner, this.actorId, this.fence), db.tenant.slug, db.name),
      );
      if (done.ok) report.deleted.push(`${db.tenant.slug}/${db.name}`);
    }
    for (const r of routes) {
      if (!stillWriting()) return report;
      const key = `${r.owner.uid}/${r.database}`;
      seen.add(key);
      const done = await this.attempt(report, key, JSON.stringify(r), `${r.owner.kind} ${r.owner.namespace}/${r.owner.name} (database ${r.tenant}/${r.database})`, () => this.one(r));
      report.outcomes.set(key, done.ok ? done.value : done.outcome);
    }
    for (const k of kept) {
      if (!stillWriting()) return report;
      const key = `${k.owner.uid}/${k.database}`;
      seen.add(key);
      const done = await this.attempt(report, key, JSON.stringify(k), `${k.owner.kind} ${k.owner.namespace}/${k.owner.name} (kept route ${k.tenant}/${k.database})`, () => this.keep(k));
      report.outcomes.set(key, done.ok ? done.value : done.outcome);
    }
    // A full pass: forget failures of what is no longer wanted (deleted objects, renamed routes).
    for (const [key, f] of this.failing) {
      if (!seen.has(key)) {
        this.failing.delete(key);
        continue;
      }
      report.failing.push(`${f.what}: ${f.outcome.message}`);
      report.retryAt = Math.min(report.retryAt ?? Infinity, f.retryAt);
    }
    return report;
  }

  /**
   * Runs one object's change, isolated from the others: an unexpected error fails that object
   * only (an `ApplyFailed` outcome naming the error, retried with backoff; while it waits, the
   * same outcome is reported without trying). A control-database outage or a lost leadership
   * is no object's fault: it propagates and fails the whole reconcile.
   */
  private async attempt<T>(report: ApplyReport, key: string, fingerprint: string, what: string, run: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; outcome: Extract<ApplyOutcome, { ok: false }> }> {
    const prev = this.failing.get(key);
    const same = prev?.fingerprint === fingerprint;
    if (prev && same && Date.now() < prev.retryAt) return { ok: false, outcome: prev.outcome };
    try {
      const value = await run();
      this.failing.delete(key);
      return { ok: true, value };
    } catch (err) {
      if (err instanceof NotLeaderError || isControlDatabaseOutage(err)) throw err;
      report.failedAttempts++;
      const attempts = (prev && same ? prev.attempts : 0) + 1;
      const delay = objectRetryDelay(attempts);
      const outcome = { ok: false as const, reason: APPLY_FAILED, message: `Applying the route failed: ${describeError(err)} (attempt ${attempts}; retried in ${formatDelay(delay)})`, kept: null };
      this.failing.set(key, { attempts, retryAt: Date.now() + delay, fingerprint, outcome, what });
      return { ok: false, outcome };
    }
  }

  /**
   * Writes one object's route. With a route the object already has, the external access comes
   * first (the API checks everything before its one transaction): a refused change has then
   * written nothing, and the route is kept exactly as it was, or removed when the refusal is
   * the world's (refused()). Only then the upstream (engine, endpoints), whose refusals are the
   * tenant's upstream policy — a removal anyway — or checked here before anything is written
   * (an engine the route's listener cannot serve). A new route gets its upstream first, so it
   * appears with the right one.
   */
  private async one(r: DesiredRoute): Promise<ApplyOutcome> {
    const actor = controllerActor(r.owner, this.actorId, this.fence);
    const tenant = await this.prisma.tenant.findUnique({ where: { slug: r.tenant } });
    if (!tenant) return { ok: false, reason: 'TenantNotFound', message: `Tenant ${r.tenant} does not exist`, kept: null };
    const db = await this.prisma.database.findUnique({ where: { tenantId_name: { tenantId: tenant.id, name: r.database } }, include: { route: true } });
    if (db && (db.owner !== 'kubernetes' || db.ownerUid !== r.owner.uid)) {
      return { ok: false, reason: 'DatabaseNameConflict', message: `Tenant ${r.tenant} already has a database ${r.database} not owned by this object`, kept: null };
    }
    /** The route this object has now, from an earlier accepted generation. */
    const existing = db?.route ? { ...db.route, engine: db.engine, endpoints: db.endpoints } : null;
    const upstreamChanged = db !== null && (db.engine !== r.engine || !sameEndpoints(db.endpoints as unknown as Endpoint[], r.endpoints));
    try {
      const body: PutExternalAccessBody = {
        enabled: r.enabled,
        tlsMode: r.tlsMode,
        hostname: r.hostname,
        sourceCidrs: r.sourceCidrs,
        maxConnections: r.maxConnections,
        disableBehavior: r.disableBehavior,
        upstreamTls: r.upstreamTls,
        // Always sent: a field removed from the object clears it on the route (null).
        upstreamCa: r.upstreamCa,
        upstreamServerName: r.upstreamServerName,
      };
      if (r.certificateName) {
        const cert = await this.prisma.certificate.findFirst({ where: { tenantId: tenant.id, name: r.certificateName } });
        if (!cert) throw new Refusal('CertificateNotFound', `spec.certificate.name: Tenant ${r.tenant} has no certificate named ${r.certificateName}`);
        body.certificateId = cert.id;
      }
      if (!db) {
        await this.services.databases.create(actor, r.tenant, { name: r.database, engine: r.engine, endpoints: r.endpoints });
      } else if (upstreamChanged && !existing) {
        await this.services.databases.update(actor, r.tenant, r.database, { engine: r.engine, endpoints: r.endpoints });
      }
      if (existing && existing.engine !== r.engine) {
        // The API refuses this only in the second step (databases.update): check it first.
        const kind = this.services.externalAccess.listenerKind(existing.listener);
        if (!kind || !listenerServes(kind, r.engine)) {
          throw new Refusal('Invalid', `spec.engine: the route's listener ${existing.listener} cannot serve ${r.engine} databases; delete the object and create it again to move it`);
        }
      }
      if (existing) await this.beforeRewrite?.(r);
      let access = await this.services.externalAccess.put(actor, r.tenant, r.database, body, { wait: false });
      if (existing && upstreamChanged) {
        await this.services.databases.update(actor, r.tenant, r.database, { engine: r.engine, endpoints: r.endpoints });
        access = await this.services.externalAccess.get(actor, r.tenant, r.database);
      }
      return { ok: true, access };
    } catch (err) {
      const e = err as AppError;
      if (err instanceof Refusal) return this.refused(r, actor, existing, err.reason, err.message);
      if (typeof e.code === 'string' && e.code.startsWith('SY_') && e.statusCode < 500) return this.refused(r, actor, existing, refusalReason(e), refusalMessage(e, r));
      throw err;
    }
  }

  /**
   * A refused change. Without a route: just the refusal. With one: kept as it is when the
   * refusal is about the change itself (keepsRoute) and its upstream is still its tenant's;
   * otherwise removed now, as the translator would have had the world refused it first. A
   * kept route's endpoints follow its last accepted Service (r.keptFollows), and it is
   * disabled when the refused change sets enabled false (that still acts).
   */
  private async refused(r: DesiredRoute, actor: Actor, existing: { enabled: boolean; endpoints: unknown } | null, reason: string, message: string): Promise<ApplyOutcome> {
    if (!existing) return { ok: false, reason, message, kept: null };
    if (!keepsRoute(reason) || r.notKeptBecause) {
      await this.services.databases.delete(actor, r.tenant, r.database);
      return { ok: false, reason, message: r.notKeptBecause ? `${message}; ${routeRemoved(r.notKeptBecause)}` : message, kept: null };
    }
    const f = await this.follow(actor, r.tenant, r.database, existing.endpoints, r.keptFollows ?? null);
    if (f.removed) return { ok: false, reason, message: `${message}; ${routeRemoved(f.removed)}`, kept: null, removed: f.removed };
    const kept = await this.disableIfAsked(actor, r.tenant, r.database, existing.enabled, r.enabled, r.disableBehavior);
    return { ok: false, reason, message: f.note ? `${message}; ${f.note}` : message, kept, follows: f.follows, note: f.note };
  }

  /**
   * A route kept for an object refused for its own spec (translate.ts): nothing of the refused
   * spec is written — except that spec.enabled false disables it — and its endpoints follow its
   * last accepted Service (k.follow). Its external access, as the status shows it.
   */
  private async keep(k: KeptRoute): Promise<ApplyOutcome> {
    const refusal = { ok: false as const, reason: k.reason, message: k.message };
    const tenant = await this.prisma.tenant.findUnique({ where: { slug: k.tenant } });
    const db = tenant && (await this.prisma.database.findUnique({ where: { tenantId_name: { tenantId: tenant.id, name: k.database } }, include: { route: true } }));
    // Gone meanwhile (or never this object's): nothing to keep, and nothing to create.
    if (!db?.route || db.owner !== 'kubernetes' || db.ownerUid !== k.owner.uid) return { ...refusal, kept: null };
    const actor = controllerActor(k.owner, this.actorId, this.fence);
    const f = await this.follow(actor, k.tenant, k.database, db.endpoints, k.follow);
    if (f.removed) return { ...refusal, message: `${k.message}; ${routeRemoved(f.removed)}`, kept: null, removed: f.removed };
    const kept = await this.disableIfAsked(actor, k.tenant, k.database, db.route.enabled, k.enabled, k.disableBehavior);
    return { ...refusal, message: f.note ? `${k.message}; ${f.note}` : k.message, kept, follows: f.follows, note: f.note };
  }

  /**
   * Makes a kept route's endpoints those of the Service it follows as it is now (`want`; null:
   * it follows none, they stay), through the API like any upstream change — the tenant's
   * upstream policy included — and only when they differ (an unchanged route is not rewritten).
   * A refusal the world causes (keepsRoute: the upstream policy) removes the route, as it would
   * an accepted object's; any other leaves it as it was and says why (`note`).
   */
  private async follow(actor: Actor, tenant: string, database: string, now: unknown, want: KeptFollow | null): Promise<{ follows: KeptFollow | null; removed?: string; note?: string }> {
    if (!want) return { follows: null };
    if (sameEndpoints(now as Endpoint[], want.endpoints)) return { follows: want };
    try {
      await this.services.databases.update(actor, tenant, database, { endpoints: want.endpoints });
      return { follows: want };
    } catch (err) {
      const e = err as AppError;
      if (!(typeof e.code === 'string' && e.code.startsWith('SY_') && e.statusCode < 500)) throw err;
      if (!keepsRoute(refusalReason(e))) {
        await this.services.databases.delete(actor, tenant, database);
        return { follows: null, removed: `the endpoints of ${servicesNamed(want.service)}, which it follows, are refused: ${e.message}` };
      }
      return { follows: null, note: `its endpoints could not follow ${servicesNamed(want.service)}: ${e.message}` };
    }
  }

  /** The kept route's external access, after disabling it when the refused spec says enabled: false (never re-enabled). */
  private async disableIfAsked(actor: Actor, tenant: string, database: string, enabledNow: boolean, enabled: boolean, disableBehavior: DesiredRoute['disableBehavior']): Promise<ExternalAccessResponse> {
    // Only these two fields: the API keeps every other one as the route has it.
    if (enabledNow && !enabled) return this.services.externalAccess.put(actor, tenant, database, { enabled: false, disableBehavior }, { wait: false });
    return this.services.externalAccess.get(actor, tenant, database);
  }

  /**
   * The discovered services of every tenant, replaced per tenant only when they changed
   * (the table is read by the API; rewriting it on every reconcile would be pure churn).
   */
  async syncDiscovered(found: DiscoveredService[]): Promise<number> {
    const tenants = await this.prisma.tenant.findMany({ select: { id: true, slug: true } });
    let written = 0;
    for (const t of tenants) {
      const mine = found.filter((d) => d.tenant === t.slug).map((d) => row(t.id, d));
      const have = await this.prisma.discoveredService.findMany({ where: { tenantId: t.id }, orderBy: [{ namespace: 'asc' }, { name: 'asc' }] });
      const strip = (x: Omit<ReturnType<typeof row>, 'engine'> & { engine: string }) => JSON.stringify([x.namespace, x.name, x.engine, x.engineReason, x.role, x.host, x.port, x.ports, x.readyEndpoints]);
      const before = have.map((h) => strip({ ...h, ports: h.ports as never, readyEndpoints: h.readyEndpoints as never }));
      const after = mine.map(strip);
      if (JSON.stringify(before) === JSON.stringify(after)) continue;
      await this.prisma.$transaction(async (tx) => {
        await this.fence?.(tx);
        await tx.discoveredService.deleteMany({ where: { tenantId: t.id } });
        await tx.discoveredService.createMany({ data: mine });
      });
      written++;
    }
    return written;
  }
}

function row(tenantId: string, d: DiscoveredService) {
  return {
    tenantId,
    namespace: d.namespace,
    name: d.name,
    engine: d.engine,
    engineReason: d.engineReason,
    role: d.role,
    host: d.host,
    port: d.port,
    ports: d.ports,
    readyEndpoints: d.readyEndpoints.map((e) => ({ host: e.host, port: e.port })),
  };
}

function formatDelay(ms: number): string {
  return ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}

function sameEndpoints(a: Endpoint[], b: Endpoint[]): boolean {
  const k = (l: Endpoint[]) => JSON.stringify(l.map((e) => [e.host, e.port]));
  return k(Array.isArray(a) ? a : []) === k(b);
}
