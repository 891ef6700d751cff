/**
 * Fixed-window counters in memory, for login throttling. Per process: with N API replicas an
 * attacker gets at most N times the budget, which is still a hard ceiling on guessing. Keys
 * expire with their window, and the map is bounded so a flood of distinct keys cannot grow it
 * without limit (the oldest windows are dropped first).
 */
import { formatIp, parseIp } from '@switchyard/core';

/**
 * The key a client address is throttled under. IPv6 by its /64: one subscriber or host usually
 * holds a whole /64 (RFC 6177), so counting single addresses would give one attacker 2^64
 * budgets. IPv4 (also written IPv4-mapped, `::ffff:10.0.0.1`) by the address.
 */
export function addressKey(address: string): string {
  const ip = parseIp(address);
  if (!ip) return address;
  if (ip.family === 4) return formatIp(ip);
  return `${formatIp({ family: 6, value: ip.value & ~((1n << 64n) - 1n) })}/64`;
}

export interface RateDecision {
  allowed: boolean;
  /** Seconds until the window ends (for Retry-After). */
  retryAfterSeconds: number;
}

export class WindowCounter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether another event for `key` is still allowed (does not count it). */
  check(key: string): RateDecision {
    const w = this.current(key);
    const retryAfterSeconds = w ? Math.max(1, Math.ceil((w.start + this.windowMs - this.now()) / 1000)) : 0;
    return { allowed: !w || w.count < this.limit, retryAfterSeconds };
  }

  /** Counts one event for `key`. */
  hit(key: string): void {
    const w = this.current(key);
    if (w) {
      w.count += 1;
      return;
    }
    if (this.windows.size >= this.maxKeys) this.prune();
    this.windows.set(key, { start: this.now(), count: 1 });
  }

  reset(key: string): void {
    this.windows.delete(key);
  }

  private current(key: string): { start: number; count: number } | null {
    const w = this.windows.get(key);
    if (!w) return null;
    if (this.now() - w.start >= this.windowMs) {
      this.windows.delete(key);
      return null;
    }
    return w;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
    // Still full: drop the oldest (Map iteration is insertion order).
    for (const k of this.windows.keys()) {
      if (this.windows.size < this.maxKeys) break;
      this.windows.delete(k);
    }
  }
}
