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
  /** Per route: its open connections and their ids (no side table: one map write per add). */
  private readonly byRoute = new Map<string, Map<Closable, string>>();
  /** Insertion order is age order: the newest are at the end. */
  private readonly byId = new Map<string, Closable>();
  private seq = 0;
  private total = 0;
  private listeners: Array<() => void> = [];
  private readonly prefix: string;

  /** `worker`: the cluster worker id (0 in a single process), the id's prefix. */
  constructor(worker = 0) {
    this.prefix = `${worker}.`;
  }

  /** Registers a routed connection; returns its id. */
  add(routeId: string, conn: Closable): string {
    let conns = this.byRoute.get(routeId);
    if (!conns) {
      conns = new Map();
      this.byRoute.set(routeId, conns);
    }
    let id = conns.get(conn);
    if (id === undefined) {
      id = this.prefix + ++this.seq;
      conns.set(conn, id);
      this.total++;
      this.byId.set(id, conn);
      this.changed();
    }
    return id;
  }

  remove(routeId: string, conn: Closable): void {
    const conns = this.byRoute.get(routeId);
    const id = conns?.get(conn);
    if (id === undefined) return;
    conns!.delete(conn);
    this.total--;
    if (conns!.size === 0) this.byRoute.delete(routeId);
    this.byId.delete(id);
    this.changed();
  }

  /** The id a routed connection was given (undefined before `add`, or once removed). */
  idOf(conn: Closable): string | undefined {
    for (const conns of this.byRoute.values()) {
      const id = conns.get(conn);
      if (id !== undefined) return id;
    }
    return undefined;
  }

  count(routeId: string): number {
    return this.byRoute.get(routeId)?.size ?? 0;
  }

  get size(): number {
    return this.total;
  }

  /** Ends every connection of a route; returns how many. */
  closeRoute(routeId: string): number {
    const open = this.byRoute.get(routeId);
    if (!open) return 0;
    const conns = [...open.keys()];
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
