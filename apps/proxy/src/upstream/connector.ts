/**
 * Connects a routed client to one of its route's endpoints: asks the balancer for an order,
 * resolves each endpoint through the guard, dials it (from the route's egress source address
 * when set; with a PROXY header first when the route asks for one) and moves on to the next
 * endpoint when a dial fails — always before any client byte has been forwarded, so a retry
 * is invisible to the client.
 */
import type { Socket } from 'node:net';
import type { Endpoint } from '@switchyard/core';
import { buildProxyV1, buildProxyV2 } from '@switchyard/wire';
import type { CancelSignal } from '../pipe/cancel.js';
import { DialError, dialUpstream } from '../pipe/dial.js';
import type { UpstreamReads } from '../pipe/upstream-reads.js';
import type { RouteEntry } from '../router/route-table.js';
import { Balancer, endpointKey } from './balancer.js';
import { GuardRefusal, type UpstreamGuard } from './guard.js';
import type { HealthMonitor } from './health.js';

export interface ConnectRequest {
  route: RouteEntry;
  /** Client address and port as audited (PROXY-aware). */
  client: { address: string; port: number };
  /**
   * The address and port the client dialled (the PROXY header's destination when present).
   * Asked for only when a PROXY header to the upstream needs it: reading it off the socket
   * is a system call.
   */
  local: { dialled(): { address: string; port: number } };
  /** Bytes to replay after the upstream is ready. */
  replay: Buffer;
  /** Forward bytes unread: no PostgreSQL SSLRequest step even for PostgreSQL routes. */
  raw: boolean;
  timeoutMs: number;
  signal: CancelSignal;
  /** Passthrough: the upstream reads into reusable buffers (pipe/upstream-reads.ts). */
  reads?: UpstreamReads;
  /**
   * Dial this address of the endpoint, as vetted when a session dialled it (a PostgreSQL
   * cancel goes to the server its session reached, whatever DNS says now).
   */
  address?: string;
  /**
   * Terminate mode with `upstreamTls`: the TLS handshake over an endpoint's connected socket,
   * given what is left of that endpoint's `timeoutMs` — one deadline from the TCP connect to a
   * usable upstream, not one for TCP (+ PostgreSQL's 'S') and another for TLS. A failure
   * moves on to the next endpoint like a refused connect. Absent in passthrough.
   */
  secure?: (raw: Socket, endpoint: Endpoint, timeoutMs: number) => Promise<Socket>;
}

export interface Connected {
  socket: Socket;
  endpoint: Endpoint;
  /**
   * The endpoint's `host:port`: pass it to `Upstreams.release` once when the connection ends
   * (least-connections bookkeeping). A key rather than a closure: an idle session holds it.
   */
  key: string;
  /** The address dialled (of those the endpoint's host resolved to). */
  address: string;
}

/** One `host:port` string per endpoint (route entries are immutable), not one per connection. */
const KEYS = new WeakMap<Endpoint, string>();

function keyOf(e: Endpoint): string {
  let k = KEYS.get(e);
  if (k === undefined) KEYS.set(e, (k = endpointKey(e)));
  return k;
}

export interface UpstreamsOptions {
  guard: UpstreamGuard;
  health: HealthMonitor;
  /** Local addresses routes may use as egress source (`SWITCHYARD_EGRESS_SOURCE_ADDRESSES`). */
  egressSources: ReadonlySet<string>;
}

export class Upstreams {
  readonly balancer: Balancer;
  private readonly active = new Map<string, number>();

  constructor(private readonly opts: UpstreamsOptions) {
    this.balancer = new Balancer({ active: (k) => this.active.get(k) ?? 0, isUp: (k) => opts.health.isUp(k) });
  }

  get health(): HealthMonitor {
    return this.opts.health;
  }

  /** A connection made by `connect` ended: call once per connection with its `key`. */
  release(key: string): void {
    const n = (this.active.get(key) ?? 1) - 1;
    if (n <= 0) this.active.delete(key);
    else this.active.set(key, n);
  }

  connect(req: ConnectRequest): Promise<Connected> {
    // The usual route: one endpoint at an IP literal (vetted once, remembered), no egress
    // source. Dialled without the general path's async state, which every new connection
    // would allocate (docs/performance.md "Allocation per connection").
    const { route } = req;
    if (route.endpoints.length === 1 && !route.sourceAddress && req.address === undefined && !req.signal.aborted) {
      const endpoint = route.endpoints[0]!;
      const literal = this.opts.guard.literal(endpoint.host);
      if (literal !== null && !(literal instanceof GuardRefusal)) {
        const address = literal[0]!.address;
        return this.dial(endpoint, address, req, proxyHeaderFor(route, req)).then((socket) => this.connected(socket, endpoint, address));
      }
    }
    return this.connectAny(req);
  }

  private connected(socket: Socket, endpoint: Endpoint, address: string): Connected {
    const key = keyOf(endpoint);
    this.active.set(key, (this.active.get(key) ?? 0) + 1);
    return { socket, endpoint, key, address };
  }

  /** Balanced over the route's endpoints, names resolved, each endpoint tried in turn. */
  private async connectAny(req: ConnectRequest): Promise<Connected> {
    const { route } = req;
    if (route.sourceAddress && !this.opts.egressSources.has(route.sourceAddress)) {
      throw new DialError('egress_source_unavailable', `source address ${route.sourceAddress} is not configured on this proxy`);
    }
    const prefix = proxyHeaderFor(route, req);
    const order = route.endpoints.length > 1 ? this.balancer.order(route.id, route.balance ?? 'round-robin', route.endpoints, req.client.address) : [0];
    let lastError: DialError | null = null;
    let forbidden = 0;
    for (const i of order) {
      if (req.signal.aborted) break;
      const endpoint = route.endpoints[i]!;
      try {
        // An IP literal (the usual upstream) is vetted once and remembered, without a promise.
        const literal = req.address === undefined ? this.opts.guard.literal(endpoint.host) : null;
        if (literal instanceof GuardRefusal) throw literal;
        let socket: Socket;
        let address: string;
        if (literal !== null) {
          address = literal[0]!.address;
          socket = await this.dial(endpoint, address, req, prefix);
        } else {
          ({ socket, address } = await this.dialName(endpoint, req, prefix));
        }
        return this.connected(socket, endpoint, address);
      } catch (err) {
        if (err instanceof GuardRefusal) {
          forbidden++;
          lastError = new DialError('upstream_forbidden', err.message);
        } else if (err instanceof DialError) {
          lastError = err;
        } else {
          lastError = new DialError('upstream_unreachable', (err as Error).message);
        }
      }
    }
    if (forbidden === order.length) throw lastError!;
    throw lastError?.code === 'upstream_forbidden' ? new DialError('upstream_unreachable', lastError.message) : (lastError ?? new DialError('upstream_unreachable', 'client went away'));
  }

  /**
   * An endpoint named by a host name (or a pinned address): the name's vetted addresses (the
   * kept answer, else a lookup), each dialled in turn. When every address of a kept answer
   * is unreachable, DNS is asked again at once and the addresses it adds are tried: a pod
   * that moved costs one connection a lookup, not everyone a TTL of failures.
   */
  private async dialName(endpoint: Endpoint, req: ConnectRequest, prefix: Buffer | undefined): Promise<{ socket: Socket; address: string }> {
    const { guard } = this.opts;
    if (req.address !== undefined) return { socket: await this.dial(endpoint, req.address, req, prefix), address: req.address };
    let addrs = guard.cached(endpoint.host);
    const kept = addrs !== null;
    addrs ??= await guard.resolve(endpoint.host);
    if (addrs instanceof GuardRefusal) throw addrs;
    const tried = addrs.map((a) => a.address);
    try {
      return await this.dialAddresses(endpoint, tried, req, prefix);
    } catch (err) {
      if (!kept || req.signal.aborted || !(err instanceof DialError) || err.code !== 'upstream_unreachable') throw err;
      const fresh = await guard.resolve(endpoint.host, true).catch(() => null);
      const untried = fresh?.map((a) => a.address).filter((a) => !tried.includes(a)) ?? [];
      if (untried.length === 0) throw err;
      return this.dialAddresses(endpoint, untried, req, prefix);
    }
  }

  /** Dials `addresses` in order until one answers; throws the last failure. */
  private async dialAddresses(endpoint: Endpoint, addresses: readonly string[], req: ConnectRequest, prefix: Buffer | undefined): Promise<{ socket: Socket; address: string }> {
    let lastError: unknown = null;
    for (const address of addresses) {
      if (req.signal.aborted) break;
      try {
        return { socket: await this.dial(endpoint, address, req, prefix), address };
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError ?? new DialError('upstream_unreachable', 'client went away');
  }

  private dial(endpoint: Endpoint, address: string, req: ConnectRequest, prefix: Buffer | undefined): Promise<Socket> {
    if (req.secure) {
      const deadline = Date.now() + req.timeoutMs;
      const secure = req.secure;
      return this.dialTcp(endpoint, address, req, prefix).then((raw) => secure(raw, endpoint, Math.max(1, deadline - Date.now())));
    }
    return this.dialTcp(endpoint, address, req, prefix);
  }

  private dialTcp(endpoint: Endpoint, address: string, req: ConnectRequest, prefix: Buffer | undefined): Promise<Socket> {
    return dialUpstream({
      endpoint,
      address,
      localAddress: req.route.sourceAddress ?? undefined,
      prefix,
      timeoutMs: req.timeoutMs,
      postgresStartTls: req.route.engine === 'postgres' && !req.raw,
      replay: req.replay,
      signal: req.signal,
      reads: req.reads,
    });
  }
}

/** The PROXY header announcing the client to the upstream, or undefined. */
function proxyHeaderFor(route: RouteEntry, req: ConnectRequest): Buffer | undefined {
  if (!route.proxyProtocol) return undefined;
  const v6 = (a: string) => a.includes(':');
  const local = req.local.dialled();
  const spec = req.client.address && local.address && v6(req.client.address) === v6(local.address) ? { source: req.client, destination: local } : null;
  return route.proxyProtocol === 'v2' ? buildProxyV2(spec) : buildProxyV1(spec);
}
