/**
 * Live connections per route, for per-route limits and for closing a route's connections
 * when it is disabled with `close`. Entries are added when a connection is routed and
 * removed when it ends.
 */
export interface Closable {
  closeForRoute(): void;
}

export class ConnectionRegistry {
  private readonly byRoute = new Map<string, Set<Closable>>();
  private total = 0;

  add(routeId: string, conn: Closable): void {
    let set = this.byRoute.get(routeId);
    if (!set) {
      set = new Set();
      this.byRoute.set(routeId, set);
    }
    set.add(conn);
    this.total++;
  }

  remove(routeId: string, conn: Closable): void {
    const set = this.byRoute.get(routeId);
    if (set?.delete(conn)) {
      this.total--;
      if (set.size === 0) this.byRoute.delete(routeId);
    }
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
}
