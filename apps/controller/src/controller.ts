/**
 * The controller: supervised informers feed a debounced, level-triggered reconcile that
 * translates every object into wanted routes and statuses, applies them through the API's
 * domain services and writes statuses back. Only the leader writes anything; every replica
 * keeps warm caches so a takeover acts within one reconcile.
 */
import { PROXY_APPLIED_CHANNEL } from '@switchyard/core';
import type { DomainServices, ExternalAccessResponse } from '@switchyard/api';
import { NotificationListener, type PrismaClient } from '@switchyard/db';
import type { Logger } from 'pino';
import { APPLY_FAILED, Applier, type ApplyOutcome } from './apply.js';
import { Debouncer } from './debounce.js';
import { KubeError, type KubeApi } from './kube/client.js';
import { NotLeaderError, type AdvisoryLeader } from './leader.js';
import type { ControllerMetrics } from './metrics.js';
import { generationName, keptMessage, lastAcceptedGeneration, sameStatus, withTransitions } from './status/conditions.js';
import { StatusWriter } from './status/status-writer.js';
import {
  acceptedBackends,
  followedService,
  formatAcceptedBackends,
  keptRoutesNote,
  keptRoutesText,
  translate,
  type DesiredRoute,
  type ExistingRoute,
  type KeptRoutesNote,
  type PlannedCondition,
  type PlannedExternalAccessStatus,
  type PlannedStatus,
  type PlannedTLSRouteStatus,
  type TranslateInput,
} from './translate/translate.js';
import { GATEWAY_CONTROLLER_NAME, GATEWAY_GROUP, GROUP, LAST_ACCEPTED_BACKENDS, VERSION, type AcceptedBackend, type AcceptedBackends, type AcceptedService, type EndpointSlice, type ExternalAccess, type Gateway, type GatewayClass, type KubeObject, type Namespace, type ReferenceGrant, type Service, type TLSRoute } from './translate/objects.js';
import { Informer, type InformerOptions } from './watch/informer.js';

export interface ControllerOptions {
  id: string;
  baseDomain: string;
  clusterDomain: string;
  debounceMs: number;
  debounceMaxMs: number;
  watch: Pick<InformerOptions, 'silenceMs' | 'relistMs' | 'watchTimeoutSeconds' | 'backoffMinMs' | 'backoffMaxMs'>;
  gatewayApiVersion: string;
  databaseUrl: string;
}

/**
 * How long one confirmation of the leadership in the database covers status patches. Status
 * writes cannot join a database transaction, so before patching the controller checks in the
 * database (the leader's fence) that its session still holds the lock; a long status pass
 * re-checks this often.
 */
const STATUS_FENCE_MAX_AGE_MS = 1000;

/** What every route depends on (its namespace's tenant, its Service, its endpoints): without them nothing is reconciled. */
const REQUIRED: readonly (keyof Informers)[] = ['namespaces', 'services', 'endpointSlices'];

/**
 * The resources the routes and statuses of each kind are computed from, beyond the required
 * ones. When RBAC forbids one of them, that kind is frozen: its routes stay exactly as they are
 * (without the Gateways, say, every TLSRoute would look detached and lose its route) and its
 * statuses are not written, while every other kind is reconciled as usual.
 */
const DEPENDS_ON: Record<FrozenKind, readonly (keyof Informers)[]> = {
  ExternalAccess: ['externalAccesses'],
  TLSRoute: ['tlsRoutes', 'gateways', 'gatewayClasses', 'referenceGrants'],
};

type FrozenKind = 'ExternalAccess' | 'TLSRoute';

type Informers = {
  namespaces: Informer<Namespace>;
  services: Informer<Service>;
  endpointSlices: Informer<EndpointSlice>;
  externalAccesses: Informer<ExternalAccess>;
  tlsRoutes: Informer<TLSRoute>;
  gateways: Informer<Gateway>;
  gatewayClasses: Informer<GatewayClass>;
  referenceGrants: Informer<ReferenceGrant>;
};

export class Controller {
  readonly informers: Informers;
  readonly status: StatusWriter;
  private readonly applier: Applier;
  private readonly appliedListener: NotificationListener;
  private readonly debouncer: Debouncer;
  private running: Promise<void> | null = null;
  private again = false;
  private waitingForProxies = false;
  private stopped = false;
  private retryMs = 0;
  private objectRetry: NodeJS.Timeout | null = null;
  /** When the leadership was last confirmed in the database for status writes (0: not in this reconcile). */
  private fencedAt = 0;
  /** The kinds frozen at the last reconcile (logged when it changes). */
  private frozenBefore = '';
  /** RBAC refused a TLSRoute annotation patch (logged once). */
  private annotationForbidden = false;
  /** This reconcile's objects, by `<uid>/<database>`: what each route follows once written (forgetFollowedFirst). */
  private follows = new Map<string, PlannedFollow>();
  /**
   * This reconcile's objects whose record of what their route follows was removed before the
   * route was rewritten (forgetFollowedFirst), by uid: as read (what they record, for the routes
   * kept or not written after all) and as the API server returned them (what to patch next).
   */
  private readonly forgotten = new Map<string, { read: KubeObject; written: KubeObject }>();
  /** Completed reconciles that wrote (for tests and metrics). */
  reconciles = 0;
  lastError: string | null = null;

  constructor(
    private readonly api: KubeApi,
    private readonly prisma: PrismaClient,
    private readonly services: DomainServices,
    private readonly leader: Pick<AdvisoryLeader, 'isLeader' | 'fence'>,
    private readonly opts: ControllerOptions,
    private readonly log: Logger,
    private readonly metrics: ControllerMetrics,
  ) {
    const events = {
      onChange: () => this.trigger(),
      onRestart: (resource: string, reason: string) => metrics.watchRestarts.inc({ resource, reason }),
      onEvent: () => undefined,
      log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => log[level](fields ?? {}, msg),
    };
    const inf = <T extends KubeObject>(resource: string, path: string, optional = false) => new Informer<T>(api, { ...opts.watch, resource, path, optional }, events);
    // Gateway and GatewayClass are v1 (GA since Gateway API v1.0, which stopped serving their
    // v1alpha2); only TLSRoute's version varies: v1 from v1.5, v1alpha2 in the experimental
    // channel before. Reading Gateways at the TLSRoute's version would find none and route nothing.
    const gw = `/apis/${GATEWAY_GROUP}/v1`;
    this.informers = {
      namespaces: inf('namespaces', '/api/v1/namespaces'),
      services: inf('services', '/api/v1/services'),
      endpointSlices: inf('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices'),
      externalAccesses: inf('externalaccesses', `/apis/${GROUP}/${VERSION}/externalaccesses`, true),
      tlsRoutes: inf('tlsroutes', `/apis/${GATEWAY_GROUP}/${opts.gatewayApiVersion}/tlsroutes`, true),
      gateways: inf('gateways', `${gw}/gateways`, true),
      gatewayClasses: inf('gatewayclasses', `${gw}/gatewayclasses`, true),
      // ReferenceGrant is v1beta1 in the standard channel whatever the TLSRoute version (v1.5 adds v1 and still serves v1beta1).
      referenceGrants: inf('referencegrants', `/apis/${GATEWAY_GROUP}/v1beta1/referencegrants`, true),
    };
    this.debouncer = new Debouncer(opts.debounceMs, opts.debounceMaxMs, () => void this.runOnce());
    this.status = new StatusWriter(api, opts.gatewayApiVersion, () => this.confirmLeadership());
    this.applier = new Applier(prisma, services, opts.id, leader.fence, (r) => this.forgetFollowedFirst(r));
    // Programmed waits for the proxies: their reports wake a reconcile while one is pending.
    this.appliedListener = new NotificationListener({
      connectionString: opts.databaseUrl,
      channels: [PROXY_APPLIED_CHANNEL],
      applicationName: 'switchyard-controller',
      onNotification: () => {
        if (this.waitingForProxies) this.trigger();
      },
      onConnected: () => this.trigger(),
    });
    for (const i of Object.values(this.informers)) {
      metrics.collectors.push(() => {
        metrics.lastEventAge.set({ resource: i.resource }, i.lastEventAgeMs / 1000);
        metrics.synced.set({ resource: i.resource }, i.synced ? 1 : 0);
        metrics.forbidden.set({ resource: i.resource }, i.forbidden ? 1 : 0);
      });
    }
    metrics.collectors.push(() => {
      const frozen = this.frozenKinds();
      for (const kind of Object.keys(DEPENDS_ON) as FrozenKind[]) metrics.frozenKinds.set({ kind }, frozen.has(kind) ? 1 : 0);
    });
  }

  start(): void {
    this.stopped = false;
    for (const i of Object.values(this.informers)) i.start();
    this.appliedListener.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.debouncer.cancel();
    this.retryObjectsAt(null);
    await Promise.all(Object.values(this.informers).map((i) => i.stop()));
    await this.appliedListener.stop();
    await this.running;
  }

  /**
   * Whether the controller may act: every required resource is listed and readable, and every
   * other one completed its first list or is forbidden by RBAC (its kind is then frozen).
   */
  get synced(): boolean {
    return (Object.entries(this.informers) as [keyof Informers, Informers[keyof Informers]][]).every(([k, i]) =>
      REQUIRED.includes(k) ? i.synced && !i.forbidden : i.synced || i.forbidden !== null,
    );
  }

  /** The kinds whose routes and statuses are left as they are: a resource they depend on is forbidden. */
  frozenKinds(): Set<FrozenKind> {
    const out = new Set<FrozenKind>();
    for (const [kind, deps] of Object.entries(DEPENDS_ON) as [FrozenKind, readonly (keyof Informers)[]][]) {
      if (deps.some((d) => this.informers[d].forbidden)) out.add(kind);
    }
    return out;
  }

  /** What keeps the controller from doing all of its work (empty: nothing), for /readyz and logs. */
  problems(): string[] {
    const out: string[] = [];
    const frozen = this.frozenKinds();
    for (const [k, i] of Object.entries(this.informers) as [keyof Informers, Informers[keyof Informers]][]) {
      const required = REQUIRED.includes(k);
      if (i.forbidden) {
        const verb = i.forbidden.slice(0, i.forbidden.indexOf(':'));
        const kinds = (Object.keys(DEPENDS_ON) as FrozenKind[]).filter((kind) => DEPENDS_ON[kind].includes(k) && frozen.has(kind));
        const effect = required ? 'nothing is reconciled' : `${kinds.join(' and ')} routes are kept as they are and their statuses not written`;
        out.push(`${i.resource}: ${verb} forbidden by RBAC; ${effect}`);
      } else if (!i.synced) out.push(`${i.resource}: not synced yet`);
    }
    return out;
  }

  /** A signal, not a delta: reconcile ≈debounceMs after the last one, at most debounceMaxMs after the first (debounce.ts). */
  trigger(): void {
    if (this.stopped) return;
    this.debouncer.signal();
  }

  private async runOnce(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reconcile()
      .then(({ failedWrites, failing, retryAt }) => {
        // Objects that failed on their own are retried when their backoff ends (apply.ts),
        // while the reconcile itself succeeded for everyone else.
        this.retryObjectsAt(retryAt);
        if (failedWrites === 0) {
          this.retryMs = 0;
          this.lastError = failing.length ? `${failing.length} object(s) failing: ${failing.join('; ')}` : null;
          return;
        }
        // Nothing else would bring these statuses up to date before the next event or full
        // relist (minutes): try again, with backoff, like a failed reconcile.
        this.lastError = `${failedWrites} status write(s) failed`;
        this.retryLater();
      })
      .catch((err: Error) => {
        this.lastError = err.message;
        this.metrics.reconcileErrors.inc();
        this.log.warn({ err: err.message }, 'reconcile failed: retrying');
        this.retryLater();
      })
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.trigger();
        }
      });
    await this.running;
  }

  /** One timer for the earliest object due for another attempt (replaced by each reconcile). */
  private retryObjectsAt(at: number | null): void {
    if (this.objectRetry) clearTimeout(this.objectRetry);
    this.objectRetry = null;
    if (at === null || this.stopped) return;
    this.objectRetry = setTimeout(() => this.trigger(), Math.max(0, at - Date.now()));
    this.objectRetry.unref();
  }

  private retryLater(): void {
    this.retryMs = Math.min(10_000, Math.max(200, this.retryMs * 2));
    const t = setTimeout(() => this.trigger(), this.retryMs);
    t.unref();
  }

  /** Waits for the reconcile in flight, if any (tests). */
  async idle(): Promise<void> {
    while (this.running || this.debouncer.pending) {
      await (this.running ?? new Promise((r) => setTimeout(r, 20)));
    }
  }

  /**
   * Status patches are fenced too: a replica that lost the lock without noticing yet (its
   * session ended, a partition) must not keep writing statuses until its next leader check.
   * Throws NotLeaderError (and the leader steps down) when the database says it no longer leads.
   */
  private wrote(kind: string, target: 'status' | 'annotation' = 'status'): void {
    this.metrics.statusWrites.inc({ kind, target });
  }

  /**
   * The crash window. What a kept route follows is recorded on its object — an ExternalAccess's
   * `status.lastAcceptedService`, a TLSRoute's LAST_ACCEPTED_BACKENDS entry for the hostname —
   * in the patch after its route is written through the API. Should that patch never land (the
   * controller stops in between, or the object changes and the conditional patch is refused),
   * the object would still name the Service(s) of the generation before, and a later generation
   * refused for its own spec would have the kept route follow them: pods of a Service the route
   * no longer serves. So before rewriting a route to follow other Services than recorded, the
   * record goes first: in that window a kept route follows nothing (its endpoints stay as the
   * write left them) until its object is accepted once more — never the wrong Service. Throws
   * (this object's attempt fails and is retried, nothing written) when the object changed since
   * it was read.
   */
  private async forgetFollowedFirst(r: DesiredRoute): Promise<void> {
    const want = this.follows.get(`${r.owner.uid}/${r.database}`);
    const seen = this.forgotten.get(r.owner.uid);
    const read = seen?.read ?? this.objectOf(r.owner);
    const obj = seen?.written ?? read;
    if (!want || !read || !obj || !this.leader.isLeader) return;
    let written: KubeObject | null;
    if (want.kind === 'ExternalAccess') {
      const recorded = followedService((obj as ExternalAccess).status?.lastAcceptedService);
      if (!recorded || sameStatus(recorded, want.service)) return;
      written = await this.status.forgetLastAcceptedService(obj as ExternalAccess);
    } else {
      const had = acceptedBackends(obj.metadata.annotations?.[LAST_ACCEPTED_BACKENDS]);
      const recorded = had.get(want.hostname);
      const entry = (b: AcceptedBackend[] | null) => (b ? formatAcceptedBackends({ [want.hostname]: b }) : null);
      if (!recorded || entry(recorded) === entry(want.backends)) return;
      had.delete(want.hostname);
      try {
        written = await this.status.tlsRouteAnnotation(obj as TLSRoute, LAST_ACCEPTED_BACKENDS, formatAcceptedBackends(Object.fromEntries(had)));
      } catch (err) {
        // An older ClusterRole (no patch on tlsroutes): nothing can be recorded, writeTlsRoute says so.
        if (err instanceof KubeError && err.status === 403) return;
        throw err;
      }
    }
    if (!written) throw new Error(`${r.owner.kind} ${r.owner.namespace}/${r.owner.name} changed while what its route follows was being updated: tried again`);
    this.wrote(r.owner.kind, want.kind === 'ExternalAccess' ? 'status' : 'annotation');
    this.forgotten.set(r.owner.uid, { read, written });
  }

  private objectOf(owner: DesiredRoute['owner']): KubeObject | undefined {
    const list: KubeObject[] = owner.kind === 'ExternalAccess' ? this.informers.externalAccesses.list() : this.informers.tlsRoutes.list();
    return list.find((o) => o.metadata.uid === owner.uid);
  }

  private async confirmLeadership(): Promise<void> {
    if (this.fencedAt && Date.now() - this.fencedAt < STATUS_FENCE_MAX_AGE_MS) return;
    await this.prisma.$transaction((tx) => this.leader.fence(tx));
    this.fencedAt = Date.now();
  }

  private snapshot(): TranslateInput {
    const i = this.informers;
    return {
      namespaces: i.namespaces.list(),
      services: i.services.list(),
      endpointSlices: i.endpointSlices.list(),
      externalAccesses: i.externalAccesses.list(),
      tlsRoutes: i.tlsRoutes.list(),
      gateways: i.gateways.list(),
      gatewayClasses: i.gatewayClasses.list(),
      referenceGrants: i.referenceGrants.list(),
    };
  }

  /**
   * Returns how many status writes failed (they call for a retry), the objects whose routes
   * failed on their own and when the first of them is due again.
   */
  private async reconcile(): Promise<{ failedWrites: number; failing: string[]; retryAt: number | null }> {
    const nothing = { failedWrites: 0, failing: [], retryAt: null };
    if (!this.leader.isLeader) return nothing;
    // Never act on an unsynced cache: an empty list before the first sync would read as
    // "every object was deleted" and remove every route.
    if (!this.synced) {
      this.log.debug('caches not synced yet: not reconciling');
      return nothing;
    }
    this.fencedAt = 0;
    const frozen = this.frozenKinds();
    const frozenNow = [...frozen].join(',');
    if (frozenNow !== this.frozenBefore) {
      if (frozen.size) this.log.warn({ frozen: [...frozen], problems: this.problems() }, 'RBAC forbids resources these kinds depend on: their routes are kept as they are and their statuses not written');
      else this.log.info('every resource readable again: reconciling every kind');
      this.frozenBefore = frozenNow;
    }
    const input = this.snapshot();
    const [tenantRows, owned] = await Promise.all([
      this.prisma.tenant.findMany({ select: { slug: true } }),
      this.prisma.database.findMany({
        where: { owner: 'kubernetes' },
        select: { name: true, ownerUid: true, endpoints: true, upstreamHost: true, upstreamPort: true, tenant: { select: { slug: true } }, route: { select: { hostname: true } } },
      }),
    ]);
    const tenants = new Set(tenantRows.map((t) => t.slug));
    // Which object has which database name already: it keeps it (translate.ts, resolve).
    const databases = new Map(owned.map((d) => [`${d.tenant.slug}/${d.name}`, d.ownerUid ?? '']));
    // Which object has a route now: refused for its own spec, it keeps it (translate.ts,
    // keepsRoute). Read from the control database on every reconcile — no memory of earlier
    // generations is needed, so a restarted controller decides the same.
    const routes: ExistingRoute[] = owned.flatMap((d) =>
      d.route && d.ownerUid
        ? [{ ownerUid: d.ownerUid, tenant: d.tenant.slug, database: d.name, hostname: d.route.hostname, endpoints: endpointsOf(d) }]
        : [],
    );
    const out = translate(input, { tenants, baseDomain: this.opts.baseDomain, clusterDomain: this.opts.clusterDomain, databases, routes });
    const writing = () => this.leader.isLeader && !this.stopped && this.synced;
    this.follows = plannedFollows(out.statuses);
    this.forgotten.clear();
    const report = await this.applier.apply(out.routes, out.kept, writing, frozen);
    if (!writing()) return nothing;
    if (report.deleted.length) this.log.info({ deleted: report.deleted }, 'removed routes whose Kubernetes objects are gone');
    if (report.failedAttempts) {
      this.log.warn({ failing: report.failing }, 'objects failed on their own: retried with backoff, the others were applied');
      this.metrics.reconcileErrors.inc(report.failedAttempts);
    }
    await this.applier.syncDiscovered(out.discovered);
    const now = new Date().toISOString();
    let pending = false;
    let failedWrites = 0;
    const statuses = [...out.statuses, ...(frozen.has('TLSRoute') ? [] : this.detachedTlsRoutes(out.statuses))].filter((s) => !frozen.has(s.kind === 'ExternalAccess' ? 'ExternalAccess' : 'TLSRoute'));
    for (const s of statuses) {
      if (!writing()) return nothing;
      try {
        if (s.kind === 'ExternalAccess') pending = (await this.writeExternalAccess(s, report.outcomes, now)) || pending;
        else if (s.kind === 'TLSRoute') await this.writeTlsRoute(s, report.outcomes, now);
        else if (s.kind === 'Gateway') {
          const gw = this.informers.gateways.list().find((o) => o.metadata.uid === s.uid);
          if (gw && (await this.status.gateway(gw, s.conditions, s.listeners, now))) this.wrote('Gateway');
        } else {
          const gc = this.informers.gatewayClasses.list().find((o) => o.metadata.uid === s.uid);
          if (gc && (await this.status.gatewayClass(gc, s.conditions, now))) this.wrote('GatewayClass');
        }
      } catch (err) {
        if (err instanceof NotLeaderError) {
          this.log.warn({ err: err.message }, 'no longer the leader: status writes stopped');
          return nothing;
        }
        // One object's status failing must not block the others. A server error, throttling or a
        // broken connection retries the reconcile with backoff; a refusal (404: deleted
        // meanwhile, its watch event follows; 422) would only fail again.
        this.log.warn({ err: (err as Error).message, object: `${s.kind} ${'namespace' in s ? `${s.namespace}/` : ''}${s.name}` }, 'status write failed');
        this.metrics.reconcileErrors.inc();
        const refused = err instanceof KubeError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
        if (!refused) failedWrites++;
      }
    }
    this.waitingForProxies = pending;
    this.reconciles++;
    this.metrics.reconciles.inc();
    return { failedWrites, failing: report.failing, retryAt: report.retryAt };
  }

  /**
   * TLSRoutes that still carry status entries of ours but no longer reference a Switchyard
   * Gateway (parentRef removed, Gateway or class deleted or changed): those entries must go
   * (an empty `parents` list means "not attached"), or the route would keep saying it is
   * accepted by a Gateway that no longer serves it. Planned with no parents, the status writer
   * removes our entries and keeps other controllers'.
   */
  private detachedTlsRoutes(planned: PlannedStatus[]): PlannedTLSRouteStatus[] {
    const attached = new Set(planned.filter((s) => s.kind === 'TLSRoute').map((s) => s.uid));
    return this.informers.tlsRoutes
      .list()
      .filter((r) => !attached.has(r.metadata.uid) && (r.status?.parents ?? []).some((p) => p.controllerName === GATEWAY_CONTROLLER_NAME))
      .map((r) => ({ kind: 'TLSRoute', namespace: r.metadata.namespace!, name: r.metadata.name, uid: r.metadata.uid, generation: r.metadata.generation ?? 0, parents: [], hostnames: [], databases: [] }));
  }

  /**
   * Returns true while the route waits for proxies (Programmed=False, Pending).
   *
   * Accepted is about the object's current generation. Programmed and Ready describe the route
   * that actually serves: while a refused generation's object keeps the route of its last
   * accepted one, they describe that route, with that generation as their observedGeneration
   * (the Gateway API's "fall back to the last known good state" convention) — so they stay
   * honest (clients do connect) and no wait for the current generation is fooled.
   */
  private async writeExternalAccess(s: PlannedExternalAccessStatus, outcomes: Map<string, ApplyOutcome>, now: string): Promise<boolean> {
    // As read: a record removed before its route was written (forgetFollowedFirst) still counts
    // for a route kept or not written after all.
    const forgotten = this.forgotten.get(s.uid);
    const obj = (forgotten?.read ?? this.informers.externalAccesses.list().find((o) => o.metadata.uid === s.uid)) as ExternalAccess | undefined;
    if (!obj) return false;
    const g = s.generation;
    let accepted = s.conditions.find((c) => c.type === 'Accepted')!;
    let programmed: PlannedCondition;
    let ready: PlannedCondition;
    let pending = false;
    const result = s.database ? outcomes.get(`${s.uid}/${s.database}`) : undefined;
    if (accepted.status === 'True' && result && !result.ok) {
      accepted = { type: 'Accepted', status: 'False', reason: result.reason, message: result.message, observedGeneration: g };
    }
    // Refused, with the route of an earlier accepted generation kept as it is (its endpoints
    // following the Service of that generation, when it named one).
    const kept = result && !result.ok ? result.kept : null;
    const follows = kept && result && !result.ok ? (result.follows ?? null) : null;
    const servingGeneration = kept ? lastAcceptedGeneration(obj) : g;
    if (kept) accepted = { ...accepted, message: keptMessage(accepted.message, servingGeneration, kept, follows?.service ?? null) };
    const access: ExternalAccessResponse | null = kept ?? (accepted.status === 'True' && result?.ok ? result.access : null);
    if (!access) {
      const why = accepted.status !== 'True' ? accepted : { reason: 'Pending', message: 'Not applied yet' };
      programmed = { type: 'Programmed', status: 'False', reason: why.reason, message: why.message, observedGeneration: g };
      ready = { type: 'Ready', status: 'False', reason: why.reason, message: why.message, observedGeneration: g };
    } else {
      const sg = servingGeneration ?? g;
      const of = kept ? `${generationName(servingGeneration)}: ` : '';
      const prop = await this.services.propagation.status(access.version ?? 0);
      const applied = prop.state === 'applied';
      pending = prop.state === 'pending';
      programmed = applied
        ? { type: 'Programmed', status: 'True', reason: 'Programmed', message: `${of}Config version ${prop.version} applied by ${prop.proxies.length} prox${prop.proxies.length === 1 ? 'y' : 'ies'}`, observedGeneration: sg }
        : {
            type: 'Programmed',
            status: 'False',
            reason: prop.state === 'no-proxies' ? 'NoProxies' : 'Pending',
            message: `${of}${prop.state === 'no-proxies' ? 'No live proxy' : `Waiting for ${prop.proxies.filter((p) => !p.applied).map((p) => p.id).join(', ')} to apply config version ${prop.version}`}`,
            observedGeneration: sg,
          };
      if (!access.enabled) ready = { type: 'Ready', status: 'False', reason: 'Disabled', message: `${of}spec.enabled is false: connections are refused`, observedGeneration: sg };
      else if (!applied) ready = { type: 'Ready', status: 'False', reason: programmed.reason, message: programmed.message, observedGeneration: sg };
      else if (!kept && s.readyEndpoints === 0) ready = { type: 'Ready', status: 'False', reason: 'NoReadyEndpoints', message: 'The Service has no ready endpoints', observedGeneration: g };
      // A kept route counts the ready pods of the Service it follows (none followed: its endpoints are its own, not counted).
      else if (follows && follows.ready === 0) ready = { type: 'Ready', status: 'False', reason: 'NoReadyEndpoints', message: `${of}Service ${follows.service} has no ready endpoints`, observedGeneration: sg };
      else ready = { type: 'Ready', status: 'True', reason: 'Ready', message: `${of}Clients connect to ${access.hostname}:${access.port}`, observedGeneration: sg };
    }
    const next: Record<string, unknown> = {
      observedGeneration: g,
      conditions: withTransitions([accepted, programmed, ready], obj.status?.conditions, now),
    };
    if (access) {
      next.hostname = access.hostname;
      next.port = access.port;
      next.connectionStrings = access.connection;
      next.database = s.database;
      next.configVersion = access.version;
      if (access.certificate) next.certificateExpiry = access.certificate.notAfter;
    } else if (s.hostname && accepted.status === 'True') {
      next.hostname = s.hostname;
    }
    // Which generation the route serves: this one once written; the kept one's while refused;
    // unknown for now (carried) while an unexpected failure or a pending write says nothing.
    const carried = s.database !== null && (!result || (!result.ok && result.reason === APPLY_FAILED)) ? (obj.status?.lastAcceptedGeneration ?? null) : null;
    const acceptedNow = Boolean(result?.ok && accepted.status === 'True');
    const lastAccepted = acceptedNow ? g : kept ? servingGeneration : carried;
    if (lastAccepted !== null) {
      next.lastAcceptedGeneration = lastAccepted;
      // The Service of that generation's spec, which a kept route's endpoints follow: this
      // generation's once its route is written, else carried as the object has it.
      const service = acceptedNow ? (s.service ?? null) : followedService(obj.status?.lastAcceptedService);
      if (service) next.lastAcceptedService = service;
    }
    if (!this.leader.isLeader) return pending;
    if (await this.status.externalAccess((forgotten?.written as ExternalAccess | undefined) ?? obj, next)) this.wrote('ExternalAccess');
    return pending;
  }

  private async writeTlsRoute(s: PlannedTLSRouteStatus, outcomes: Map<string, ApplyOutcome>, now: string): Promise<void> {
    const forgotten = this.forgotten.get(s.uid);
    const obj = (forgotten?.read ?? this.informers.tlsRoutes.list().find((o) => o.metadata.uid === s.uid)) as TLSRoute | undefined;
    if (!obj) return;
    const failed = s.databases.map((d) => outcomes.get(`${s.uid}/${d}`)).filter((o): o is Extract<ApplyOutcome, { ok: false }> => Boolean(o && !o.ok));
    // Routes kept while the route is refused for its own spec: an unexpected failure keeping one is said too.
    const keptFailed = (s.kept ?? []).map((d) => outcomes.get(`${s.uid}/${d}`)).filter((o): o is Extract<ApplyOutcome, { ok: false }> => Boolean(o && !o.ok && o.reason === APPLY_FAILED));
    // What keeps serving as it turned out: following its Services may have removed a kept route.
    const planned = s.keptNote ? keptRoutesNote(s.keptNote) : '';
    const applied = s.keptNote ? keptRoutesNote(keptNoteAsApplied(s, s.keptNote, outcomes)) : '';
    const parents = s.parents.map((p) => {
      let acc = p.conditions[0]!;
      if (acc.status !== 'True' && applied !== planned && acc.message.endsWith(planned)) acc = { ...acc, message: `${acc.message.slice(0, acc.message.length - planned.length)}${applied}` };
      if (acc.status !== 'True' && keptFailed.length > 0) acc = { ...acc, message: `${acc.message}; ${keptFailed.map((f) => f.message).join('; ')}` };
      if (acc.status !== 'True' || failed.length === 0) return acc === p.conditions[0] ? p : { ...p, conditions: [acc, ...p.conditions.slice(1)] };
      const all = failed.length === s.databases.length;
      // A route the API refused to change keeps serving as it was (apply.ts), its endpoints following its last accepted backends: say so.
      const message = failed.map((f) => (f.kept ? `${f.message}; ${keptRoutesText([f.kept.hostname], f.follows?.service ?? null)}` : f.message)).join('; ');
      return {
        ...p,
        conditions: [all ? { ...acc, status: 'False' as const, reason: failed[0]!.reason, message } : { ...acc, message: `${acc.message}; ${message}` }, ...p.conditions.slice(1)],
      };
    });
    if (!this.leader.isLeader) return;
    // The backends each route was written with, for the next time the route is kept; first, so
    // the status patch carries the resourceVersion it leaves.
    let written: TLSRoute | null = null;
    try {
      written = await this.status.tlsRouteAnnotation((forgotten?.written as TLSRoute | undefined) ?? obj, LAST_ACCEPTED_BACKENDS, formatAcceptedBackends(backendsAfter(s, obj, outcomes)));
      if (written) this.wrote('TLSRoute', 'annotation');
    } catch (err) {
      // A ClusterRole from before the annotation (no `patch` on tlsroutes): the status is written
      // all the same, and kept routes follow nothing, as they did then.
      if (!(err instanceof KubeError && err.status === 403)) throw err;
      if (!this.annotationForbidden) this.log.warn({ err: err.message }, `RBAC forbids patching tlsroutes: no ${LAST_ACCEPTED_BACKENDS} annotation is written, so kept TLSRoute routes follow nothing`);
      this.annotationForbidden = true;
    }
    if (await this.status.tlsRoute(written ?? (forgotten?.written as TLSRoute | undefined) ?? obj, parents, now)) this.wrote('TLSRoute');
  }
}

/**
 * What a TLSRoute's LAST_ACCEPTED_BACKENDS annotation must say after this reconcile, per route it
 * has: this generation's backends for the routes just written; the entry it has for the routes
 * kept (refused for its own spec, or a change the API refused), which still follow them; nothing
 * for the routes it no longer has. An unexpected failure (or no outcome) says nothing of what
 * the control database holds now: every entry it has is carried.
 */
function backendsAfter(s: PlannedTLSRouteStatus, obj: TLSRoute, outcomes: Map<string, ApplyOutcome>): AcceptedBackends {
  const had = acceptedBackends(obj.metadata.annotations?.[LAST_ACCEPTED_BACKENDS]);
  const out: AcceptedBackends = {};
  let unsure = false;
  const carry = (hostname: string) => {
    const b = had.get(hostname);
    if (b) out[hostname] = b;
  };
  const routes = [...s.databases.map((d, i) => ({ d, hostname: s.hostnames[i]! })), ...(s.kept ?? []).map((d) => ({ d, hostname: null }))];
  for (const { d, hostname } of routes) {
    const o = outcomes.get(`${s.uid}/${d}`);
    if (!o || (!o.ok && o.reason === APPLY_FAILED)) unsure = true;
    else if (o.ok && hostname !== null && s.backends) out[hostname] = s.backends;
    else if (!o.ok && o.kept) carry(o.kept.hostname);
  }
  if (unsure) for (const [hostname, b] of had) out[hostname] ??= b;
  return out;
}

/**
 * The kept routes of a TLSRoute refused for its own spec as applying them turned out: removed
 * when the endpoints they follow were refused (the tenant's upstream policy) or the route went
 * meanwhile, or kept without following when the API refused the endpoints for another reason.
 */
function keptNoteAsApplied(s: PlannedTLSRouteStatus, n: KeptRoutesNote, outcomes: Map<string, ApplyOutcome>): KeptRoutesNote {
  const out: KeptRoutesNote = { kept: [], removed: [...n.removed] };
  for (const k of n.kept) {
    const o = outcomes.get(`${s.uid}/${k.database}`);
    if (!o || o.ok || o.reason === APPLY_FAILED) out.kept.push(k);
    else if (!o.kept) out.removed.push({ hostname: k.hostname, why: o.removed ?? 'it no longer exists' });
    else if (k.follows && !o.follows) out.kept.push({ ...k, follows: null, ...(o.note ? { note: o.note } : {}) });
    else out.kept.push(k);
  }
  return out;
}

/** A database's endpoints as the API stores them (the primary upstream alone in rows from before the list). */
function endpointsOf(d: { endpoints: unknown; upstreamHost: string; upstreamPort: number }): ExistingRoute['endpoints'] {
  const list = Array.isArray(d.endpoints) ? (d.endpoints as ExistingRoute['endpoints']) : [];
  return list.length > 0 ? list.map((e) => ({ host: e.host, port: e.port })) : [{ host: d.upstreamHost, port: d.upstreamPort }];
}

/** What each object's route follows once written, by `<uid>/<database>` (Controller.forgetFollowedFirst). */
type PlannedFollow = { kind: 'ExternalAccess'; service: AcceptedService | null } | { kind: 'TLSRoute'; hostname: string; backends: AcceptedBackend[] | null };

function plannedFollows(statuses: PlannedStatus[]): Map<string, PlannedFollow> {
  const out = new Map<string, PlannedFollow>();
  for (const s of statuses) {
    if (s.kind === 'ExternalAccess' && s.database) out.set(`${s.uid}/${s.database}`, { kind: 'ExternalAccess', service: s.service ?? null });
    if (s.kind === 'TLSRoute') s.databases.forEach((d, i) => out.set(`${s.uid}/${d}`, { kind: 'TLSRoute', hostname: s.hostnames[i]!, backends: s.backends ?? null }));
  }
  return out;
}
