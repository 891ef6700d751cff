/**
 * Writes statuses to the `/status` subresource as JSON merge patches (content type set
 * explicitly: client-node would default to JSON Patch), with our field manager, and only when
 * something changed.
 *
 * Every patch carries the `resourceVersion` of the object the status was computed from
 * (optimistic concurrency): the API server refuses it with 409 when the object changed since.
 * So a status computed from a stale cache — or sent late by a replica that has just lost the
 * leadership — never overwrites a newer one (the new leader's, say). For the statuses that
 * are ours alone (ExternalAccess, Gateway, GatewayClass) a 409 is not retried: the change that
 * caused it reaches the cache as a watch event, which schedules a new reconcile
 * (level-triggered). TLSRoute `status.parents` is an atomic list shared with other
 * controllers: re-read, merged again and retried on 409.
 *
 * One more write, not a status: the controller's own annotation of a TLSRoute
 * (LAST_ACCEPTED_BACKENDS, tlsRouteAnnotation), a merge patch of that one key of the object, as
 * conditional and as fenced as the statuses.
 *
 * `beforeWrite` runs before each patch: the controller confirms there, in the database, that it
 * still leads (leader.ts fence), since a Kubernetes write cannot join a database transaction.
 */
import { KubeError, type KubeApi } from '../kube/client.js';
import { FIELD_MANAGER, GATEWAY_CONTROLLER_NAME, GATEWAY_GROUP, GROUP, VERSION, type ExternalAccess, type Gateway, type GatewayClass, type RouteParentStatus, type TLSRoute } from '../translate/objects.js';
import type { PlannedCondition, PlannedListenerStatus, PlannedParentStatus } from '../translate/translate.js';
import { sameStatus, withTransitions } from './conditions.js';

const MERGE_PATCH = 'application/merge-patch+json';

export class StatusWriter {
  /** Writes sent, statuses and annotations (for metrics and tests). */
  writes = 0;
  /** Writes refused with 409 because the object changed since it was read (not retried). */
  conflicts = 0;

  constructor(
    private readonly api: KubeApi,
    /** TLSRoute's served version (CONTROLLER_GATEWAY_API_VERSION); Gateway and GatewayClass are v1. */
    private readonly tlsRouteVersion = 'v1',
    private readonly beforeWrite: () => Promise<void> = async () => undefined,
  ) {}

  private async patch(path: string, body: unknown): Promise<unknown> {
    await this.beforeWrite();
    this.writes++;
    return this.api.request('PATCH', path, { body, contentType: MERGE_PATCH, query: { fieldManager: FIELD_MANAGER } });
  }

  /** A patch conditional on `resourceVersion`: false when refused because the object changed since. */
  private async patchIfUnchanged(path: string, resourceVersion: string | undefined, status: unknown): Promise<boolean> {
    return (await this.conditionalPatch(path, { metadata: { resourceVersion }, status })) !== null;
  }

  /** A patch whose body carries `metadata.resourceVersion`: the object as written, or null when refused because it changed since. */
  private async conditionalPatch<T>(path: string, body: Record<string, unknown>): Promise<T | null> {
    try {
      return (await this.patch(path, body)) as T;
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 409)) throw err;
      this.conflicts++;
      return null;
    }
  }

  /**
   * ExternalAccess: we own the whole status. Returns whether it was written (false: unchanged,
   * or the object changed since it was read — its watch event brings a new reconcile).
   */
  async externalAccess(ea: ExternalAccess, next: Record<string, unknown>): Promise<boolean> {
    if (sameStatus(ea.status ?? {}, next)) return false;
    // Explicit nulls delete fields that no longer apply (merge-patch semantics).
    const status = { hostname: null, port: null, connectionStrings: null, certificateExpiry: null, database: null, configVersion: null, lastAcceptedGeneration: null, lastAcceptedService: null, ...next };
    return this.patchIfUnchanged(this.externalAccessStatusPath(ea), ea.metadata.resourceVersion, status);
  }

  /**
   * Removes an ExternalAccess's `status.lastAcceptedService` alone, before its route is rewritten
   * to follow another Service (controller.ts, forgetFollowedFirst). Returns the object as
   * written, or null when refused because it changed since it was read.
   */
  async forgetLastAcceptedService(ea: ExternalAccess): Promise<ExternalAccess | null> {
    return this.conditionalPatch<ExternalAccess>(this.externalAccessStatusPath(ea), { metadata: { resourceVersion: ea.metadata.resourceVersion }, status: { lastAcceptedService: null } });
  }

  private externalAccessStatusPath(ea: ExternalAccess): string {
    return `/apis/${GROUP}/${VERSION}/namespaces/${ea.metadata.namespace}/externalaccesses/${ea.metadata.name}/status`;
  }

  /**
   * Gateway of Switchyard's class: its conditions and listeners are ours alone (the class's
   * controller writes them), so a merge patch replacing both lists is safe.
   */
  async gateway(gw: Gateway, conditions: PlannedCondition[], listeners: PlannedListenerStatus[], now: string): Promise<boolean> {
    const before = gw.status ?? {};
    const next = {
      conditions: withTransitions(conditions, before.conditions, now),
      listeners: listeners.map((l) => ({ ...l, conditions: withTransitions(l.conditions, before.listeners?.find((b) => b.name === l.name)?.conditions, now) })),
    };
    if (sameStatus({ conditions: before.conditions, listeners: before.listeners }, next)) return false;
    return this.patchIfUnchanged(`/apis/${GATEWAY_GROUP}/v1/namespaces/${gw.metadata.namespace}/gateways/${gw.metadata.name}/status`, gw.metadata.resourceVersion, next);
  }

  /** GatewayClass naming our controller: Accepted. */
  async gatewayClass(gc: GatewayClass, conditions: PlannedCondition[], now: string): Promise<boolean> {
    const next = { conditions: withTransitions(conditions, gc.status?.conditions, now) };
    if (sameStatus({ conditions: gc.status?.conditions }, next)) return false;
    return this.patchIfUnchanged(`/apis/${GATEWAY_GROUP}/v1/gatewayclasses/${gc.metadata.name}/status`, gc.metadata.resourceVersion, next);
  }

  /**
   * A TLSRoute's annotation `key`, which only the controller writes, set to `value` (null: removed)
   * when it differs — a merge patch of that key alone, conditional on the object's
   * `resourceVersion`. Returns the object as written (its new resourceVersion, for the status
   * patch that follows), or null when nothing was written: unchanged, or the object changed
   * since it was read (not retried: its watch event brings a new reconcile, which writes it then).
   */
  async tlsRouteAnnotation(route: TLSRoute, key: string, value: string | null): Promise<TLSRoute | null> {
    if ((route.metadata.annotations?.[key] ?? null) === value) return null;
    return this.conditionalPatch<TLSRoute>(this.tlsRoutePath(route), { metadata: { resourceVersion: route.metadata.resourceVersion, annotations: { [key]: value } } });
  }

  private tlsRoutePath(route: TLSRoute): string {
    return `/apis/${GATEWAY_GROUP}/${this.tlsRouteVersion}/namespaces/${route.metadata.namespace}/tlsroutes/${route.metadata.name}`;
  }

  /** TLSRoute: replace only our entries of status.parents. */
  async tlsRoute(route: TLSRoute, planned: PlannedParentStatus[], now: string): Promise<boolean> {
    const path = this.tlsRoutePath(route);
    let obj = route;
    for (let attempt = 0; ; attempt++) {
      const existing = obj.status?.parents ?? [];
      const others = existing.filter((p) => p.controllerName !== GATEWAY_CONTROLLER_NAME);
      const mineBefore = existing.filter((p) => p.controllerName === GATEWAY_CONTROLLER_NAME);
      const mine: RouteParentStatus[] = planned.map((p) => {
        const before = mineBefore.find((b) => sameRef(b.parentRef, p.parentRef));
        return { parentRef: p.parentRef, controllerName: GATEWAY_CONTROLLER_NAME, conditions: withTransitions(p.conditions, before?.conditions, now) };
      });
      if (sameStatus(mineBefore, mine)) return false;
      try {
        await this.patch(`${path}/status`, { metadata: { resourceVersion: obj.metadata.resourceVersion }, status: { parents: [...others, ...mine] } });
        return true;
      } catch (err) {
        // Someone else (another Gateway controller) wrote in between: re-read and merge again.
        if (!(err instanceof KubeError && err.status === 409) || attempt >= 3) throw err;
        obj = await this.api.request<TLSRoute>('GET', path);
      }
    }
  }
}

function sameRef(a: RouteParentStatus['parentRef'], b: RouteParentStatus['parentRef']): boolean {
  return a.name === b.name && (a.namespace ?? '') === (b.namespace ?? '') && (a.sectionName ?? '') === (b.sectionName ?? '') && (a.port ?? 0) === (b.port ?? 0);
}
