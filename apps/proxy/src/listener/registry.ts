/**
 * Live connections per route, for per-route limits, for closing a route's connections when
 * it is disabled with `close`, and for the live view and terminate of the API. Entries are
 * added when a connection is routed and removed when it ends. Each entry gets an id unique
 * within this proxy (`<worker>.<seq>`): the heartbeat reports the open ones, the connection
 * event carries it, and a terminate order names it.
 */
import type { OpenConnectionInfo } from '@switchyard/core';

export interface Closable {
  closeForRoute(): void;
  /** Closes the connection because someone ended it through the API (`by` names them). */
  terminateOnOrder?(by: string): void;
  /** What the live view shows; absent for test doubles. */
  describe?(): OpenConnectionInfo | undefined;
}

/** A routed connection that is still open, as the heartbeat reports it. */
export type { OpenConnectionInfo };

export class ConnectionRegistry {
  private readonly byRoute = new Map<string, Set<Closable>>();
  /** Insertion order is age order: the newest are at the end. */
  private readonly byId = new Map<string, Closable>();
  private readonly ids = new WeakMap<Closable, string>();
  private seq = 0;
  private total = 0;
  private listeners: Array<() => void> = [];

  /** `worker`: the cluster worker id (0 in a single process), the id's prefix. */
  constructor(private readonly worker = 0) {}

  /** Registers a routed connection; returns its id. */
  add(routeId: string, conn: Closable): string {
    let set = this.byRoute.get(routeId);
    if (!set) {
      set = new Set();
      this.byRoute.set(routeId, set);
    }
    let id = this.ids.get(conn);
    if (!set.has(conn)) {
      set.add(conn);
      this.total++;
      id = `${this.worker}.${++this.seq}`;
      this.ids.set(conn, id);
      this.byId.set(id, conn);
      this.changed();
    }
    return id!;
  }

  remove(routeId: string, conn: Closable): void {
    const set = this.byRoute.get(routeId);
    if (set?.delete(conn)) {
      this.total--;
      if (set.size === 0) this.byRoute.delete(routeId);
      const id = this.ids.get(conn);
      if (id) this.byId.delete(id);
      this.changed();
    }
  }

  /** The id a routed connection was given (undefined before `add`). */
  idOf(conn: Closable): string | undefined {
    return this.ids.get(conn);
  }

  count(routeId: string): number {
    return this.byRoute.get(routeId)?.size ?? 0;
  }

  get size(): number {
    return this.total;
  }

  /** Ends every connection of a route; returns how many. */
  closeRoute(routeId: string): number {
    const set = this.byRoute.get(routeId);
    if (!set) return 0;
    const conns = [...set];
    for (const c of conns) c.closeForRoute();
    return conns.length;
  }

  /** Ends one connection on someone's order; false when no such connection is open here. */
  terminate(id: string, by: string): boolean {
    const conn = this.byId.get(id);
    if (!conn?.terminateOnOrder) return false;
    conn.terminateOnOrder(by);
    return true;
  }

  /** The newest `max` open connections, newest first. */
  snapshot(max: number): OpenConnectionInfo[] {
    const out: OpenConnectionInfo[] = [];
    const all = [...this.byId.values()];
    for (let i = all.length - 1; i >= 0 && out.length < max; i--) {
      const info = all[i]!.describe?.();
      if (info) out.push(info);
    }
    return out;
  }

  /** Called (synchronously) after every add or remove; keep it cheap. */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }
}
