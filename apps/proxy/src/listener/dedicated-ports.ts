/**
 * Dedicated ports: a route with `dedicatedPort` gets its own listener, for clients that
 * cannot send SNI (old drivers, IP-only connection strings). Listeners open and close as
 * routes change, off the hot path, without touching any other listener or connection:
 * closing one stops accepting and leaves its open connections alone (like `drain`; routes
 * disabled with `close` are ended by the registry as everywhere else).
 *
 * Only ports in `SWITCHYARD_DEDICATED_PORTS` are ever bound, so a bad row cannot make the
 * proxy take over another service's port.
 */
import type { Logger } from 'pino';
import type { RouteTable, TouchedRoute } from '../router/route-table.js';
import type { ListenerContext } from './context.js';
import { ProxyListener } from './listener.js';

export class DedicatedPorts {
  private readonly open = new Map<number, ProxyListener>();
  private readonly pending = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly pool: ReadonlySet<number>,
    private readonly contextFor: (port: number) => ListenerContext,
    private readonly log: Logger,
  ) {}

  /** Ports with an open listener. */
  ports(): number[] {
    return [...this.open.keys()].sort((a, b) => a - b);
  }

  /** Applies a table change: opens ports new routes need, closes ports nobody owns now. */
  sync(table: RouteTable, touched: readonly TouchedRoute[]): void {
    if (this.stopped) return;
    for (const r of touched) {
      const before = r.before?.dedicatedPort ?? null;
      const after = r.after?.dedicatedPort ?? null;
      if (before !== null && before !== after && !table.matchDedicated(before)) this.close(before);
      if (after !== null && !this.open.has(after)) this.openPort(after);
    }
  }

  /** Resolves once every open/close in flight has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Stops accepting on every dedicated port (open connections are the drain's business). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.settled();
    for (const port of [...this.open.keys()]) this.close(port);
  }

  private openPort(port: number): void {
    if (!this.pool.has(port)) {
      this.log.warn({ port }, 'route asks for a dedicated port outside SWITCHYARD_DEDICATED_PORTS; not binding it');
      return;
    }
    const listener = new ProxyListener(this.contextFor(port));
    this.open.set(port, listener);
    this.track(
      listener.listen().then(
        () => this.log.info({ port }, 'dedicated port listening'),
        (err: Error) => {
          if (this.open.get(port) === listener) this.open.delete(port);
          this.log.error({ port, err: err.message }, 'cannot bind dedicated port');
        },
      ),
    );
  }

  private close(port: number): void {
    const l = this.open.get(port);
    if (!l) return;
    this.open.delete(port);
    // The server stops accepting at once; its promise resolves only when its last open
    // connection ends, which nobody needs to wait for.
    void l.close();
    this.log.info({ port }, 'dedicated port closed');
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
