/**
 * Control orders (terminate a connection) for this proxy, from two paths:
 *  - NOTIFY on the control channel, as the API commits an order (the fast path);
 *  - `control_orders`, read every time the LISTEN connection is (re)established: an order
 *    committed while it was down was NOTIFYed to nobody (core/control.ts).
 * Each order is applied once, whichever path brings it first (by its row id). The read runs
 * on the control pool after LISTEN succeeded, so an order committed after the read is
 * NOTIFYed to the live connection and none falls between the two. Nothing here is on the
 * hot path: applying an order only signals the connection (or the worker holding it).
 */
import { ORDER_TTL_MS, orderFromRow, PENDING_ORDERS_SQL, type ControlOrder, type PendingOrderRow } from '@switchyard/core';
import type pg from 'pg';
import type { Logger } from 'pino';

export interface ControlOrdersOptions {
  proxyId: string;
  /** This process's start as its heartbeat row records it: orders for a predecessor are ignored. */
  startedAt: Date;
  pool: Pick<pg.Pool, 'query'>;
  log: Logger;
  /** Carries the order out (closes the connection, or forwards it to its worker). */
  apply: (order: ControlOrder, via: 'notify' | 'catch-up') => void;
}

export class ControlOrders {
  /** Order ids applied, with when they may be forgotten (after they expired in the table). */
  private readonly applied = new Map<string, number>();
  private reading: Promise<void> | null = null;
  private readAgain = false;

  constructor(private readonly opts: ControlOrdersOptions) {}

  /** An order from NOTIFY. */
  receive(order: ControlOrder): void {
    if (order.proxyId !== this.opts.proxyId) return;
    this.once(order, 'notify');
  }

  /**
   * Reads and applies this proxy's pending orders; call after LISTEN is (re)established.
   * Coalesces with a read in flight (one more read follows it). Never throws: a failed read
   * is logged, and the next reconnect reads again.
   */
  catchUp(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = this.read().finally(() => {
      this.reading = null;
      if (this.readAgain) {
        this.readAgain = false;
        void this.catchUp();
      }
    });
    return this.reading;
  }

  private async read(): Promise<void> {
    try {
      const { rows } = await this.opts.pool.query<PendingOrderRow>(PENDING_ORDERS_SQL, [this.opts.proxyId]);
      for (const r of rows) {
        const order = orderFromRow(r);
        if (order) this.once(order, 'catch-up');
      }
      this.opts.log.info({ pending: rows.length }, 'pending control orders read');
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'could not read pending control orders');
    }
  }

  private once(order: ControlOrder, via: 'notify' | 'catch-up'): void {
    // Connection ids restart with the process: an order for a predecessor names nothing here.
    if (order.proxyStartedAt !== undefined && order.proxyStartedAt !== this.opts.startedAt.getTime()) return;
    const now = Date.now();
    if (order.orderId !== undefined) {
      if (this.applied.has(order.orderId)) return;
      // Forgotten only after the order can no longer be read back (expired, with margin).
      this.applied.set(order.orderId, now + 2 * ORDER_TTL_MS);
      for (const [id, until] of this.applied) if (until < now) this.applied.delete(id);
    }
    this.opts.apply(order, via);
  }
}
