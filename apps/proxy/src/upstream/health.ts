/**
 * Active health checks, off the hot path. Each distinct (endpoint, check settings) pair has
 * one checker shared by every route that uses it; checkers start when a route needs them
 * and stop when none does. A checker connects (and for `tls` completes a handshake, after
 * an SSLRequest for PostgreSQL) every `intervalMs`; `fall` consecutive failures mark the
 * endpoint down, `rise` consecutive successes mark it up again. Endpoints start up: until
 * checks say otherwise, the connector's fail-over covers a dead one.
 *
 * The hot path only reads `isUp(key)`, a map lookup.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Endpoint, HealthCheck } from '@switchyard/core';
import { buildSslRequest } from '@switchyard/wire';
import type { Logger } from 'pino';
import { endpointKey } from './balancer.js';
import type { UpstreamGuard } from './guard.js';

export interface HealthTarget {
  endpoint: Endpoint;
  check: HealthCheck;
  postgres: boolean;
  sourceAddress: string | null;
}

export interface HealthEvents {
  onTransition?(key: string, up: boolean): void;
  onCheck?(ok: boolean): void;
}

class Checker {
  refs = 0;
  up = true;
  private successes = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;

  constructor(
    readonly target: HealthTarget,
    private readonly probe: (t: HealthTarget) => Promise<void>,
    private readonly report: (up: boolean) => void,
    private readonly events: HealthEvents,
  ) {}

  start(): void {
    void this.run();
    this.timer = setInterval(() => void this.run(), this.target.check.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    let ok = true;
    try {
      await this.probe(this.target);
    } catch {
      ok = false;
    }
    this.running = false;
    if (this.stopped) return;
    this.events.onCheck?.(ok);
    if (ok) {
      this.failures = 0;
      if (!this.up && ++this.successes >= this.target.check.rise) {
        this.up = true;
        this.report(true);
      }
    } else {
      this.successes = 0;
      if (this.up && ++this.failures >= this.target.check.fall) {
        this.up = false;
        this.report(false);
      }
    }
  }
}

export class HealthMonitor {
  /** Endpoint key → checkers of that endpoint (usually one). */
  private readonly byEndpoint = new Map<string, Set<Checker>>();
  private readonly checkers = new Map<string, Checker>();
  /** Route id → checker keys it holds. */
  private readonly byRoute = new Map<string, string[]>();

  constructor(
    private readonly guard: UpstreamGuard,
    private readonly log: Logger,
    private readonly events: HealthEvents = {},
  ) {}

  /** False only while some health check holds the endpoint down. */
  isUp(key: string): boolean {
    const set = this.byEndpoint.get(key);
    if (!set) return true;
    for (const c of set) if (!c.up) return false;
    return true;
  }

  /** Replaces the checks a route needs (none when `targets` is empty). */
  setRoute(routeId: string, targets: readonly HealthTarget[]): void {
    const next = targets.map(checkerKey);
    const prev = this.byRoute.get(routeId) ?? [];
    if (next.length === prev.length && next.every((k, i) => k === prev[i])) return;
    next.forEach((k, i) => this.acquire(k, targets[i]!));
    for (const k of prev) this.release(k);
    if (next.length) this.byRoute.set(routeId, next);
    else this.byRoute.delete(routeId);
  }

  get size(): number {
    return this.checkers.size;
  }

  stop(): void {
    for (const c of this.checkers.values()) c.stop();
    this.checkers.clear();
    this.byEndpoint.clear();
    this.byRoute.clear();
  }

  private acquire(key: string, target: HealthTarget): void {
    let c = this.checkers.get(key);
    if (!c) {
      const ek = endpointKey(target.endpoint);
      c = new Checker(target, (t) => this.probe(t), (up) => this.transition(ek, up), this.events);
      this.checkers.set(key, c);
      let set = this.byEndpoint.get(ek);
      if (!set) this.byEndpoint.set(ek, (set = new Set()));
      set.add(c);
      c.start();
    }
    c.refs++;
  }

  private release(key: string): void {
    const c = this.checkers.get(key);
    if (!c || --c.refs > 0) return;
    c.stop();
    this.checkers.delete(key);
    const ek = endpointKey(c.target.endpoint);
    const set = this.byEndpoint.get(ek);
    set?.delete(c);
    if (set?.size === 0) this.byEndpoint.delete(ek);
  }

  private transition(key: string, up: boolean): void {
    this.log.warn({ endpoint: key, up }, up ? 'upstream endpoint healthy again' : 'upstream endpoint failed its health checks');
    this.events.onTransition?.(key, up);
  }

  /**
   * One check: the endpoint is up when one of its guard-approved addresses answers — as a
   * connection tries them in turn (connector.ts) — within the check's timeout in all.
   */
  private async probe(t: HealthTarget): Promise<void> {
    const deadline = Date.now() + t.check.timeoutMs;
    const addrs = await this.guard.resolve(t.endpoint.host);
    let last: unknown = new Error('no address');
    for (const a of addrs) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        return await this.probeAddress(t, a.address, left);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /** Connect to `address` and optionally complete TLS, within `timeoutMs`. */
  private async probeAddress(t: HealthTarget, address: string, timeoutMs: number): Promise<void> {
    const sock = connect({ host: address, port: t.endpoint.port, localAddress: t.sourceAddress ?? undefined });
    try {
      await withTimeout(timeoutMs, sock, async () => {
        await waitFor(sock, 'connect');
        if (t.check.type !== 'tls') return;
        if (t.postgres) {
          sock.write(buildSslRequest());
          const [reply] = (await waitFor(sock, 'data')) as [Buffer];
          if (reply[0] !== 0x53) throw new Error('SSLRequest refused');
        }
        const servername = /^[0-9.]+$|:/.test(t.endpoint.host) ? undefined : t.endpoint.host;
        // A hello and a ServerHello prove a TLS server answers; identity is the client's job.
        const tls = tlsConnect({ socket: sock, servername, rejectUnauthorized: false });
        try {
          await waitFor(tls, 'secureConnect');
        } finally {
          tls.destroy();
        }
      });
    } finally {
      sock.destroy();
    }
  }
}

function checkerKey(t: HealthTarget): string {
  const c = t.check;
  return `${t.endpoint.host}|${t.endpoint.port}|${c.type}|${c.intervalMs}|${c.timeoutMs}|${c.rise}|${c.fall}|${t.postgres ? 'pg' : ''}|${t.sourceAddress ?? ''}`;
}

function waitFor(emitter: Socket, event: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      emitter.removeListener(event, onEvent);
      reject(err);
    };
    const onClose = () => onError(new Error('closed'));
    const onEvent = (...args: unknown[]) => {
      emitter.removeListener('error', onError);
      emitter.removeListener('close', onClose);
      resolve(args);
    };
    emitter.once(event, onEvent);
    emitter.once('error', onError);
    emitter.once('close', onClose);
  });
}

async function withTimeout(ms: number, sock: Socket, fn: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          sock.destroy();
          reject(new Error('timeout'));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
