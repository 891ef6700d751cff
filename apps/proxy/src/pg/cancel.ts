/**
 * Routing of PostgreSQL CancelRequests for TLS-terminated sessions.
 *
 * In terminate mode the client never sees the backend's BackendKeyData: `BackendKeyRewriter`
 * (packages/wire) swaps it for a key minted by `CancelKeyStore`, whose entry remembers the
 * route, the endpoint actually reached and the backend's own key. A CancelRequest arrives on
 * a *new* connection — in plaintext without SNI (libpq's PQcancel, psql's Ctrl-C,
 * node-postgres) or over TLS (libpq 17's PQcancelCreate) — and `handleCancel` maps the key
 * back and sends the backend's key to that endpoint (SSLRequest → 'S' → TLS first when the
 * route's upstream uses TLS). Unknown keys are dropped: PostgreSQL answers no CancelRequest,
 * so the client's connection is simply closed either way and cannot probe for keys.
 *
 * Cluster seam (apps/proxy/src/cluster/): the top byte of a minted process id is the id of
 * the worker that minted it (`CancelKeyStore.workerOf`). A cancel can land on any worker, so
 * when that byte names another worker, `handleCancel` does not look the key up locally but
 * calls `forwardCancelToWorker(workerId, requestBytes)` with the CancelRequest exactly as
 * received; the receiving worker passes those bytes to `handleCancelBytes` on its own router
 * (and its answer is irrelevant to the client). In a single process the hook is absent and
 * such a key is unknown. Give workers ids from 1 up: PostgreSQL's own process ids stay below
 * 2^22, so their top byte is 0 and a passthrough session's key never travels between workers.
 * A forwarded TLS cancel loses the "same route as the SNI" check, which the secret key makes
 * redundant anyway.
 */
import type { Socket } from 'node:net';
import { buildCancelRequest, parseStartupPacket, type BackendKey } from '@switchyard/wire';
import type { Endpoint } from '@switchyard/core';
import type { RouteEntry } from '../router/route-table.js';
import { ALPN_POSTGRESQL, upstreamTls } from '../tls/terminate.js';
import type { Upstreams } from '../upstream/connector.js';
import { CancelKeyStore, type CancelTarget } from './cancel-keys.js';

/** What a minted key leads to: the session's route entry and the endpoint it reached. */
export interface SessionTarget extends CancelTarget {
  route: RouteEntry;
  endpoint: Endpoint;
  /** The address the session dialled (a name may resolve to several, or to another later). */
  address?: string;
}

export type CancelOutcome =
  /** Sent to the backend that owns the key. */
  | 'forwarded'
  /** Handed to the worker that minted the key (cluster mode). */
  | 'forwarded_to_worker'
  /** Not a key this proxy minted (or a passthrough session's, or its session ended). */
  | 'unknown_key'
  /** Known key, but the backend could not be reached. */
  | 'upstream_failed';

export interface CancelRouterOptions {
  store: CancelKeyStore<SessionTarget>;
  /** Opens a connection to the target's endpoint and delivers `request` (the backend's key). */
  deliver(target: SessionTarget, request: Buffer): Promise<void>;
  /**
   * Cluster hook: the key was minted by worker `workerId`, not this one. Receives the
   * CancelRequest bytes as the client sent them. Absent in single-process mode.
   */
  forwardCancelToWorker?: ((workerId: number, request: Buffer) => void) | null;
}

export class CancelRouter {
  constructor(private readonly opts: CancelRouterOptions) {}

  get store(): CancelKeyStore<SessionTarget> {
    return this.opts.store;
  }

  /**
   * Looks a CancelRequest's key up and forwards it. `routeId`: the route a TLS cancel was
   * routed to by SNI; a key of another route is then unknown (one tenant's connection cannot
   * carry a cancel to another's). Resolves once the backend received it (or it was dropped).
   */
  async handleCancel(processId: number, secretKey: Buffer, opts: { routeId?: string } = {}): Promise<CancelOutcome> {
    const owner = CancelKeyStore.workerOf(processId);
    if (owner !== this.opts.store.workerId) {
      // Top byte 0 is no cluster worker (their ids start at 1): a PostgreSQL pid, i.e. a
      // passthrough session's key, or a guess. Nobody holds it; do not relay it.
      if (!this.opts.forwardCancelToWorker || owner === 0) return 'unknown_key';
      this.opts.forwardCancelToWorker(owner, buildCancelRequest(processId, secretKey));
      return 'forwarded_to_worker';
    }
    const target = this.opts.store.lookup(processId, secretKey);
    if (!target || (opts.routeId !== undefined && target.routeId !== opts.routeId)) return 'unknown_key';
    try {
      await this.opts.deliver(target, buildCancelRequest(target.backend.processId, target.backend.secretKey));
      return 'forwarded';
    } catch {
      return 'upstream_failed';
    }
  }

  /** Entry point for a CancelRequest another worker forwarded (cluster mode). */
  handleCancelBytes(request: Buffer): Promise<CancelOutcome> {
    const r = parseStartupPacket(request);
    if (r.status !== 'ok' || r.value.kind !== 'cancel-request') return Promise.resolve('unknown_key');
    const { processId, secretKey } = r.value;
    // Never bounce a request back: only a key this worker minted is looked up here.
    if (CancelKeyStore.workerOf(processId) !== this.opts.store.workerId) return Promise.resolve('unknown_key');
    return this.handleCancel(processId, secretKey);
  }

  /** A key for a new session; null when the store is full (the client then keeps the backend's key). */
  mint(target: SessionTarget): BackendKey | null {
    return this.opts.store.mint(target);
  }

  release(minted: BackendKey): void {
    this.opts.store.release(minted);
  }
}

/**
 * Sends `request` over `socket` (already connected to the backend, TLS done when needed)
 * and waits until the server closes it, as libpq's PQcancel does: PostgreSQL closes a cancel
 * connection once it has signalled the backend. Bounded by `timeoutMs`.
 */
export function sendAndAwaitClose(socket: Socket, request: Buffer, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('error', () => {});
    socket.once('close', done);
    socket.on('data', () => {}); // nothing is expected; keep the stream flowing to see its end
    socket.resume();
    socket.end(request);
  });
}

/**
 * Delivers a CancelRequest to the endpoint a session reached, the way the session reached
 * it: the dial-time guard, egress source address and PROXY header of the route as it was
 * then, SSLRequest → 'S' → TLS (verified against the route's upstream CA) when the route's
 * upstream uses TLS, plaintext otherwise.
 */
export async function deliverCancel(upstreams: Pick<Upstreams, 'connect' | 'release'>, target: SessionTarget, request: Buffer, timeoutMs: number): Promise<void> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const c = await upstreams.connect({
      route: { ...target.route, endpoints: [target.endpoint] },
      client: { address: '', port: 0 },
      local: { dialled: () => ({ address: '', port: 0 }) },
      replay: Buffer.alloc(0),
      raw: !target.route.upstreamTls,
      timeoutMs,
      signal: abort.signal,
      address: target.address,
    });
    upstreams.release(c.key);
    const socket = target.route.upstreamTls
      ? await upstreamTls(c.socket, { endpoint: target.endpoint, ca: target.route.upstreamCa, serverName: target.route.upstreamServerName, alpn: [ALPN_POSTGRESQL], signal: abort.signal })
      : c.socket;
    await sendAndAwaitClose(socket, request, timeoutMs);
  } finally {
    clearTimeout(timer);
  }
}
