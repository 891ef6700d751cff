/**
 * Orders from the API to the proxies, sent with NOTIFY on `CONTROL_CHANNEL` (which every
 * proxy LISTENs on next to `CONFIG_CHANNEL`). An order names the proxy it is for; every
 * other proxy ignores it. NOTIFY payloads are limited to 8000 bytes, so orders are small.
 *
 * NOTIFY is the fast path only: a proxy that was not listening when an order was sent (its
 * LISTEN connection was reconnecting) would never see it. So the API also keeps each order
 * in `control_orders` for ORDER_TTL_MS, and a proxy reads its pending orders
 * (PENDING_ORDERS_SQL) every time its LISTEN connection is (re)established. Both paths carry
 * the row's id (`orderId`), so a proxy applies each order once.
 */

/**
 * How long an order stays pending. A proxy reconnects its LISTEN connection within seconds
 * (capped backoff, 5 s); a connection still open after this got its order on reconnect, or
 * its proxy is gone (and the connection with it).
 */
export const ORDER_TTL_MS = 60_000;

/** A proxy's pending orders ($1: its id), oldest first. */
export const PENDING_ORDERS_SQL = `
  SELECT id::text AS order_id, op, proxy_id, connection_id, ended_by,
         (extract(epoch FROM proxy_started_at) * 1000)::int8::text AS proxy_started_at
    FROM control_orders
   WHERE proxy_id = $1 AND expires_at > now()
   ORDER BY id`;

export interface PendingOrderRow {
  order_id: string;
  op: string;
  proxy_id: string;
  connection_id: string;
  ended_by: string;
  proxy_started_at: string;
}

/** A row of PENDING_ORDERS_SQL as an order (null for anything malformed). */
export function orderFromRow(r: PendingOrderRow): ControlOrder | null {
  return parseControlOrder(
    JSON.stringify({ op: r.op, proxyId: r.proxy_id, connectionId: r.connection_id, by: r.ended_by, orderId: r.order_id, proxyStartedAt: Number(r.proxy_started_at) }),
  );
}

/** NOTIFY channel carrying control orders (JSON, `ControlOrder`). */
export const CONTROL_CHANNEL = 'switchyard_control';

/** A routed connection's id within a proxy: `<worker>.<seq>` (worker 0: single process). */
export const CONNECTION_ID_PATTERN = /^(\d{1,3})\.(\d{1,15})$/;

export interface TerminateOrder {
  op: 'terminate';
  proxyId: string;
  connectionId: string;
  /** Who ordered it, as the connection event records it (`user:<email>`, `token:<name>`, `admin`). */
  by: string;
  /** The order's row in `control_orders` (absent in orders from before it existed). */
  orderId?: string;
  /**
   * The proxy process the order is for (its heartbeat row's `started_at`, epoch ms).
   * Connection ids restart with a process, so an order for a restarted proxy names nothing.
   */
  proxyStartedAt?: number;
}

export type ControlOrder = TerminateOrder;

/** The worker that holds a connection (its id's prefix); null for a malformed id. */
export function workerOfConnection(connectionId: string): number | null {
  const m = CONNECTION_ID_PATTERN.exec(connectionId);
  return m ? Number(m[1]) : null;
}

/** A NOTIFY payload as an order; null for anything else (ignored, never thrown). */
export function parseControlOrder(payload: string): ControlOrder | null {
  if (payload.length > 8000) return null;
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.op !== 'terminate') return null;
  if (typeof o.proxyId !== 'string' || o.proxyId.length === 0 || o.proxyId.length > 200) return null;
  if (typeof o.connectionId !== 'string' || !CONNECTION_ID_PATTERN.test(o.connectionId)) return null;
  if (typeof o.by !== 'string' || o.by.length === 0 || o.by.length > 300) return null;
  if (o.orderId !== undefined && (typeof o.orderId !== 'string' || !/^\d{1,20}$/.test(o.orderId))) return null;
  const order: TerminateOrder = { op: 'terminate', proxyId: o.proxyId, connectionId: o.connectionId, by: o.by };
  if (typeof o.orderId === 'string') order.orderId = o.orderId;
  if (o.proxyStartedAt !== undefined && (typeof o.proxyStartedAt !== 'number' || !Number.isSafeInteger(o.proxyStartedAt))) return null;
  if (typeof o.proxyStartedAt === 'number') order.proxyStartedAt = o.proxyStartedAt;
  return order;
}

/**
 * One open connection as a proxy reports it in its heartbeat row (the live view): written by
 * the proxy's ConnectionRegistry, read by the API's connections service.
 */
export interface OpenConnectionInfo {
  id: string;
  listener: string;
  routeId: string;
  tenantId: string;
  databaseId: string;
  clientAddress: string | null;
  clientPort: number;
  sni: string | null;
  mode: string;
  startedAt: number;
  bytesIn: number;
  bytesOut: number;
}
