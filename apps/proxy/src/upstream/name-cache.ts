/**
 * Upstream host names, looked up off the connection path. Routes written by the Kubernetes
 * controller name Services (`orders.tenant-a.svc.cluster.local`), and a pod's resolver
 * (`ndots:5`, three search domains) turns each `getaddrinfo` of such a name into up to eight
 * queries to the cluster DNS, on libuv's four-thread pool. Done for every new connection
 * that costs ~0.1–0.2 ms of proxy CPU and 1–4 ms of latency (p99 ~36 ms at 16 at a time:
 * docs/performance.md "Upstream names"), and a slow cluster DNS stalls every new connection.
 *
 * So each name's answer is kept for `ttlMs` (CoreDNS answers cluster names with a 5 s TTL),
 * looked up at most once at a time (every connection waiting for a name shares the lookup),
 * and refreshed in the background once it is older than that, while connections keep using
 * it — the connection path awaits DNS only for a name it has never seen (or not for
 * `ttlMs + staleMs`). When refreshing fails (DNS down or slow) the last answer goes on being
 * used for up to `staleMs` past its TTL, retried every second; when DNS says the name no
 * longer exists (`ENOTFOUND`) it is forgotten at once — a deleted Service's address may be
 * given to another one. The caller re-asks DNS when every address of a remembered answer
 * fails to connect (a pod that moved: upstream/connector.ts).
 *
 * What is kept is the *vetted* answer (`vet`: the guard's allowed addresses, or its
 * refusal), so a name pointed at a forbidden address is refused without a lookup per
 * connection too. Pure bookkeeping around an injected `lookup`; `ttlMs = 0` keeps nothing
 * (every connection looks the name up, concurrent ones sharing one lookup).
 */
import { lookup as dnsLookup } from 'node:dns/promises';

export type ResolvedAddress = { address: string; family: 4 | 6 };

export type Lookup = (host: string) => Promise<ResolvedAddress[]>;

export type LookupOutcome = 'ok' | 'not_found' | 'failed';

export interface NameCacheEvents {
  /** Every lookup's outcome (metrics). */
  onLookup?(outcome: LookupOutcome): void;
  /** A connection is given an answer kept past its TTL because refreshing it fails (or hangs). */
  onStaleServed?(host: string): void;
  /** Refreshing a kept answer failed for the first time (`until`: when it stops being used). */
  onRefreshFailing?(host: string, err: Error, until: number): void;
  /** A name whose refreshes failed resolved again. */
  onRecovered?(host: string): void;
}

export interface NameCacheOptions<T> {
  ttlMs: number;
  staleMs: number;
  /** Names kept at most; the least recently looked-up one goes first (default 50,000). */
  maxNames?: number;
  /** Turns a lookup's answers into what is kept (the guard's verdict). */
  vet(host: string, answers: ResolvedAddress[]): T;
  lookup?: Lookup;
  now?: () => number;
  events?: NameCacheEvents;
}

/** After a failed refresh, the next one waits this long (or `ttlMs`, if shorter). */
export const REFRESH_RETRY_MS = 1000;
const DEFAULT_MAX_NAMES = 50_000;

interface Entry<T> {
  value: T | null;
  /** When `value` was looked up. */
  at: number;
  pending: Promise<T> | null;
  /** The last refresh failed; no new one before `retryAt`. */
  failing: boolean;
  retryAt: number;
}

const systemLookup: Lookup = async (host) => (await dnsLookup(host, { all: true })) as ResolvedAddress[];

export class NameCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly lookup: Lookup;
  private readonly now: () => number;
  private readonly maxNames: number;

  constructor(private readonly opts: NameCacheOptions<T>) {
    this.lookup = opts.lookup ?? systemLookup;
    this.now = opts.now ?? Date.now;
    this.maxNames = opts.maxNames ?? DEFAULT_MAX_NAMES;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The kept answer for `host`, without waiting: null when there is none usable (the caller
   * awaits `resolve`). An answer past its TTL is still returned, and a refresh started.
   */
  peek(host: string): T | null {
    const e = this.entries.get(host);
    if (!e || e.value === null) return null;
    const now = this.now();
    const age = now - e.at;
    if (age < this.opts.ttlMs) return e.value;
    if (age >= this.opts.ttlMs + this.opts.staleMs) return null;
    if (e.pending === null && now >= e.retryAt) void this.start(host, e);
    // Refreshing failed, or has hung for a second (a healthy DNS answers in milliseconds).
    if (e.failing || age >= this.opts.ttlMs + REFRESH_RETRY_MS) this.opts.events?.onStaleServed?.(host);
    return e.value;
  }

  /**
   * The answer for `host`: the kept one when usable, else the lookup under way or a new one.
   * `fresh`: always from DNS (joining a lookup already under way).
   */
  resolve(host: string, fresh = false): Promise<T> {
    if (!fresh) {
      const v = this.peek(host);
      if (v !== null) return Promise.resolve(v);
    }
    let e = this.entries.get(host);
    if (e?.pending) return e.pending;
    if (!e) {
      e = { value: null, at: 0, pending: null, failing: false, retryAt: 0 };
      this.insert(host, e);
    }
    return this.start(host, e);
  }

  private insert(host: string, e: Entry<T>): void {
    if (this.entries.size >= this.maxNames) {
      for (const [name, old] of this.entries) {
        if (old.pending) continue;
        this.entries.delete(name);
        break;
      }
    }
    this.entries.set(host, e);
  }

  private start(host: string, e: Entry<T>): Promise<T> {
    let asked: Promise<ResolvedAddress[]>;
    try {
      asked = this.lookup(host);
    } catch (err) {
      asked = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const p = asked.then(
        (answers) => {
          const value = this.opts.vet(host, answers);
          this.opts.events?.onLookup?.('ok');
          if (e.failing) this.opts.events?.onRecovered?.(host);
          e.pending = null;
          e.failing = false;
          e.value = value;
          e.at = this.now();
          if (this.opts.ttlMs === 0) {
            this.forget(host, e);
          } else if (this.entries.get(host) === e) {
            // Most recently looked up last: `insert` evicts from the front.
            this.entries.delete(host);
            this.entries.set(host, e);
          }
          return value;
        },
        (err: NodeJS.ErrnoException) => {
          e.pending = null;
          const gone = err.code === 'ENOTFOUND';
          this.opts.events?.onLookup?.(gone ? 'not_found' : 'failed');
          if (gone || e.value === null || this.opts.ttlMs === 0) {
            this.forget(host, e);
          } else {
            const now = this.now();
            e.retryAt = now + Math.min(REFRESH_RETRY_MS, this.opts.ttlMs);
            if (!e.failing) this.opts.events?.onRefreshFailing?.(host, err, e.at + this.opts.ttlMs + this.opts.staleMs);
            e.failing = true;
          }
          throw err;
        },
      );
    e.pending = p;
    // A background refresh has no one waiting on it; its failure is handled above.
    p.catch(() => {});
    return p;
  }

  private forget(host: string, e: Entry<T>): void {
    if (this.entries.get(host) === e) this.entries.delete(host);
  }
}
