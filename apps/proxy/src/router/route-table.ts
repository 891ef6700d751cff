/**
 * The route table the hot path reads: immutable from the reader's point of view, built and
 * derived off the hot path, swapped in with one assignment. A connection keeps the
 * `RouteEntry` it matched for its whole life, so later changes never touch it.
 *
 * Deltas must stay cheap with 100,000 routes, so a table is a large shared *base* plus a
 * small *overlay* of changes since the base was built (null = deleted). Deriving a table
 * copies only the overlay; once the overlay grows past a fraction of the base it is folded
 * into a new base (amortised O(1) per changed route). Neither base nor overlay maps are ever
 * mutated after the table that owns them is published.
 */
import { isIpLiteral, normalizeHostname, parseCidr, type Cidr, type RouteRecord } from '@switchyard/core';

export interface RouteEntry extends RouteRecord {
  /** Parsed `sourceCidrs`; empty means any source. */
  readonly allowedSources: readonly Cidr[];
}

const NO_CIDRS: readonly Cidr[] = Object.freeze([]);
/** Most routes allow any source: one empty list for all of them, not one per row (frozen: nothing writes to it). */
export const NO_SOURCES = Object.freeze([]) as unknown as string[];

/** Every key of a route entry, optional ones included: `compileRoute` must name each. */
type AllFields<T> = { [K in keyof Required<T>]: T[K] };

/**
 * One copy of each short value many routes repeat (listener, TLS mode, engine, balance policy,
 * disable behaviour, tenant id and slug): the database driver — and, in cluster mode, each worker's
 * IPC decoder — makes a new string per row, ~100 bytes a route held by every table (and
 * every worker) for nothing (docs/performance.md "Route table memory"). Bounded: once full,
 * values pass through as they are. `cluster/messages.ts` decodes a worker's entries with it too.
 */
const INTERNED = new Map<string, string>();
const INTERN_MAX = 4096;

export function intern<T extends string | undefined>(s: T): T {
  if (s === undefined) return s;
  const known = INTERNED.get(s);
  if (known !== undefined) return known as T;
  if (INTERNED.size < INTERN_MAX) INTERNED.set(s, s);
  return s;
}

/**
 * One object literal naming every field, not `{ ...record, allowedSources }`: with 100,000
 * routes the spread (V8's generic clone of a 26-field object plus a new property) cost
 * ~300–450 ms of a table build, the literal ~10–40 ms (`npm run bench:cold-start`).
 */
export function compileRoute(r: RouteRecord): RouteEntry {
  const allowedSources = compileSources(r.sourceCidrs);
  const e: AllFields<RouteEntry> = {
    id: r.id,
    hostname: r.hostname,
    listener: intern(r.listener),
    tlsMode: intern(r.tlsMode),
    enabled: r.enabled,
    disableBehavior: intern(r.disableBehavior),
    sourceCidrs: r.sourceCidrs.length === 0 ? NO_SOURCES : r.sourceCidrs,
    maxConnections: r.maxConnections,
    version: r.version,
    tenantId: intern(r.tenantId),
    tenantMaxConnections: r.tenantMaxConnections,
    tenantSlug: intern(r.tenantSlug),
    databaseId: r.databaseId,
    databaseName: r.databaseName,
    engine: intern(r.engine),
    endpoints: r.endpoints,
    balance: intern(r.balance),
    healthCheck: r.healthCheck,
    proxyProtocol: r.proxyProtocol,
    dedicatedPort: r.dedicatedPort,
    destination: r.destination,
    sourceAddress: r.sourceAddress,
    certificate: r.certificate,
    upstreamTls: r.upstreamTls,
    acmeChallenge: r.acmeChallenge,
    upstreamCa: r.upstreamCa,
    upstreamServerName: r.upstreamServerName,
    allowedSources,
  };
  return e;
}

/** A route's `allowedSources`: its parsed `sourceCidrs` (unparsable ones dropped). */
export function compileSources(sourceCidrs: readonly string[]): readonly Cidr[] {
  return sourceCidrs.length === 0 ? NO_CIDRS : sourceCidrs.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== null);
}

/** Normalises an SNI value for lookup; IP literals and empty names count as no name. */
export function normalizeServerName(serverName: string | null): string | null {
  if (serverName === null) return null;
  const h = normalizeHostname(serverName);
  if (h === null || isIpLiteral(h)) return null;
  return h;
}

type Layer<K, V> = { base: ReadonlyMap<K, V>; overlay: ReadonlyMap<K, V | null> };

function get<K, V>(layer: Layer<K, V>, key: K): V | undefined {
  const o = layer.overlay.get(key);
  if (o !== undefined) return o ?? undefined;
  return layer.base.get(key);
}

/** Index of one listener: host names (exact and `*.` wildcards) and `@address:port` destinations. */
type HostLayer = Layer<string, RouteEntry>;

const EMPTY_OVERLAY: ReadonlyMap<never, never> = new Map<never, never>();

/** Pseudo-listener indexing routes by dedicated port (keys are the port as text). */
const DEDICATED = '#dedicated';

/** Every (listener, key) under which a route is found. */
function keysOf(e: RouteRecord): Array<[string, string]> {
  const keys: Array<[string, string]> = [[e.listener, e.hostname]];
  if (e.destination) keys.push([e.listener, `@${e.destination}`]);
  if (e.dedicatedPort !== null && e.dedicatedPort !== undefined) keys.push([DEDICATED, String(e.dedicatedPort)]);
  return keys;
}

export class RouteTable {
  private constructor(
    readonly version: number,
    private readonly hosts: ReadonlyMap<string, HostLayer>,
    private readonly ids: Layer<string, RouteEntry>,
    readonly size: number,
  ) {}

  static empty(): RouteTable {
    return RouteTable.build(0, []);
  }

  static build(version: number, records: Iterable<RouteRecord>): RouteTable {
    const b = RouteTable.builder();
    b.add(records);
    return b.build(version);
  }

  /**
   * Builds a table from records given in parts (a cluster worker compiles each part of a
   * snapshot as it arrives); `build` may be called once.
   */
  static builder(): { add(records: Iterable<RouteRecord>): void; addEntries(entries: Iterable<RouteEntry>): void; readonly size: number; build(version: number): RouteTable } {
    const byListener = new Map<string, Map<string, RouteEntry>>();
    const byId = new Map<string, RouteEntry>();
    const index = (listener: string) => {
      let m = byListener.get(listener);
      if (!m) byListener.set(listener, (m = new Map()));
      return m;
    };
    // The keys of `keysOf`, without its arrays: this loop runs once per route of a snapshot.
    let last: { listener: string; map: Map<string, RouteEntry> } | null = null;
    const put = (e: RouteEntry) => {
      if (last?.listener !== e.listener) last = { listener: e.listener, map: index(e.listener) };
      last.map.set(e.hostname, e);
      if (e.destination) last.map.set(`@${e.destination}`, e);
      if (e.dedicatedPort !== null && e.dedicatedPort !== undefined) index(DEDICATED).set(String(e.dedicatedPort), e);
      byId.set(e.id, e);
    };
    return {
      add(records) {
        for (const r of records) put(compileRoute(r));
      },
      /** Entries compiled already (`compileRoute`, or a decoder that builds entries directly). */
      addEntries(entries) {
        for (const e of entries) put(e);
      },
      get size() {
        return byId.size;
      },
      build(version) {
        const hosts = new Map<string, HostLayer>();
        for (const [l, m] of byListener) hosts.set(l, { base: m, overlay: EMPTY_OVERLAY });
        return new RouteTable(version, hosts, { base: byId, overlay: EMPTY_OVERLAY }, byId.size);
      },
    };
  }

  /**
   * The route for a normalised host name on a listener: the exact name if one exists, else
   * the most specific wildcard (`*.b.c.d`, then `*.c.d`, …). A handful of map lookups,
   * whatever the table size.
   */
  match(listener: string, hostname: string): RouteEntry | undefined {
    const layer = this.hosts.get(listener);
    if (!layer) return undefined;
    const exact = get(layer, hostname);
    if (exact) return exact;
    for (let dot = hostname.indexOf('.'); dot >= 0 && dot < hostname.length - 1; dot = hostname.indexOf('.', dot + 1)) {
      const w = get(layer, `*${hostname.slice(dot)}`);
      if (w) return w;
    }
    return undefined;
  }

  /** The route a `destination` listener serves for a canonical `address:port`. */
  matchDestination(listener: string, destination: string): RouteEntry | undefined {
    const layer = this.hosts.get(listener);
    return layer ? get(layer, `@${destination}`) : undefined;
  }

  /** The route owning a dedicated port. */
  matchDedicated(port: number): RouteEntry | undefined {
    const layer = this.hosts.get(DEDICATED);
    return layer ? get(layer, String(port)) : undefined;
  }

  get(routeId: string): RouteEntry | undefined {
    return get(this.ids, routeId);
  }

  /**
   * The route holding a pending ACME challenge for an exact host name, on whichever listener
   * it is served (the CA validates on the shared TLS or HTTP port, not the route's own
   * listener). A lookup per listener; called only for `acme-tls/1` hellos and
   * `/.well-known/acme-challenge/` requests.
   */
  challengeFor(hostname: string): RouteEntry | undefined {
    for (const [listener, layer] of this.hosts) {
      if (listener === DEDICATED) continue;
      const r = get(layer, hostname);
      if (r?.acmeChallenge && r.hostname === hostname) return r;
    }
    return undefined;
  }

  *routes(): IterableIterator<RouteEntry> {
    for (const e of this.ids.overlay.values()) if (e) yield e;
    for (const [id, e] of this.ids.base) if (!this.ids.overlay.has(id)) yield e;
  }

  /**
   * A new table with `upserts` replacing routes of the same id (a route whose hostname or
   * listener changed is re-keyed) and `deletes` removed. This table is left untouched.
   */
  withChanges(version: number, upserts: readonly RouteRecord[], deletes: readonly string[]): RouteTable {
    const idOverlay = new Map(this.ids.overlay);
    const hostOverlays = new Map<string, Map<string, RouteEntry | null>>();
    const hostOverlay = (listener: string) => {
      let m = hostOverlays.get(listener);
      if (!m) hostOverlays.set(listener, (m = new Map(this.hosts.get(listener)?.overlay ?? EMPTY_OVERLAY)));
      return m;
    };
    let size = this.size;
    const current = (id: string) => {
      const o = idOverlay.get(id);
      return o !== undefined ? (o ?? undefined) : this.ids.base.get(id);
    };
    const drop = (id: string) => {
      const old = current(id);
      if (!old) return;
      idOverlay.set(id, null);
      size--;
      for (const [listener, key] of keysOf(old)) {
        const keys = hostOverlay(listener);
        const holder = keys.has(key) ? keys.get(key) : this.hosts.get(listener)?.base.get(key);
        // Only remove the key if it still points at this route (another may have taken it).
        if (holder?.id === id) keys.set(key, null);
      }
    };
    for (const id of deletes) drop(id);
    for (const r of upserts) {
      drop(r.id);
      const e = compileRoute(r);
      idOverlay.set(e.id, e);
      for (const [listener, key] of keysOf(e)) hostOverlay(listener).set(key, e);
      size++;
    }
    const hosts = new Map(this.hosts);
    for (const [l, overlay] of hostOverlays) {
      const base = this.hosts.get(l)?.base ?? EMPTY_OVERLAY;
      hosts.set(l, overlay.size > Math.max(256, base.size / 16) ? fold(base, overlay) : { base, overlay });
    }
    const ids = idOverlay.size > Math.max(256, this.ids.base.size / 16) ? fold(this.ids.base, idOverlay) : { base: this.ids.base, overlay: idOverlay };
    return new RouteTable(version, hosts, ids, size);
  }
}

/** A route a table change touched: its entry before and after (undefined: absent). */
export interface TouchedRoute {
  id: string;
  before: RouteEntry | undefined;
  after: RouteEntry | undefined;
}

/**
 * The routes a table change touched (`changedIds`, taking `previous` to `table`), each looked up once for every consumer of the change (the
 * TLS contexts, dedicated ports, health checks, closing disabled routes). A first table
 * needs no lookup at all: every route in it is new, so its routes are walked instead —
 * 100,000 lookups by id cost a cold start ~0.1 s per pass.
 */
export function touchedRoutes(table: RouteTable, previous: RouteTable | null, changedIds: readonly string[]): TouchedRoute[] {
  if (!previous) {
    const out: TouchedRoute[] = [];
    for (const e of table.routes()) out.push({ id: e.id, before: undefined, after: e });
    return out;
  }
  return changedIds.map((id) => ({ id, before: previous.get(id), after: table.get(id) }));
}

/** Merges an overlay into a fresh base map (the old base stays intact for older tables). */
function fold<K, V>(base: ReadonlyMap<K, V>, overlay: ReadonlyMap<K, V | null>): Layer<K, V> {
  const merged = new Map(base);
  for (const [k, v] of overlay) {
    if (v === null) merged.delete(k);
    else merged.set(k, v);
  }
  return { base: merged, overlay: EMPTY_OVERLAY };
}
