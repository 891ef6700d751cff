/**
 * Orders from the API to the proxies, sent with NOTIFY on `CONTROL_CHANNEL` (which every
 * proxy LISTENs on next to `CONFIG_CHANNEL`). An order names the proxy it is for; every
 * other proxy ignores it. NOTIFY payloads are limited to 8000 bytes, so orders are small.
 * Orders are not replayed: a proxy that was not listening when one was sent never sees it
 * (the API tells the caller the connection may still be open; see `terminate`).
 */

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
  return { op: 'terminate', proxyId: o.proxyId, connectionId: o.connectionId, by: o.by };
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
