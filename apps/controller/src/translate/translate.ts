/**
 * The translator: Kubernetes objects in, wanted routes, planned statuses and discovered
 * services out. A pure function of its input (no clock, no I/O), so it is tested with YAML
 * in / expected YAML out (testdata/), and the controller simply re-runs it on every change
 * (level-triggered): an event means "something changed", never "apply this delta".
 *
 * Rules:
 * - A namespace belongs to the tenant named by its `switchyard.io/tenant` label; objects in
 *   namespaces without one (or naming an unknown tenant) are not accepted.
 * - An object may only use Services of namespaces of its own tenant.
 * - A TLSRoute's backendRef to another namespace needs, as the Gateway API requires, a
 *   ReferenceGrant in that namespace — and that namespace must still be its tenant's.
 * - Database names (databaseName) are `<namespace>-<name>`, which two objects can share
 *   (`a-b`/`c` and `a`/`b-c`, or an ExternalAccess and a TLSRoute of the same name): an object
 *   keeps the name it already has in the control database; otherwise the oldest claim
 *   (creationTimestamp, then uid) gets `<namespace>-<name>` and the others their own
 *   fallbackDatabaseName, so every object gets a database (and a default hostname) of its own.
 * - Among Kubernetes objects the oldest claim (creationTimestamp, then uid) on a hostname wins;
 *   the others get Accepted=False reason HostnameConflict.
 * - Bad input loses nothing: an ExternalAccess that has a route (ctx.routes, read from the
 *   control database, so the decision survives restarts) and whose current generation is
 *   refused for its own spec keeps that route exactly as it is (TranslateOutput.kept) —
 *   unless the refusal is the world's (keepsRoute), or the route's upstream is no longer its
 *   tenant's (upstreamProblem). A kept route still holds its database name and hostname like
 *   any claim of its object's age. Its endpoints follow the Service its last accepted spec
 *   named (status.lastAcceptedService, read from the object: KeptFollow), so rescheduled pods do
 *   not break it; a route without one (explicit endpoints) keeps its endpoints.
 * - The same for a TLSRoute refused for its own spec (its hostnames: TLSROUTE_OWN_REFUSALS, or
 *   every hostname lost to older claims) while the world still admits the route it has (an
 *   allowed listener admits its hostname): its routes are kept as they are (tlsRouteKept), their
 *   endpoints following the Services their last accepted generation resolved to (recorded per
 *   hostname in the TLSRoute's LAST_ACCEPTED_BACKENDS annotation: acceptedBackends).
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import {
  defaultRouteHostname,
  isEngine,
  isUpstreamServerName,
  isValidHostname,
  isValidWildcardHostname,
  listenerProtocolFor,
  normalizeHostname,
  type DisableBehavior,
  type Endpoint,
  type Engine,
  type TlsMode,
} from '@switchyard/core';
import { caBundleProblem } from '@switchyard/pki';
import { inferEngine } from './engine.js';
import {
  GATEWAY_CONTROLLER_NAME,
  GATEWAY_GROUP,
  LAST_ACCEPTED_BACKENDS,
  TENANT_LABEL,
  keyOf,
  type AcceptedBackend,
  type AcceptedBackends,
  type AcceptedService,
  type BackendRef,
  type Condition,
  type EndpointSlice,
  type ExternalAccess,
  type Gateway,
  type GatewayClass,
  type KubeObject,
  type Namespace,
  type ParentRef,
  type ReferenceGrant,
  type Service,
  type TLSRoute,
} from './objects.js';

export interface TranslateInput {
  namespaces: Namespace[];
  services: Service[];
  endpointSlices: EndpointSlice[];
  externalAccesses: ExternalAccess[];
  tlsRoutes: TLSRoute[];
  gateways: Gateway[];
  gatewayClasses: GatewayClass[];
  referenceGrants: ReferenceGrant[];
}

export interface TranslateContext {
  /** Slugs of the tenants that exist. */
  tenants: ReadonlySet<string>;
  baseDomain: string;
  /** Cluster DNS domain (Service names are <svc>.<ns>.svc.<clusterDomain>). */
  clusterDomain: string;
  /**
   * Kubernetes-owned databases that exist in the control database: `<tenant>/<name>` → the
   * owner's uid. An object keeps the database name it has (its route and default hostname are
   * never renamed because another object appeared).
   */
  databases?: ReadonlyMap<string, string>;
  /**
   * Kubernetes-owned routes that exist in the control database (what serves now, whatever the
   * objects say): an object refused for its own spec keeps its route (TranslateOutput.kept).
   */
  routes?: readonly ExistingRoute[];
}

/** A Kubernetes-owned route as the control database has it. */
export interface ExistingRoute {
  ownerUid: string;
  tenant: string;
  database: string;
  hostname: string;
  /** The database's endpoints (what the route sends connections to). */
  endpoints: Endpoint[];
}

export type { AcceptedService };

/**
 * What a kept route's endpoints are now: its last accepted Service resolved against the live
 * Service and EndpointSlices (`service` is `<namespace>/<name>`, or for a TLSRoute's several
 * backends each one's, joined by `, `: servicesNamed; `ready`: their ready endpoints).
 */
export interface KeptFollow {
  service: string;
  endpoints: Endpoint[];
  ready: number;
}

/** Whether and how an object's existing route could be kept: why not, or what its endpoints follow (null: nothing, they stay). */
type KeptUpstream = { problem: string } | { follow: KeptFollow | null };

export interface RouteOwnerRef {
  kind: 'ExternalAccess' | 'TLSRoute';
  namespace: string;
  name: string;
  uid: string;
}

/** A route as a Kubernetes object wants it; the applier turns it into API service calls. */
export interface DesiredRoute {
  owner: RouteOwnerRef;
  tenant: string;
  /** Database name in the tenant (the route is the database's external access). */
  database: string;
  engine: Engine;
  endpoints: Endpoint[];
  enabled: boolean;
  tlsMode: TlsMode;
  hostname: string;
  /** true when the object named the hostname (the API checks it against the tenant's domains). */
  customHostname: boolean;
  sourceCidrs: string[];
  maxConnections: number | null;
  disableBehavior: DisableBehavior;
  certificateName: string | null;
  /** Terminate mode: TLS to the database (default) or plaintext. */
  upstreamTls: boolean;
  /** Terminate mode with upstreamTls: PEM CA the database's certificate must chain to; null: not verified (and always null otherwise). */
  upstreamCa: string | null;
  /**
   * Terminate mode with upstreamTls: the name sent as SNI and checked against the database's
   * certificate (null: the endpoint's host; always null otherwise). Defaults to the Service's
   * DNS name when the route lists its pod addresses, which no operator's certificate names.
   */
  upstreamServerName: string | null;
  /**
   * Set when the object has a route now (an earlier generation's) that must not be kept should
   * the API refuse this change: why (its upstream is no longer its tenant's, upstreamProblem).
   */
  notKeptBecause?: string;
  /**
   * Set when the object has a route now whose last accepted spec named a Service: should the API
   * refuse this change, the route is kept with these endpoints (its Service's, as they are now).
   */
  keptFollows?: KeptFollow;
}

/**
 * A route kept exactly as it is: its object has it from an earlier, accepted generation, and
 * the current generation is refused for its own spec (a field the user got wrong). Nothing of
 * it is written — except that spec.enabled false still acts at once: the route is disabled.
 */
export interface KeptRoute {
  owner: RouteOwnerRef;
  tenant: string;
  database: string;
  hostname: string;
  /** The refused generation's spec.enabled: false disables the kept route (true never re-enables it). */
  enabled: boolean;
  /** How that disabling treats open connections (the refused generation's spec.disableBehavior). */
  disableBehavior: DisableBehavior;
  /** Its endpoints as they must be now (its last accepted Service's), or null: they stay as they are. */
  follow: KeptFollow | null;
  /** Why the current generation is refused (its Accepted condition). */
  reason: string;
  message: string;
}

/** Conditions without lastTransitionTime (the status writer sets it when a status flips). */
export type PlannedCondition = Omit<Condition, 'lastTransitionTime'>;

export interface PlannedExternalAccessStatus {
  kind: 'ExternalAccess';
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  conditions: PlannedCondition[];
  hostname: string | null;
  database: string | null;
  readyEndpoints: number;
  /** true: this generation is refused for its own spec and the route of the last accepted one keeps serving (TranslateOutput.kept). */
  kept?: boolean;
  /** The Service this generation names (spec.service), for status.lastAcceptedService once its route is written. */
  service?: AcceptedService;
}

export interface PlannedParentStatus {
  parentRef: ParentRef;
  conditions: PlannedCondition[];
}

export interface PlannedTLSRouteStatus {
  kind: 'TLSRoute';
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  /** Only the parents whose Gateway is Switchyard's: other controllers' entries are left alone. */
  parents: PlannedParentStatus[];
  hostnames: string[];
  databases: string[];
  /** Databases of the routes kept for this object while it is refused for its own spec (TranslateOutput.kept). */
  kept?: string[];
  /** What its parents' Accepted messages end with (keptRoutesNote): the routes kept, and those removed and why. */
  keptNote?: KeptRoutesNote;
  /** The backendRefs of this generation that resolved, for the LAST_ACCEPTED_BACKENDS annotation once its routes are written. */
  backends?: AcceptedBackend[];
}

/**
 * What a TLSRoute refused for its own spec says of the routes it had: those kept (`follows`: the
 * Services their endpoints follow, KeptFollow.service; `note`: why they did not), and those
 * removed and why.
 */
export interface KeptRoutesNote {
  kept: { database: string; hostname: string; follows: string | null; note?: string }[];
  removed: { hostname: string; why: string }[];
}

export interface PlannedListenerStatus {
  name: string;
  supportedKinds: { group: string; kind: string }[];
  /** TLSRoutes attached (their parentRef selects it and its allowedRoutes admits them; Gateway API). */
  attachedRoutes: number;
  conditions: PlannedCondition[];
}

/** A Gateway of Switchyard's class: its whole status is ours (Gateway API: the class's controller). */
export interface PlannedGatewayStatus {
  kind: 'Gateway';
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  conditions: PlannedCondition[];
  listeners: PlannedListenerStatus[];
}

/** A GatewayClass naming Switchyard's controller: Accepted. */
export interface PlannedGatewayClassStatus {
  kind: 'GatewayClass';
  name: string;
  uid: string;
  generation: number;
  conditions: PlannedCondition[];
}

export type PlannedStatus = PlannedExternalAccessStatus | PlannedTLSRouteStatus | PlannedGatewayStatus | PlannedGatewayClassStatus;

export interface DiscoveredService {
  tenant: string;
  namespace: string;
  name: string;
  engine: Engine;
  engineReason: string;
  role: string | null;
  host: string;
  port: number;
  ports: { name: string | null; port: number; protocol: string }[];
  readyEndpoints: Endpoint[];
}

export interface TranslateOutput {
  routes: DesiredRoute[];
  /** Routes kept as they are for objects refused for their own spec (never swept, never updated). */
  kept: KeptRoute[];
  statuses: PlannedStatus[];
  discovered: DiscoveredService[];
}

/** At most this many endpoints per route (the API's limit). */
const MAX_ENDPOINTS = 16;
/** spec.upstreamCa's longest accepted value (the API's limit on upstreamCa). */
export const MAX_UPSTREAM_CA = 65536;
const MAX_DATABASE_NAME = 40;

/**
 * Refusals the world causes rather than the object's own spec: a route is never kept for them.
 * - NamespaceNotMapped, TenantNotFound: the namespace left its tenant (maybe for another one),
 *   or the tenant is gone — a route kept under the old tenant would serve a namespace that is
 *   no longer its own.
 * - ServiceNotFound: the Service is gone or lost the port. A typo in spec.service looks the same,
 *   but a route to a deleted Service's pod addresses sends clients to whatever gets them next.
 * - UpstreamNotAllowed: another tenant's namespace, or outside the tenant's upstream policy (the
 *   policy may have changed): the tenant's boundary wins over availability.
 * Every other refusal (Invalid, EngineUnknown, HostnameNotAllowed, UpstreamCaInvalid,
 * CertificateNotFound, CertificateMismatch, HostnameConflict over a name the route does not
 * have, TenantLimitReached when enabling it again, any other API 4xx) keeps the route.
 */
export const NEVER_KEPT: ReadonlySet<string> = new Set(['NamespaceNotMapped', 'TenantNotFound', 'ServiceNotFound', 'UpstreamNotAllowed']);

/** Whether a refusal for this reason keeps the route an object already has (see NEVER_KEPT). */
export function keepsRoute(reason: string): boolean {
  return !NEVER_KEPT.has(reason);
}

/**
 * The refusals of a TLSRoute caused by its own spec, which keep the routes it has (Accepted
 * reasons of the Gateway API): UnsupportedValue (spec.hostnames empty, or a name that is not a
 * host name) and NoMatchingListenerHostname (its hostnames edited out of what the listeners
 * admit; a route is kept only while a listener still admits the hostname it has, so a listener
 * narrowed by the Gateway's owner still removes it). HostnameConflict over new names (every
 * hostname already claimed by older objects) keeps them too (settle). The others are the
 * world's: NotAllowedByListeners (the Gateway's allowedRoutes, or a listener that no longer
 * exists — a sectionName typo looks the same), NamespaceNotMapped, TenantNotFound. Backends
 * that do not resolve are not a refusal (Accepted stays True): the Gateway API has such a route
 * refuse connections, so nothing is kept for them.
 */
export const TLSROUTE_OWN_REFUSALS: ReadonlySet<string> = new Set(['UnsupportedValue', 'NoMatchingListenerHostname']);

/**
 * status.lastAcceptedService as the object has it, or null when absent or not of that shape
 * (the status is read back from the API server, and an older controller never wrote it).
 */
export function followedService(v: unknown): AcceptedService | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  const port = o.port;
  const portOk = (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) || (typeof port === 'string' && port.length >= 1 && port.length <= 15);
  if (!label(o.namespace) || !label(o.name) || !portOk || (o.upstream !== 'endpoints' && o.upstream !== 'service')) return null;
  return { namespace: o.namespace, name: o.name, port, upstream: o.upstream };
}

/** A namespace or Service name as the controller writes them (a DNS label). */
function label(x: unknown): x is string {
  return typeof x === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(x) && x.length <= 63;
}

/**
 * A TLSRoute's LAST_ACCEPTED_BACKENDS annotation as the controller wrote it: hostname → the
 * Services (namespace, name, port) its route was last written with. Read back from the object,
 * where anyone may edit it: what is not JSON of that shape is ignored — the whole annotation,
 * or the one hostname whose entry is not — and a route without an entry follows nothing
 * (its endpoints stay as they are, as before the annotation existed).
 */
export function acceptedBackends(raw: unknown): Map<string, AcceptedBackend[]> {
  const out = new Map<string, AcceptedBackend[]>();
  if (typeof raw !== 'string') return out;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return out;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
  const backend = (b: unknown): AcceptedBackend | null => {
    if (!b || typeof b !== 'object') return null;
    const o = b as Record<string, unknown>;
    const ok = label(o.namespace) && label(o.name) && typeof o.port === 'number' && Number.isInteger(o.port) && o.port >= 1 && o.port <= 65535;
    return ok ? { namespace: o.namespace as string, name: o.name as string, port: o.port as number } : null;
  };
  for (const [host, list] of Object.entries(v)) {
    const h = normalizeHostname(host);
    if (!h || !(h.startsWith('*.') ? isValidWildcardHostname(h) : isValidHostname(h)) || !Array.isArray(list) || list.length === 0) continue;
    const backends = list.map(backend);
    if (backends.every((b) => b !== null)) out.set(h, backends);
  }
  return out;
}

/** The LAST_ACCEPTED_BACKENDS annotation's value for these entries (hostnames sorted: one text per content), or null for none (the annotation removed). */
export function formatAcceptedBackends(entries: AcceptedBackends): string | null {
  const hosts = Object.keys(entries).sort();
  return hosts.length === 0 ? null : JSON.stringify(Object.fromEntries(hosts.map((h) => [h, entries[h]!.map((b) => ({ namespace: b.namespace, name: b.name, port: b.port }))])));
}

/** KeptFollow.service as messages name it: `Service acme-web/db`, or `Services acme-web/a, acme-web/b` (a TLSRoute's several backends). */
export function servicesNamed(service: string): string {
  return `${service.includes(', ') ? 'Services' : 'Service'} ${service}`;
}

/** `its last accepted route keeps serving db.example.com unchanged` (but for its endpoints, when they follow Services). */
export function keptRoutesText(hostnames: string[], follows: string | null): string {
  const one = hostnames.length === 1;
  const head = one ? `its last accepted route keeps serving ${hostnames[0]} unchanged` : `its last accepted routes keep serving ${hostnames.join(', ')} unchanged`;
  return follows ? `${head} but for ${one ? 'its' : 'their'} endpoints, which follow ${servicesNamed(follows)}` : head;
}

/** What a TLSRoute's parents' Accepted message ends with while it is refused for its own spec: `; <what keeps serving>; <what was removed and why>`. */
export function keptRoutesNote(n: KeptRoutesNote): string {
  const groups = new Map<string, { hostnames: string[]; follows: string | null; note?: string }>();
  for (const k of [...n.kept].sort(byHostname)) {
    const key = JSON.stringify([k.follows, k.note ?? null]);
    const g = groups.get(key) ?? { hostnames: [], follows: k.follows, note: k.note };
    g.hostnames.push(k.hostname);
    groups.set(key, g);
  }
  const parts = [...groups.values()].map((g) => `${keptRoutesText(g.hostnames, g.follows)}${g.note ? ` (${g.note})` : ''}`);
  for (const r of n.removed) parts.push(`its last accepted route for ${r.hostname} was removed: ${r.why}`);
  return parts.map((x) => `; ${x}`).join('');
}

/** What a refusal's message says when the object's route could not be kept. */
export function routeRemoved(why: string): string {
  return `its last accepted route was removed: ${why}`;
}

export function translate(input: TranslateInput, ctx: TranslateContext): TranslateOutput {
  const t = new Translator(input, ctx);
  return t.run();
}

/**
 * An object's claim on a database name and a hostname: an accepted object's (one per TLSRoute
 * hostname; `route.database` and `route.hostname` are filled in once names are resolved, run()),
 * or a kept route's (`kept`: its object is refused, the route stays with the names it has).
 */
type Claim = {
  tenant: string;
  /** The route to write; null for a kept route (nothing is written). */
  route: DesiredRoute | null;
  kept: KeptRoute | null;
  /** databaseName(): what every object that does not collide keeps. */
  preferred: string;
  /** fallbackDatabaseName(): the object's own name when another one has `preferred`. */
  fallback: string;
  /** spec.hostname / the TLSRoute hostname; null: the default, which follows the database name. */
  hostname: string | null;
  created: string;
  uid: string;
  /** The hostname's index in a TLSRoute (claims of one object are resolved in this order). */
  index: number;
  /** `<kind> <namespace>/<name>`, as messages name the object. */
  who: string;
  named: (database: string, hostname: string) => void;
  /** Loses the claim: `what` says to what, e.g. "already claimed by ExternalAccess acme/x". */
  lose: (reason: Loss['reason'], subject: string, what: string) => void;
  /**
   * Should the object's existing route `e` be kept if this change is refused (by the API): why
   * not, or what its endpoints follow (DesiredRoute.notKeptBecause, keptFollows).
   */
  ifRefused: (e: ExistingRoute) => KeptUpstream;
  /**
   * An object that has routes under other hostnames: the kept claims that replace this one when
   * it loses (its new hostname is taken; `outcome`: every claim's), or null: the loss stands.
   */
  fallBack?: (loss: Loss, outcome: Resolution) => Claim[] | null;
};

type Loss = { reason: 'HostnameConflict' | 'DatabaseNameConflict'; subject: string; what: string; hostname: string | null };
/** Every claim's outcome, in the order the losses and names were decided. */
type Resolution = Map<Claim, { database: string; hostname: string } | Loss>;

/** A TLSRoute's backendRefs resolved (resolveRefs): their endpoints, or why none resolves. */
type Resolved =
  | { ok: true; endpoints: Endpoint[]; engine: Engine; problems: { reason: string; message: string }[]; used: AcceptedBackend[]; ready: number }
  | { ok: false; reason: string; message: string };

function byHostname(a: { hostname: string }, b: { hostname: string }): number {
  return a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0;
}

/** Oldest first: creationTimestamp, then uid (unique, so the order is total), then hostname index. */
function byAge(a: Claim, b: Claim): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  if (a.uid !== b.uid) return a.uid < b.uid ? -1 : 1;
  return a.index - b.index;
}

class Translator {
  private readonly tenantOfNs = new Map<string, string>();
  private readonly nsLabels = new Map<string, Record<string, string>>();
  private readonly services = new Map<string, Service>();
  private readonly slicesBySvc = new Map<string, EndpointSlice[]>();
  /** Every address of an EndpointSlice (ready or not) → the namespaces listing it. */
  private readonly addressNamespaces = new Map<string, Set<string>>();
  /** Run once every claim is resolved: TLSRoute statuses list the hostnames that were routed. */
  private readonly settlers: (() => void)[] = [];
  /** Which Gateway listeners (`<ns>/<gateway>/<listener>`) each planned parent status attaches to. */
  private readonly attachments = new Map<PlannedParentStatus, string[]>();

  constructor(
    private readonly input: TranslateInput,
    private readonly ctx: TranslateContext,
  ) {
    for (const ns of input.namespaces) {
      this.nsLabels.set(ns.metadata.name, ns.metadata.labels ?? {});
      const tenant = ns.metadata.labels?.[TENANT_LABEL];
      if (tenant) this.tenantOfNs.set(ns.metadata.name, tenant);
    }
    for (const s of input.services) this.services.set(keyOf(s), s);
    for (const sl of input.endpointSlices) {
      const svc = sl.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      const k = `${sl.metadata.namespace}/${svc}`;
      this.slicesBySvc.set(k, [...(this.slicesBySvc.get(k) ?? []), sl]);
      for (const e of sl.endpoints ?? []) {
        for (const a of e.addresses) this.addressNamespaces.set(a, (this.addressNamespaces.get(a) ?? new Set()).add(sl.metadata.namespace!));
      }
    }
  }

  run(): TranslateOutput {
    const claims: Claim[] = [];
    const statuses: PlannedStatus[] = [];
    for (const ea of sortObjects(this.input.externalAccesses)) {
      if (ea.metadata.deletionTimestamp) continue;
      statuses.push(this.externalAccess(ea, claims));
    }
    for (const tr of sortObjects(this.input.tlsRoutes)) {
      if (tr.metadata.deletionTimestamp) continue;
      const s = this.tlsRoute(tr, claims);
      if (s) statuses.push(s);
    }
    const routes: DesiredRoute[] = [];
    const kept: KeptRoute[] = [];
    for (const [c, o] of this.settle(claims)) {
      if ('reason' in o) {
        c.lose(o.reason, o.subject, o.what);
        continue;
      }
      c.named(o.database, o.hostname);
      if (c.route) {
        c.route.database = o.database;
        c.route.hostname = o.hostname;
        const e = this.existingRoute(c.route.owner.uid, c.route.tenant, o.database);
        const up = e ? c.ifRefused(e) : null;
        if (up && 'problem' in up) c.route.notKeptBecause = up.problem;
        else if (up?.follow) c.route.keptFollows = up.follow;
        routes.push(c.route);
      } else kept.push(c.kept!);
    }
    for (const settle of this.settlers) settle();
    const order = (a: { tenant: string; database: string }, b: { tenant: string; database: string }) =>
      a.tenant + '/' + a.database < b.tenant + '/' + b.database ? -1 : a.tenant + '/' + a.database > b.tenant + '/' + b.database ? 1 : 0;
    routes.sort(order);
    kept.sort(order);
    statuses.push(...this.gatewayStatuses(statuses));
    return { routes, kept, statuses, discovered: this.discover() };
  }

  /**
   * Resolves the claims; an object whose new hostnames are taken but that has routes under
   * others falls back to keeping those routes (Claim.fallBack), and the claims are resolved
   * again with them — a kept hostname may now win against a younger claim, or lose to an older
   * one. Kept claims never fall back, so each object falls back at most once, and this ends.
   */
  private settle(claims: Claim[]): Resolution {
    let active = claims;
    for (;;) {
      const outcome = this.resolve(active);
      let swapped = false;
      active = active.flatMap((c) => {
        const o = outcome.get(c)!;
        const alt = 'reason' in o && c.fallBack ? c.fallBack(o, outcome) : null;
        if (alt) swapped = true;
        return alt ?? [c];
      });
      if (!swapped) return outcome;
    }
  }

  /**
   * Gives every claim its database name and, unless the object names one, its default
   * hostname, then settles hostnames. A name an object already has in the control database
   * stays its own (preferred or fallback). Otherwise the preferred name goes to the oldest of
   * the claims that want it and is not held by one of them; the others take their fallback
   * (unique by construction). If two claims still end with one name (a hash collision, or a
   * fallback equal to another object's preferred name), the holder or the oldest keeps it and
   * the others lose with DatabaseNameConflict. Among the named, the oldest claim on a hostname
   * wins it; the others lose with HostnameConflict. Pure: nothing is told to the claims.
   */
  private resolve(claims: Claim[]): Resolution {
    const sorted = [...claims].sort(byAge);
    const held = this.ctx.databases ?? new Map<string, string>();
    const holds = (c: Claim, name: string) => held.get(`${c.tenant}/${name}`) === c.uid;
    const chosen = new Map<Claim, string>();
    const byPreferred = new Map<string, Claim[]>();
    for (const c of sorted) {
      if (holds(c, c.preferred)) chosen.set(c, c.preferred);
      else if (holds(c, c.fallback)) chosen.set(c, c.fallback);
      const k = `${c.tenant}/${c.preferred}`;
      byPreferred.set(k, [...(byPreferred.get(k) ?? []), c]);
    }
    const kept = new Set([...chosen].map(([c, name]) => `${c.tenant}/${name}`));
    for (const [k, group] of byPreferred) {
      const open = group.filter((c) => !chosen.has(c));
      open.forEach((c, i) => chosen.set(c, !kept.has(k) && i === 0 ? c.preferred : c.fallback));
    }
    const out: Resolution = new Map();
    const owner = new Map<string, Claim>();
    // Holders first, then by age: whoever has the name keeps it.
    const order = [...sorted].sort((a, b) => Number(holds(b, chosen.get(b)!)) - Number(holds(a, chosen.get(a)!)) || byAge(a, b));
    for (const c of order) {
      const database = chosen.get(c)!;
      const k = `${c.tenant}/${database}`;
      const w = owner.get(k);
      if (w) {
        out.set(c, { reason: 'DatabaseNameConflict', subject: `Database name ${database}`, what: `already used by ${w.who}`, hostname: null });
        continue;
      }
      owner.set(k, c);
    }
    // Oldest claim on a hostname wins; the rest lose with a condition, not a fight.
    const winners = new Map<string, Claim>();
    for (const c of sorted) {
      if (out.has(c)) continue;
      const database = chosen.get(c)!;
      const hostname = c.hostname ?? defaultRouteHostname(database, c.tenant, this.ctx.baseDomain);
      const w = winners.get(hostname);
      if (w) {
        out.set(c, { reason: 'HostnameConflict', subject: `Hostname ${hostname}`, what: `already claimed by ${w.who}`, hostname });
        continue;
      }
      winners.set(hostname, c);
      out.set(c, { database, hostname });
    }
    return out;
  }

  /** The route an object has now in the control database (in this tenant, and database if given). */
  private existingRoute(uid: string, tenant: string, database?: string): ExistingRoute | null {
    return (this.ctx.routes ?? []).find((r) => r.ownerUid === uid && r.tenant === tenant && (database === undefined || r.database === database)) ?? null;
  }

  /**
   * Whether an ExternalAccess's existing route may be kept, and with which endpoints. With
   * status.lastAcceptedService (its last accepted spec named a Service), the route follows that
   * Service as it is now — its ready pods, resolved as an accepted route's are: the Service must
   * still be in a namespace of the route's tenant and still have the port, or the route goes
   * (a deleted Service is the world's refusal, ServiceNotFound). The API's upstream policy
   * checks the new endpoints when they are written (apply.ts). Without it (explicit endpoints,
   * or a status written before the field), the route keeps its endpoints while they are still
   * its tenant's (upstreamProblem).
   */
  private keptUpstream(ea: ExternalAccess, e: ExistingRoute): KeptUpstream {
    const svc = followedService(ea.status?.lastAcceptedService);
    if (!svc) {
      const problem = this.upstreamProblem(e.endpoints, e.tenant);
      return problem ? { problem } : { follow: null };
    }
    const key = `${svc.namespace}/${svc.name}`;
    if (this.tenantOfNs.get(svc.namespace) !== e.tenant) return { problem: `the Service it follows, ${key}, is not in a namespace of tenant ${e.tenant}` };
    const r = this.resolveService(svc.namespace, svc.name, svc.port, svc.upstream);
    if ('reason' in r) return { problem: `the Service it follows: ${r.message}` };
    return { follow: { service: key, endpoints: r.endpoints, ready: r.ready } };
  }

  /**
   * Why a route's upstream is no longer safe to keep serving for `tenant` (null: it is). A
   * kept route that follows no Service (keptUpstream) keeps the addresses it had, so it must stop
   * being kept once one of them is another tenant's — a pod address now listed only by
   * EndpointSlices of namespaces outside the tenant, or a Service name whose Service is gone or
   * whose namespace left the tenant. (An address no EndpointSlice lists is a pod that is gone:
   * the proxies' health checks skip it.) Other hosts (explicit endpoints) went through the
   * tenant's upstream policy and are not the cluster's to judge.
   */
  private upstreamProblem(endpoints: Endpoint[], tenant: string): string | null {
    const suffix = `.svc.${this.ctx.clusterDomain}`;
    for (const e of endpoints) {
      const host = e.host.toLowerCase().replace(/\.$/, '');
      if (isIP(host)) {
        const namespaces = [...(this.addressNamespaces.get(host) ?? [])].sort();
        if (namespaces.length > 0 && !namespaces.some((ns) => this.tenantOfNs.get(ns) === tenant)) {
          return `its upstream ${e.host}:${e.port} is now an address of namespace ${namespaces[0]}, not of tenant ${tenant}`;
        }
        continue;
      }
      if (!host.endsWith(suffix)) continue;
      const parts = host.slice(0, -suffix.length).split('.');
      if (parts.length !== 2) continue;
      const [svc, ns] = parts as [string, string];
      if (this.tenantOfNs.get(ns) !== tenant) return `its upstream ${e.host} is in namespace ${ns}, not of tenant ${tenant}`;
      if (!this.services.has(`${ns}/${svc}`)) return `its upstream Service ${ns}/${svc} no longer exists`;
    }
    return null;
  }

  /**
   * The claim of a route kept for a refused ExternalAccess: the database name and hostname it
   * has, at its object's age. Named, the object's status says it is refused and kept; lost (an
   * older object claims its hostname), it is refused and the route goes.
   */
  private keptClaim(ea: ExternalAccess, e: ExistingRoute, status: PlannedExternalAccessStatus, reason: string, message: string, spec: ExternalAccess['spec'], follow: KeptFollow | null): Claim {
    const ns = ea.metadata.namespace!;
    const g = status.generation;
    const refused = (m: string) => [cond('Accepted', false, reason, m, g), cond('Ready', false, reason, m, g)];
    const owner: RouteOwnerRef = { kind: 'ExternalAccess', namespace: ns, name: ea.metadata.name, uid: ea.metadata.uid };
    return {
      tenant: e.tenant,
      route: null,
      kept: {
        owner,
        tenant: e.tenant,
        database: e.database,
        hostname: e.hostname,
        enabled: spec.enabled ?? true,
        disableBehavior: spec.disableBehavior === 'close' ? 'close' : 'drain',
        follow,
        reason,
        message,
      },
      preferred: e.database,
      fallback: e.database,
      hostname: e.hostname,
      created: ea.metadata.creationTimestamp ?? '',
      uid: ea.metadata.uid,
      index: 0,
      who: `ExternalAccess ${ns}/${ea.metadata.name} (its last accepted route, kept while its spec is refused)`,
      ifRefused: () => ({ follow: follow }),
      named: (database, host) => {
        status.database = database;
        status.hostname = host;
        status.kept = true;
        // What Ready counts: the ready pods of the Service the kept route follows (none followed: not counted).
        if (follow) status.readyEndpoints = follow.ready;
        status.conditions = refused(message);
      },
      lose: (_reason, subject, what) => {
        status.database = null;
        status.hostname = null;
        delete status.kept;
        status.conditions = refused(`${message}; ${routeRemoved(`${subject} is ${what} (older claims win)`)}`);
      },
    };
  }

  private tenantOf(ns: string): { tenant: string } | { reason: string; message: string } {
    const tenant = this.tenantOfNs.get(ns);
    if (!tenant) return { reason: 'NamespaceNotMapped', message: `Namespace ${ns} has no ${TENANT_LABEL} label` };
    if (!this.ctx.tenants.has(tenant)) return { reason: 'TenantNotFound', message: `Namespace ${ns} names tenant ${tenant}, which does not exist` };
    return { tenant };
  }

  private externalAccess(ea: ExternalAccess, claims: Claim[]): PlannedExternalAccessStatus {
    const ns = ea.metadata.namespace!;
    const generation = ea.metadata.generation ?? 0;
    const status: PlannedExternalAccessStatus = {
      kind: 'ExternalAccess',
      namespace: ns,
      name: ea.metadata.name,
      uid: ea.metadata.uid,
      generation,
      conditions: [],
      hostname: null,
      database: null,
      readyEndpoints: 0,
    };
    const spec = ea.spec ?? {};
    let tenant: string | null = null;
    // Refused for its own spec with a route of an earlier generation: the route stays as it is
    // (a kept claim), unless the refusal is the world's or the route's upstream is no longer
    // the tenant's. Every world-caused refusal is checked before the spec's own fields.
    const refuse = (reason: string, message: string) => {
      const e = tenant !== null && keepsRoute(reason) ? this.existingRoute(ea.metadata.uid, tenant) : null;
      if (e) {
        const up = this.keptUpstream(ea, e);
        if (!('problem' in up)) {
          claims.push(this.keptClaim(ea, e, status, reason, message, spec, up.follow));
          return status;
        }
        message = `${message}; ${routeRemoved(up.problem)}`;
      }
      status.conditions = [cond('Accepted', false, reason, message, generation), cond('Ready', false, reason, message, generation)];
      return status;
    };
    const t = this.tenantOf(ns);
    if (!('tenant' in t)) return refuse(t.reason, t.message);
    tenant = t.tenant;
    let endpoints: Endpoint[];
    let guessed: Engine | null = null;
    /** The Service's DNS name when the route lists its pod addresses (upstream: endpoints). */
    let podsOf: string | null = null;
    if (spec.service) {
      const svcNs = spec.service.namespace ?? ns;
      if (svcNs !== ns && this.tenantOfNs.get(svcNs) !== t.tenant) {
        return refuse('UpstreamNotAllowed', `spec.service.namespace: Service ${svcNs}/${spec.service.name} is not in a namespace of tenant ${t.tenant}`);
      }
      const r = this.resolveService(svcNs, spec.service.name, spec.service.port, spec.upstream ?? 'endpoints');
      if ('reason' in r) return refuse(r.reason, `spec.service.${r.field}: ${r.message}`);
      endpoints = r.endpoints;
      status.readyEndpoints = r.ready;
      guessed = r.engine;
      // Set even while no pod is ready (the route then names the Service itself): the name must
      // not come and go with readiness, each change a route write.
      if ((spec.upstream ?? 'endpoints') === 'endpoints') podsOf = normalizeHostname(`${spec.service.name}.${svcNs}.svc.${this.ctx.clusterDomain}`);
    } else if (spec.endpoints && spec.endpoints.length > 0) {
      // Explicit endpoints: the API checks them against the tenant's upstream policy, which
      // refuses other tenants' namespaces and networks.
      endpoints = spec.endpoints.slice(0, MAX_ENDPOINTS).map((e) => ({ host: e.host, port: e.port }));
      // Refused here rather than by the API: a route the object already has is then kept
      // untouched (the API would refuse it only after the route's other settings were written).
      const seen = new Set<string>();
      for (const [i, e] of endpoints.entries()) {
        const k = `${String(e.host).toLowerCase().replace(/\.$/, '')}:${e.port}`;
        if (seen.has(k)) return refuse('Invalid', `spec.endpoints[${i}]: repeats ${e.host}:${e.port}`);
        seen.add(k);
      }
      status.readyEndpoints = endpoints.length;
    } else {
      return refuse('Invalid', 'spec.service or spec.endpoints is required');
    }
    const engine = spec.engine ?? guessed;
    if (!engine || !isEngine(engine)) return refuse('EngineUnknown', spec.engine ? `Unknown engine ${spec.engine}` : 'The engine cannot be inferred from the Service; set spec.engine');
    let hostname: string | null = null;
    if (spec.hostname) {
      const h = normalizeHostname(spec.hostname);
      if (!h || !(h.startsWith('*.') ? isValidWildcardHostname(h) : isValidHostname(h))) return refuse('Invalid', `spec.hostname: "${spec.hostname}" is not a valid host name`);
      hostname = h;
    }
    if (spec.upstreamCa !== undefined) {
      const problem = upstreamCaProblem(spec.upstreamCa);
      if (problem) return refuse(UPSTREAM_CA_INVALID, `spec.upstreamCa: ${problem}`);
    }
    let serverName: string | null = null;
    if (spec.upstreamServerName !== undefined) {
      serverName = normalizeHostname(String(spec.upstreamServerName).trim());
      if (!serverName || !isUpstreamServerName(serverName)) {
        return refuse(
          'Invalid',
          `spec.upstreamServerName: "${String(spec.upstreamServerName).slice(0, 253)}" is not a DNS name (the name in the database's certificate, e.g. orders-rw.${ns}.svc; no addresses, ports or wildcards)`,
        );
      }
    }
    const tlsMode = spec.tlsMode ?? 'passthrough';
    const upstreamTls = spec.upstreamTls ?? true;
    // Only a terminating proxy with TLS to the database has a certificate to check: in
    // passthrough (the client checks it) or with a plaintext upstream both stay null.
    const upstreamLeg = tlsMode === 'terminate' && upstreamTls;
    const route: DesiredRoute = {
      owner: { kind: 'ExternalAccess', namespace: ns, name: ea.metadata.name, uid: ea.metadata.uid },
      tenant: t.tenant,
      database: '', // resolved with every other claim (resolve)
      engine,
      endpoints,
      enabled: spec.enabled ?? true,
      tlsMode,
      hostname: '',
      customHostname: Boolean(spec.hostname),
      sourceCidrs: spec.sourceCidrs ?? [],
      maxConnections: spec.maxConnections ?? null,
      disableBehavior: spec.disableBehavior ?? 'drain',
      certificateName: spec.certificate?.name ?? null,
      upstreamTls,
      upstreamCa: upstreamLeg ? (spec.upstreamCa ?? null) : null,
      upstreamServerName: upstreamLeg ? (serverName ?? podsOf) : null,
    };
    // What a verified upstream is checked for, in the Accepted message (only with a CA: without
    // one nothing is verified, and an object that sets neither keeps the message it had).
    const checkedFor = route.upstreamServerName ?? (endpoints.length === 1 ? endpoints[0]!.host : "each endpoint's host");
    const verified = route.upstreamCa === null ? '' : `; the database's certificate is verified for ${checkedFor}`;
    const preferred = databaseName(ns, ea.metadata.name);
    claims.push({
      tenant: t.tenant,
      route,
      kept: null,
      preferred,
      fallback: fallbackDatabaseName('ExternalAccess', ns, ea.metadata.name, preferred),
      hostname,
      created: ea.metadata.creationTimestamp ?? '',
      uid: ea.metadata.uid,
      index: 0,
      who: `ExternalAccess ${ns}/${ea.metadata.name}`,
      ifRefused: (e) => this.keptUpstream(ea, e),
      named: (database, host) => {
        status.hostname = host;
        status.database = database;
        status.conditions = [cond('Accepted', true, 'Accepted', `Routes ${host} to ${describeEndpoints(endpoints)}${verified}`, generation)];
        if (spec.service) status.service = { namespace: spec.service.namespace ?? ns, name: spec.service.name, port: spec.service.port, upstream: spec.upstream ?? 'endpoints' };
      },
      lose: (reason, subject, what) => {
        status.conditions = [cond('Accepted', false, reason, `${subject} is ${what} (older claims win)`, generation), cond('Ready', false, reason, `${subject} is ${what}`, generation)];
        status.database = null;
      },
      // Its new hostname taken by an older claim, while its route has another one: keep that route.
      fallBack: (loss) => {
        if (loss.reason !== 'HostnameConflict') return null;
        const e = this.existingRoute(ea.metadata.uid, t.tenant);
        if (!e || e.hostname === loss.hostname) return null;
        const up = this.keptUpstream(ea, e);
        if ('problem' in up) return null;
        return [this.keptClaim(ea, e, status, loss.reason, `${loss.subject} is ${loss.what} (older claims win)`, spec, up.follow)];
      },
    });
    return status;
  }

  private tlsRoute(tr: TLSRoute, claims: Claim[]): PlannedTLSRouteStatus | null {
    const ns = tr.metadata.namespace!;
    const generation = tr.metadata.generation ?? 0;
    const ours = (tr.spec.parentRefs ?? []).filter((p) => this.ourGateway(p, ns));
    if (ours.length === 0) return null; // not attached to a Switchyard Gateway: not ours to touch
    const status: PlannedTLSRouteStatus = { kind: 'TLSRoute', namespace: ns, name: tr.metadata.name, uid: tr.metadata.uid, generation, parents: [], hostnames: [], databases: [] };
    const t = this.tenantOf(ns);
    // Backends: every rule's backendRefs, all Services of this tenant.
    let resolved: Resolved;
    if (!('tenant' in t)) resolved = { ok: false, reason: 'RefNotPermitted', message: t.message };
    else resolved = this.backends(tr, ns, t.tenant);
    // A hostname listed twice is one claim (one route), not a conflict with itself.
    const hostnames = [...new Set((tr.spec.hostnames ?? []).map((h) => normalizeHostname(h) ?? h))];
    const badIndex = (tr.spec.hostnames ?? []).findIndex((raw) => {
      const h = normalizeHostname(raw) ?? raw;
      return !(h.startsWith('*.') ? isValidWildcardHostname(h) : isValidHostname(h));
    });
    const badHost = badIndex >= 0 ? `spec.hostnames[${badIndex}]: "${tr.spec.hostnames![badIndex]}"` : null;
    const accepted: boolean[] = [];
    /** Hostnames some accepted parent's listeners admit (a listener's `hostname` narrows them). */
    const routed = new Set<string>();
    /** Per parent: whether its listeners allow the route at all, and their hostnames (what the world admits). */
    const allowedHosts: (string | undefined)[][] = [];
    for (const p of ours) {
      let acc: PlannedCondition;
      // Attachment (Gateway listeners' attachedRoutes) depends only on parentRefs and allowedRoutes.
      const { why, listeners: attachTo, hostnames: listenerHosts } = this.listenersFor(p, ns);
      const matched = hostnames.filter((h) => listenerHosts.some((l) => listenerAdmits(l, h)));
      if (!('tenant' in t)) acc = cond('Accepted', false, t.reason, t.message, generation);
      else if (hostnames.length === 0) acc = cond('Accepted', false, 'UnsupportedValue', 'Switchyard routes by SNI: spec.hostnames must name at least one host', generation);
      else if (badHost) acc = cond('Accepted', false, 'UnsupportedValue', `${badHost} is not a valid host name`, generation);
      else {
        if (why) acc = cond('Accepted', false, 'NotAllowedByListeners', why, generation);
        else if (matched.length === 0) acc = cond('Accepted', false, 'NoMatchingListenerHostname', `No hostname of the route matches a listener hostname (${listenerHosts.filter(Boolean).join(', ')})`, generation);
        // Accepted by the Gateway API's rules even with no backend (ResolvedRefs says why), but
        // then nothing routes: the message must not claim it does.
        else if (!resolved.ok) acc = cond('Accepted', true, 'Accepted', `Attached for ${matched.join(', ')}, but no backend resolves (ResolvedRefs): connections are refused`, generation);
        else acc = cond('Accepted', true, 'Accepted', `Routes ${matched.join(', ')} (passthrough)`, generation);
      }
      accepted.push(acc.status === 'True');
      if (!why) allowedHosts.push(listenerHosts);
      if (acc.status === 'True') for (const h of matched) routed.add(h);
      const refs = !resolved.ok
        ? cond('ResolvedRefs', false, resolved.reason, resolved.message, generation)
        : resolved.problems.length === 0
          ? cond('ResolvedRefs', true, 'ResolvedRefs', `Backends: ${describeEndpoints(resolved.endpoints)}`, generation)
          : cond('ResolvedRefs', false, resolved.problems[0]!.reason, `${resolved.problems.map((x) => x.message).join('; ')}; the other backends are used: ${describeEndpoints(resolved.endpoints)}`, generation);
      const parent = { parentRef: p, conditions: [acc, refs] };
      this.attachments.set(parent, attachTo);
      status.parents.push(parent);
    }
    if (!('tenant' in t)) return status;
    // The Services each route it has was last written with (what a kept route's endpoints follow).
    const recorded = acceptedBackends(tr.metadata.annotations?.[LAST_ACCEPTED_BACKENDS]);
    const keeping = this.tlsRouteKept(tr, t.tenant, status, allowedHosts, recorded);
    // Refused for its own spec by every parent: the routes it has stay (the world permitting).
    if (!accepted.some(Boolean)) {
      const own = status.parents.filter((p) => TLSROUTE_OWN_REFUSALS.has(p.conditions[0]!.reason));
      if (own.length > 0) keeping.keep(claims, own[0]!.conditions[0]!.reason, own[0]!.conditions[0]!.message, own);
      return status;
    }
    if (!resolved.ok) return status;
    status.backends = resolved.used;
    const base = databaseName(ns, tr.metadata.name, hostnames.length > 1 ? 3 : 0);
    // Which hostnames end up routed (and to which database) and which lost a claim, settled
    // once every claim is resolved (run()).
    const routedHere = new Map<string, string>();
    const lostHere: { hostname: string; reason: string; subject: string; what: string }[] = [];
    /** This object's hostname claims; when every one is lost to older claims, the routes it has are kept (fallBack). */
    const mine: Claim[] = [];
    /** Those losses, when they made it fall back to its routes (the parents' Accepted says both). */
    let fellBack: Loss[] | null = null;
    hostnames.forEach((hostname, i) => {
      if (!routed.has(hostname)) return;
      const preferred = hostnames.length > 1 ? `${base}-${i + 1}` : base;
      const claim: Claim = {
        tenant: t.tenant,
        kept: null,
        route: {
          owner: { kind: 'TLSRoute', namespace: ns, name: tr.metadata.name, uid: tr.metadata.uid },
          tenant: t.tenant,
          database: '', // resolved with every other claim (resolve)
          engine: resolved.engine,
          endpoints: resolved.endpoints,
          enabled: true,
          tlsMode: 'passthrough',
          hostname,
          customHostname: true,
          sourceCidrs: [],
          maxConnections: null,
          disableBehavior: 'drain',
          certificateName: null,
          upstreamTls: true,
          upstreamCa: null,
          upstreamServerName: null,
        },
        preferred,
        fallback: fallbackDatabaseName('TLSRoute', ns, tr.metadata.name, preferred, hostnames.length > 1 ? i + 1 : 0),
        hostname,
        created: tr.metadata.creationTimestamp ?? '',
        uid: tr.metadata.uid,
        index: i,
        who: `TLSRoute ${ns}/${tr.metadata.name}`,
        ifRefused: (e) => this.tlsKeptUpstream(tr, e, recorded),
        named: (database) => void routedHere.set(hostname, database),
        lose: (reason, subject, what) => {
          routedHere.delete(hostname);
          lostHere.push({ hostname, reason, subject, what });
        },
        // Every hostname lost to an older claim (HostnameConflict over names it does not have):
        // its own spec's refusal, so the routes it has stay — the first claim brings them, the
        // others simply go. Any other outcome (one hostname routed, another reason) stands.
        fallBack: (_loss, outcome) => {
          const losses = mine.map((c) => outcome.get(c)!);
          if (losses.some((o) => !('reason' in o) || o.reason !== 'HostnameConflict') || !keeping.any()) return null;
          if (claim !== mine[0]) return [];
          fellBack = losses as Loss[];
          return keeping.claims('HostnameConflict', `${fellBack.map((l) => `${l.subject} ${l.what}`).join('; ')} (older claims win)`);
        },
      };
      mine.push(claim);
      claims.push(claim);
    });
    this.settlers.push(() => {
      for (const h of hostnames) {
        const database = routedHere.get(h);
        if (database === undefined) continue;
        status.hostnames.push(h);
        status.databases.push(database);
      }
      if (fellBack) {
        const why = `${fellBack.map((l) => `${l.subject} ${l.what}`).join('; ')} (older claims win)`;
        for (const p of status.parents) {
          if (p.conditions[0]!.status === 'True') p.conditions[0] = cond('Accepted', false, 'HostnameConflict', `${why}${keeping.note()}`, generation);
        }
        return;
      }
      if (lostHere.length === 0) return;
      const lost = lostHere.map((l) => `${l.subject} ${l.what}`).join('; ');
      for (const p of status.parents) {
        if (p.conditions[0]!.status !== 'True') continue;
        p.conditions[0] =
          status.hostnames.length === 0
            ? cond('Accepted', false, lostHere[0]!.reason, `${lost} (older claims win)`, generation)
            : cond('Accepted', true, 'Accepted', `Routes ${status.hostnames.join(', ')}; ${lost}`, generation);
      }
    });
    return status;
  }

  /**
   * Whether a TLSRoute's existing route may be kept, and with which endpoints. With an entry for
   * its hostname in the LAST_ACCEPTED_BACKENDS annotation (`recorded`), the route follows those
   * Services as they are now, resolved as an accepted generation's backendRefs are (resolveRefs:
   * still the tenant's, a ReferenceGrant for another namespace, the port still there): a backend
   * that no longer resolves is left out, and when none does the route goes (a deleted Service is
   * the world's refusal). The API's upstream policy checks the new endpoints when they are
   * written (apply.ts). Without one (a route written before the annotation, or an entry edited
   * into something else), it keeps its endpoints while they are still its tenant's.
   */
  private tlsKeptUpstream(tr: TLSRoute, e: ExistingRoute, recorded: ReadonlyMap<string, AcceptedBackend[]>): KeptUpstream {
    const backends = recorded.get(e.hostname);
    if (!backends) {
      const problem = this.upstreamProblem(e.endpoints, e.tenant);
      return problem ? { problem } : { follow: null };
    }
    const r = this.resolveRefs(backends.map((b) => ({ b })), tr.metadata.namespace!, e.tenant);
    if (!r.ok) return { problem: `the ${backends.length === 1 ? 'Service' : 'Services'} it follows: ${r.message}` };
    return { follow: { service: r.used.map((b) => `${b.namespace}/${b.name}`).join(', '), endpoints: r.endpoints, ready: r.ready } };
  }

  /**
   * The routes a TLSRoute has now (ctx.routes), to keep while it is refused for its own spec
   * (TLSROUTE_OWN_REFUSALS, or every hostname lost to older claims). Each is kept only while the
   * world still admits it — a listener that allows the route (`allowedHosts`: the hostnames of
   * each such parent's listeners) admits its hostname, and its upstream is still its tenant's
   * (tlsKeptUpstream) — and as it is but for its endpoints, which follow the Services its last
   * accepted generation resolved to (`recorded`). `note()` is what the parents' Accepted adds:
   * what keeps serving, and what was removed and why (status.keptNote).
   */
  private tlsRouteKept(tr: TLSRoute, tenant: string, status: PlannedTLSRouteStatus, allowedHosts: (string | undefined)[][], recorded: ReadonlyMap<string, AcceptedBackend[]>) {
    const ns = tr.metadata.namespace!;
    const existing = (this.ctx.routes ?? []).filter((r) => r.ownerUid === tr.metadata.uid && r.tenant === tenant).sort(byHostname);
    const removed: { hostname: string; why: string }[] = [];
    const keepable: { e: ExistingRoute; follow: KeptFollow | null }[] = [];
    for (const e of existing) {
      if (!allowedHosts.some((hosts) => hosts.some((l) => listenerAdmits(l, e.hostname)))) {
        removed.push({ hostname: e.hostname, why: 'no listener that allows the route admits that hostname' });
        continue;
      }
      const up = this.tlsKeptUpstream(tr, e, recorded);
      if ('problem' in up) removed.push({ hostname: e.hostname, why: up.problem });
      else keepable.push({ e, follow: up.follow });
    }
    const keptHere: KeptRoutesNote['kept'] = [];
    const owner: RouteOwnerRef = { kind: 'TLSRoute', namespace: ns, name: tr.metadata.name, uid: tr.metadata.uid };
    const claims = (reason: string, message: string): Claim[] =>
      keepable.map(({ e, follow }, i) => ({
        tenant,
        route: null,
        kept: { owner, tenant, database: e.database, hostname: e.hostname, enabled: true, disableBehavior: 'drain', follow, reason, message },
        preferred: e.database,
        fallback: e.database,
        hostname: e.hostname,
        created: tr.metadata.creationTimestamp ?? '',
        uid: tr.metadata.uid,
        index: i,
        who: `TLSRoute ${ns}/${tr.metadata.name} (its last accepted route, kept while its spec is refused)`,
        ifRefused: () => ({ follow }),
        named: (database) => {
          keptHere.push({ database, hostname: e.hostname, follows: follow?.service ?? null });
          status.kept = [...(status.kept ?? []), database].sort();
        },
        lose: (_reason, subject, what) => void removed.push({ hostname: e.hostname, why: `${subject} is ${what} (older claims win)` }),
      }));
    const note = (): string => {
      const n: KeptRoutesNote = { kept: [...keptHere].sort(byHostname), removed: [...removed] };
      if (n.kept.length + n.removed.length > 0) status.keptNote = n;
      return keptRoutesNote(n);
    };
    return {
      any: () => keepable.length > 0,
      claims,
      note,
      /** Keeps the routes for a refusal the parents' Accepted (`parents`) states; their messages then say what keeps serving. */
      keep: (all: Claim[], reason: string, message: string, parents: PlannedParentStatus[]) => {
        all.push(...claims(reason, message));
        this.settlers.push(() => {
          const n = note();
          if (n) for (const p of parents) p.conditions[0] = { ...p.conditions[0]!, message: `${p.conditions[0]!.message}${n}` };
        });
      },
    };
  }

  /** Whether a parentRef names a Gateway whose class is Switchyard's. */
  private ourGateway(p: ParentRef, routeNs: string): boolean {
    if ((p.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (p.kind ?? 'Gateway') !== 'Gateway') return false;
    const gw = this.gateway(p, routeNs);
    if (!gw) return false;
    const cls = this.input.gatewayClasses.find((c) => c.metadata.name === gw.spec.gatewayClassName);
    return cls?.spec.controllerName === GATEWAY_CONTROLLER_NAME;
  }

  private gateway(p: ParentRef, routeNs: string): Gateway | undefined {
    const ns = p.namespace ?? routeNs;
    return this.input.gateways.find((g) => g.metadata.name === p.name && g.metadata.namespace === ns);
  }

  /**
   * The listeners of the parent Gateway that accept this route (`<ns>/<gateway>/<listener>`),
   * or why none does.
   */
  private listenersFor(p: ParentRef, routeNs: string): { why: string | null; listeners: string[]; hostnames: (string | undefined)[] } {
    const gw = this.gateway(p, routeNs)!;
    const gwNs = gw.metadata.namespace!;
    const listeners = (gw.spec.listeners ?? []).filter((l) => l.protocol === 'TLS' && (!p.sectionName || l.name === p.sectionName) && (!p.port || l.port === p.port));
    if (listeners.length === 0) return { why: `Gateway ${gwNs}/${gw.metadata.name} has no TLS listener${p.sectionName ? ` named ${p.sectionName}` : ''}`, listeners: [], hostnames: [] };
    const ok: string[] = [];
    const hosts: (string | undefined)[] = [];
    for (const l of listeners) {
      if (l.allowedRoutes?.kinds && !l.allowedRoutes.kinds.some((k) => k.kind === 'TLSRoute')) continue;
      // Gateway API default: routes from the Gateway's own namespace only.
      const from = l.allowedRoutes?.namespaces?.from ?? 'Same';
      let allowed = from === 'All' || (from === 'Same' && routeNs === gwNs);
      if (from === 'Selector') {
        const want = l.allowedRoutes?.namespaces?.selector?.matchLabels ?? {};
        const have = this.nsLabels.get(routeNs) ?? {};
        allowed = Object.entries(want).every(([k, v]) => have[k] === v);
      }
      if (allowed) {
        ok.push(`${gwNs}/${gw.metadata.name}/${l.name}`);
        hosts.push(l.hostname ? (normalizeHostname(l.hostname) ?? l.hostname) : undefined);
      }
    }
    return ok.length
      ? { why: null, listeners: ok, hostnames: hosts }
      : { why: `No listener of Gateway ${gwNs}/${gw.metadata.name} allows TLSRoutes from namespace ${routeNs}`, listeners: [], hostnames: [] };
  }

  /**
   * Status of Switchyard's GatewayClasses (Accepted) and Gateways: Accepted and Programmed
   * (the proxies' TLS and PostgreSQL listeners serve every TLS listener; there is nothing to
   * provision), and per listener its supported kinds and the TLSRoutes attached to it.
   */
  private gatewayStatuses(statuses: PlannedStatus[]): PlannedStatus[] {
    const attached = new Map<string, number>();
    for (const s of statuses) {
      if (s.kind !== 'TLSRoute') continue;
      for (const p of s.parents) {
        for (const l of this.attachments.get(p) ?? []) attached.set(l, (attached.get(l) ?? 0) + 1);
      }
    }
    const out: PlannedStatus[] = [];
    const ours = sortObjects(this.input.gatewayClasses).filter((c) => c.spec.controllerName === GATEWAY_CONTROLLER_NAME);
    for (const c of ours) {
      const g = c.metadata.generation ?? 0;
      out.push({ kind: 'GatewayClass', name: c.metadata.name, uid: c.metadata.uid, generation: g, conditions: [cond('Accepted', true, 'Accepted', 'Handled by the Switchyard controller', g)] });
    }
    const classes = new Set(ours.map((c) => c.metadata.name));
    for (const gw of sortObjects(this.input.gateways)) {
      if (!classes.has(gw.spec.gatewayClassName) || gw.metadata.deletionTimestamp) continue;
      const g = gw.metadata.generation ?? 0;
      const key = `${gw.metadata.namespace}/${gw.metadata.name}`;
      const listeners: PlannedListenerStatus[] = (gw.spec.listeners ?? []).map((l) => {
        const tls = l.protocol === 'TLS';
        const why = `Protocol ${l.protocol} is not supported: Switchyard routes TLS by SNI (TLSRoute)`;
        return {
          name: l.name,
          supportedKinds: tls ? [{ group: GATEWAY_GROUP, kind: 'TLSRoute' }] : [],
          attachedRoutes: attached.get(`${key}/${l.name}`) ?? 0,
          conditions: [
            tls ? cond('Accepted', true, 'Accepted', 'TLS passthrough by SNI', g) : cond('Accepted', false, 'UnsupportedProtocol', why, g),
            tls ? cond('Programmed', true, 'Programmed', 'Served by the Switchyard proxies', g) : cond('Programmed', false, 'Invalid', why, g),
            cond('ResolvedRefs', true, 'ResolvedRefs', 'No references to resolve', g),
          ],
        };
      });
      const any = listeners.some((l) => l.supportedKinds.length > 0);
      out.push({
        kind: 'Gateway',
        namespace: gw.metadata.namespace!,
        name: gw.metadata.name,
        uid: gw.metadata.uid,
        generation: g,
        conditions: any
          ? [cond('Accepted', true, 'Accepted', 'Handled by the Switchyard controller', g), cond('Programmed', true, 'Programmed', 'TLS listeners are served by the Switchyard proxies', g)]
          : [cond('Accepted', false, 'ListenersNotValid', 'No TLS listener: Switchyard serves TLSRoutes only', g), cond('Programmed', false, 'Invalid', 'No TLS listener', g)],
        listeners,
      });
    }
    return out;
  }

  /**
   * The endpoints of every backendRef (weight 0 excluded) that resolves. One that does not (its
   * Service missing or without that port, another tenant's namespace, no ReferenceGrant, not a
   * Service) is left out and named in `problems` (ResolvedRefs=False): a Service deleted from a
   * route with several backends must not take the whole route down with it. Only when none
   * resolves is there no route.
   */
  private backends(tr: TLSRoute, ns: string, tenant: string): Resolved {
    const refs = (tr.spec.rules ?? []).flatMap((r, i) => (r.backendRefs ?? []).map((b, j) => ({ b, at: `spec.rules[${i}].backendRefs[${j}]` }))).filter(({ b }) => b.weight !== 0);
    if (refs.length === 0) return { ok: false, reason: 'BackendNotFound', message: 'spec.rules: no backendRefs (with a weight other than 0)' };
    return this.resolveRefs(refs, ns, tenant);
  }

  /**
   * backendRefs of a TLSRoute in namespace `ns` → the endpoints of those that resolve, which
   * ones they are (`used`) and their ready endpoints; `at` names each in problem messages.
   */
  private resolveRefs(refs: { b: BackendRef; at?: string }[], ns: string, tenant: string): Resolved {
    const endpoints: Endpoint[] = [];
    const problems: { reason: string; message: string }[] = [];
    const used: AcceptedBackend[] = [];
    let engine: Engine | null = null;
    let ready = 0;
    for (const { b, at } of refs) {
      const bNs = b.namespace ?? ns;
      const problem = (reason: string, message: string) => void problems.push({ reason, message: at ? `${at}: ${message}` : message });
      if ((b.group ?? '') !== '' || (b.kind ?? 'Service') !== 'Service') {
        problem('InvalidKind', `${b.kind ?? 'Service'} ${b.name}: only core Services are supported`);
        continue;
      }
      if (bNs !== ns && this.tenantOfNs.get(bNs) !== tenant) {
        problem('RefNotPermitted', `Service ${bNs}/${b.name} is not in a namespace of tenant ${tenant}`);
        continue;
      }
      if (bNs !== ns && !this.granted(ns, bNs, b.name)) {
        problem('RefNotPermitted', `Service ${bNs}/${b.name}: no ReferenceGrant in ${bNs} allows TLSRoutes from namespace ${ns}`);
        continue;
      }
      if (b.port === undefined) {
        problem('UnsupportedValue', `Service ${bNs}/${b.name}: port is required`);
        continue;
      }
      const r = this.resolveService(bNs, b.name, b.port, 'endpoints');
      if ('reason' in r) {
        problem('BackendNotFound', r.message);
        continue;
      }
      engine ??= r.engine;
      if (!used.some((u) => u.namespace === bNs && u.name === b.name && u.port === b.port)) {
        used.push({ namespace: bNs, name: b.name, port: b.port });
        ready += r.ready;
      }
      for (const e of r.endpoints) if (!endpoints.some((x) => x.host === e.host && x.port === e.port)) endpoints.push(e);
    }
    if (used.length === 0) return { ok: false, reason: problems[0]!.reason, message: problems.map((p) => p.message).join('; ') };
    // Postgres needs the postgres listener (STARTTLS); everything else is plain TLS passthrough.
    const e: Engine = engine && listenerProtocolFor(engine) === 'postgres' ? 'postgres' : engine && engine !== 'http' ? engine : 'tls';
    return { ok: true, endpoints: endpoints.slice(0, MAX_ENDPOINTS), engine: e, problems, used, ready };
  }

  /** Whether a ReferenceGrant in `toNs` lets TLSRoutes of `fromNs` reference Service `name`. */
  private granted(fromNs: string, toNs: string, name: string): boolean {
    return this.input.referenceGrants.some(
      (g) =>
        g.metadata.namespace === toNs &&
        (g.spec.from ?? []).some((f) => f.group === GATEWAY_GROUP && f.kind === 'TLSRoute' && f.namespace === fromNs) &&
        (g.spec.to ?? []).some((t) => (t.group ?? '') === '' && t.kind === 'Service' && (!t.name || t.name === name)),
    );
  }

  /**
   * A Service port → the upstream: the ready addresses from its EndpointSlices (mode
   * `endpoints`), or the Service's cluster DNS name (mode `service`, or when nothing is
   * ready, so the route exists and Ready says why).
   */
  private resolveService(
    ns: string,
    name: string,
    port: number | string,
    mode: 'endpoints' | 'service',
  ): { endpoints: Endpoint[]; ready: number; engine: Engine | null } | { reason: string; field: 'name' | 'port'; message: string } {
    const svc = this.services.get(`${ns}/${name}`);
    if (!svc) return { reason: 'ServiceNotFound', field: 'name', message: `Service ${ns}/${name} not found` };
    // Digits in a string ("5432": templating tools quote values) are the port number: a port
    // name always holds a letter (IANA_SVC_NAME), so nothing else could be meant.
    const want = typeof port === 'string' && /^[0-9]+$/.test(port) ? Number(port) : port;
    const ports = svc.spec?.ports ?? [];
    const sp = ports.find((p) => (typeof want === 'number' ? p.port === want : p.name === want));
    if (!sp) {
      const has = ports.map((p) => (p.name ? `${p.name}/${p.port}` : String(p.port))).join(', ') || 'none';
      return { reason: 'ServiceNotFound', field: 'port', message: `Service ${ns}/${name} has no port ${typeof want === 'number' ? want : `named ${want}`} (its ports: ${has})` };
    }
    const guess = inferEngine(svc);
    const ready = this.readyEndpoints(ns, name, sp.name ?? '');
    const dns = [{ host: `${name}.${ns}.svc.${this.ctx.clusterDomain}`, port: sp.port }];
    if (mode === 'service') return { endpoints: dns, ready: ready.length, engine: guess?.engine ?? null };
    return { endpoints: ready.length > 0 ? ready.slice(0, MAX_ENDPOINTS) : dns, ready: ready.length, engine: guess?.engine ?? null };
  }

  /** Ready addresses (ready unset counts as ready, as the API documents) on the named port. */
  private readyEndpoints(ns: string, svc: string, portName: string): Endpoint[] {
    const out: Endpoint[] = [];
    for (const sl of this.slicesBySvc.get(`${ns}/${svc}`) ?? []) {
      if (sl.addressType && sl.addressType !== 'IPv4' && sl.addressType !== 'IPv6') continue;
      const p = (sl.ports ?? []).find((x) => (x.name ?? '') === portName);
      if (!p?.port) continue;
      for (const e of sl.endpoints ?? []) {
        if (e.conditions?.ready === false) continue;
        for (const a of e.addresses) if (!out.some((o) => o.host === a && o.port === p.port)) out.push({ host: a, port: p.port });
      }
    }
    return out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
  }

  private discover(): DiscoveredService[] {
    const out: DiscoveredService[] = [];
    for (const svc of sortObjects(this.input.services)) {
      const ns = svc.metadata.namespace!;
      const tenant = this.tenantOfNs.get(ns);
      if (!tenant || !this.ctx.tenants.has(tenant)) continue;
      const g = inferEngine(svc);
      if (!g) continue;
      const sp = (svc.spec?.ports ?? []).find((p) => p.port === g.port)!;
      out.push({
        tenant,
        namespace: ns,
        name: svc.metadata.name,
        engine: g.engine,
        engineReason: g.reason,
        role: g.role,
        host: `${svc.metadata.name}.${ns}.svc.${this.ctx.clusterDomain}`,
        port: g.port,
        ports: (svc.spec?.ports ?? []).map((p) => ({ name: p.name ?? null, port: p.port, protocol: p.protocol ?? 'TCP' })),
        readyEndpoints: this.readyEndpoints(ns, svc.metadata.name, sp.name ?? '').slice(0, MAX_ENDPOINTS),
      });
    }
    return out;
  }
}

/**
 * Whether a listener's `hostname` admits a route hostname (Gateway API): no hostname admits
 * all; `*.example.com` admits names (and wildcards) below example.com; an exact one only
 * itself. A wildcard route hostname under an exact listener hostname is not narrowed to it
 * (the spec would route just that name): it is simply not admitted.
 */
export function listenerAdmits(listener: string | undefined, route: string): boolean {
  if (!listener || listener === route) return true;
  return listener.startsWith('*.') && route.endsWith(listener.slice(1)) && route.length > listener.length - 1;
}

/** Condition reason of an ExternalAccess whose spec.upstreamCa is not PEM certificates (the translator's check, or the API's SY_UPSTREAM_CA_INVALID). */
export const UPSTREAM_CA_INVALID = 'UpstreamCaInvalid';

/** Results of upstreamCaProblem by value: the same CA is checked on every reconcile. */
const caChecks = new Map<string, string | null>();

/**
 * Why spec.upstreamCa is not one or more PEM certificates, or null when it is: at least one
 * `CERTIFICATE` block, each a parsable X.509 certificate, and no private key (a whole Secret
 * pasted by mistake: the CA is stored on the route and shown to the tenant). The message never
 * quotes the value. Deterministic, so the translator stays pure.
 */
export function upstreamCaProblem(pem: string): string | null {
  if (typeof pem !== 'string') return 'must be a string of PEM certificates';
  if (pem.length > MAX_UPSTREAM_CA) return `is longer than ${MAX_UPSTREAM_CA} characters`;
  const known = caChecks.get(pem);
  if (known !== undefined) return known;
  const problem = caBundleProblem(pem);
  if (caChecks.size >= 256) caChecks.clear();
  caChecks.set(pem, problem);
  return problem;
}

function cond(type: string, ok: boolean, reason: string, message: string, observedGeneration: number): PlannedCondition {
  return { type, status: ok ? 'True' : 'False', reason, message, observedGeneration };
}

function describeEndpoints(e: Endpoint[]): string {
  const shown = e.slice(0, 3).map((x) => `${x.host}:${x.port}`);
  return e.length > 3 ? `${shown.join(', ')} and ${e.length - 3} more` : shown.join(', ');
}

function sortObjects<T extends KubeObject>(list: T[]): T[] {
  return [...list].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
}

/**
 * The database name of an object that cannot have its preferred one (another object has it:
 * `a-b`/`c` and `a`/`b-c` both prefer `a-b-c`): the preferred name, shortened if needed, and
 * a hash of the object's kind, namespace, name and hostname index — distinct for distinct
 * objects, stable across restarts, and still readable (`a-b-c-6769b3eb`). At most 40
 * characters, one DNS label, like every database name (the API's Slug).
 */
export function fallbackDatabaseName(kind: string, ns: string, name: string, preferred: string, index = 0): string {
  const hash = createHash('sha256').update(`${kind}/${ns}/${name}${index ? `#${index}` : ''}`).digest('hex').slice(0, 8);
  const head = preferred.slice(0, MAX_DATABASE_NAME - 9).replace(/-+$/, '');
  return `${head}-${hash}`;
}

/**
 * The database a Kubernetes object's route belongs to: `<namespace>-<name>`, or when that is
 * not a valid database name (at most 40 characters, one DNS label), a shortened one with a
 * hash of both. Not injective (`a-b`/`c` and `a`/`b-c`): it is the name each object
 * *prefers*, kept as it always was so routes made by earlier versions keep their names; the
 * translator gives colliding objects their fallbackDatabaseName.
 */
export function databaseName(ns: string, name: string, reserve = 0): string {
  const plain = `${ns}-${name}`.toLowerCase();
  if (plain.length <= MAX_DATABASE_NAME - reserve && /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(plain)) return plain;
  const hash = createHash('sha256').update(`${ns}/${name}`).digest('hex').slice(0, 8);
  const head = plain.replace(/[^a-z0-9-]/g, '-').slice(0, MAX_DATABASE_NAME - reserve - 9).replace(/-+$/, '');
  return `${head}-${hash}`;
}
