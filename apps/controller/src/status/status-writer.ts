/**
 * Writes statuses to the `/status` subresource as JSON merge patches (content type set
 * explicitly: client-node would default to JSON Patch), with our field manager, and only when
 * something changed. TLSRoute `status.parents` is an atomic list shared with other
 * controllers: read-modify-write with the object's resourceVersion, retried on 409.
 */
import { KubeError, type KubeApi } from '../kube/client.js';
import { FIELD_MANAGER, GATEWAY_CONTROLLER_NAME, GATEWAY_GROUP, GROUP, VERSION, type Gateway, type GatewayClass, type RouteParentStatus, type TLSRoute } from '../translate/objects.js';
import type { PlannedCondition, PlannedListenerStatus, PlannedParentStatus } from '../translate/translate.js';
import { sameStatus, withTransitions } from './conditions.js';

const MERGE_PATCH = 'application/merge-patch+json';

export class StatusWriter {
  /** Status writes sent (for metrics and tests). */
  writes = 0;

  constructor(
    private readonly api: KubeApi,
    private readonly gatewayVersion = 'v1',
  ) {}

  private patch(path: string, body: unknown): Promise<unknown> {
    this.writes++;
    return this.api.request('PATCH', path, { body, contentType: MERGE_PATCH, query: { fieldManager: FIELD_MANAGER } });
  }

  /** ExternalAccess: we own the whole status. Returns whether a write was sent. */
  async externalAccess(ns: string, name: string, current: unknown, next: Record<string, unknown>): Promise<boolean> {
    if (sameStatus(current ?? {}, next)) return false;
    // Explicit nulls delete fields that no longer apply (merge-patch semantics).
    const body = { status: { hostname: null, port: null, connectionStrings: null, certificateExpiry: null, database: null, configVersion: null, ...next } };
    await this.patch(`/apis/${GROUP}/${VERSION}/namespaces/${ns}/externalaccesses/${name}/status`, body);
    return true;
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
    await this.patch(`/apis/${GATEWAY_GROUP}/${this.gatewayVersion}/namespaces/${gw.metadata.namespace}/gateways/${gw.metadata.name}/status`, { status: next });
    return true;
  }

  /** GatewayClass naming our controller: Accepted. */
  async gatewayClass(gc: GatewayClass, conditions: PlannedCondition[], now: string): Promise<boolean> {
    const next = { conditions: withTransitions(conditions, gc.status?.conditions, now) };
    if (sameStatus({ conditions: gc.status?.conditions }, next)) return false;
    await this.patch(`/apis/${GATEWAY_GROUP}/${this.gatewayVersion}/gatewayclasses/${gc.metadata.name}/status`, { status: next });
    return true;
  }

  /** TLSRoute: replace only our entries of status.parents. */
  async tlsRoute(route: TLSRoute, planned: PlannedParentStatus[], now: string): Promise<boolean> {
    const path = `/apis/${GATEWAY_GROUP}/${this.gatewayVersion}/namespaces/${route.metadata.namespace}/tlsroutes/${route.metadata.name}`;
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
