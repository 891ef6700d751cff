/**
 * New-connection rate per client address: one token bucket per address, `burst` tokens
 * deep, refilled at `ratePerSec`. Each routed attempt takes one token; an address with an
 * empty bucket is refused (SQLSTATE 53300 / a TLS alert) until tokens accrue again.
 *
 * Memory is bounded: at most `maxTracked` buckets are kept, in least-recently-used order
 * (a Map's insertion order, refreshed on each use); the oldest is evicted when a new
 * address arrives at the cap. An evicted address comes back with a full bucket, which errs
 * towards admitting — the cap protects the proxy's memory, not the rate. IPv6 clients are
 * keyed by their /64, the smallest block a single host is usually given, so rotating
 * addresses inside one's own prefix does not escape the limit.
 *
 * Pure and synchronous: a Map lookup and a few float operations on the hot path.
 */
import type { IpAddress } from '@switchyard/core';

export interface RateLimitOptions {
  /** Tokens added per second (new connections per second in the long run). */
  ratePerSec: number;
  /** Bucket size: connections an idle address may open at once. */
  burst: number;
  /** Most addresses tracked at once. */
  maxTracked: number;
}

interface Bucket {
  tokens: number;
  /** Time of the last refill, in ms (monotonic clock). */
  at: number;
}

/** The bucket key of an address: IPv4 as is, IPv6 by its /64 prefix. */
export function rateKey(ip: IpAddress): string {
  return ip.family === 4 ? `4:${ip.value}` : `6:${ip.value >> 64n}`;
}

export class ClientRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private _evicted = 0;

  constructor(
    private readonly opts: RateLimitOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(opts.ratePerSec > 0) || !(opts.burst >= 1) || !(opts.maxTracked >= 1)) throw new Error('invalid rate limit options');
    this.perMs = opts.ratePerSec / 1000;
  }

  /** Takes one token for `key`; false when the address is over its rate. */
  take(key: string): boolean {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
      b.tokens = Math.min(this.opts.burst, b.tokens + (now - b.at) * this.perMs);
      b.at = now;
    } else {
      if (this.buckets.size >= this.opts.maxTracked) {
        const oldest = this.buckets.keys().next().value as string;
        this.buckets.delete(oldest);
        this._evicted++;
      }
      b = { tokens: this.opts.burst, at: now };
    }
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Addresses currently tracked. */
  get tracked(): number {
    return this.buckets.size;
  }

  /** Buckets evicted because the table was full. */
  get evicted(): number {
    return this._evicted;
  }
}
