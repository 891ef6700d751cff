/**
 * libpq's default sslmode=prefer retries in plaintext after a failed TLS attempt, so a user
 * whose route is disabled would otherwise see our TLS alert followed by "TLS with SNI is
 * required", which blames the wrong thing. We remember, per client address and for a few
 * seconds, why its TLS attempts were refused, and explain that instead on the plaintext
 * retries. Each refusal explains one retry only (libpq retries at once), so a later,
 * genuinely plaintext client is told what it needs to hear. A pool opening many connections
 * at once from one address gets one explanation per refused attempt (one memory per address
 * told the first retry why and the others to use TLS with SNI).
 * Bounded in size and time; in memory.
 */
import type { RefusalCode } from '../errors.js';

export interface RememberedRefusal {
  code: RefusalCode;
  hostname: string | null;
  at: number;
}

/** Refusals kept per address: a connection pool opening at once, not an unbounded queue. */
const PER_ADDRESS = 32;

export class RecentRefusals {
  /** Per address, the refusals not yet explained, oldest first. */
  private readonly map = new Map<string, RememberedRefusal[]>();

  constructor(
    private readonly ttlMs = 3_000,
    private readonly maxEntries = 10_000,
  ) {}

  remember(address: string, code: RefusalCode, hostname: string | null, now = Date.now()): void {
    let queue = this.map.get(address);
    if (queue) this.map.delete(address); // re-insert at the end: Map keeps insertion order
    else queue = [];
    queue.push({ code, hostname, at: now });
    if (queue.length > PER_ADDRESS) queue.shift();
    this.map.set(address, queue);
    if (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value!);
  }

  /**
   * Returns and forgets the newest refusal remembered for `address`, if still fresh. Newest
   * first: a retry follows its own refusal at once, so the newest is the likeliest to be its
   * own, and a refusal nobody retried (sslmode=require) is not handed to the retries of a
   * burst that came after it: each retry of the burst finds its own refusal or a sibling's
   * above it.
   */
  take(address: string, now = Date.now()): RememberedRefusal | null {
    const queue = this.map.get(address);
    if (!queue) return null;
    const r = queue.pop()!;
    if (queue.length === 0) this.map.delete(address);
    if (now - r.at > this.ttlMs) {
      // The newest is stale, so all are.
      this.map.delete(address);
      return null;
    }
    return r;
  }
}
