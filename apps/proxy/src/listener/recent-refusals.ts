/**
 * libpq's default sslmode=prefer retries in plaintext after a failed TLS attempt, so a user
 * whose route is disabled would otherwise see our TLS alert followed by "TLS with SNI is
 * required", which blames the wrong thing. We remember, per client address and for a few
 * seconds, why its last TLS attempt was refused, and explain that instead on the plaintext
 * retry. Each memory explains one retry only (libpq retries at once), so a later, genuinely
 * plaintext client is told what it needs to hear. Bounded in size and time; in memory.
 */
import type { RefusalCode } from '../errors.js';

export interface RememberedRefusal {
  code: RefusalCode;
  hostname: string | null;
  at: number;
}

export class RecentRefusals {
  private readonly map = new Map<string, RememberedRefusal>();

  constructor(
    private readonly ttlMs = 3_000,
    private readonly maxEntries = 10_000,
  ) {}

  remember(address: string, code: RefusalCode, hostname: string | null, now = Date.now()): void {
    this.map.delete(address); // re-insert at the end: Map keeps insertion order
    this.map.set(address, { code, hostname, at: now });
    if (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value!);
  }

  /** Returns and forgets the refusal remembered for `address`, if still fresh. */
  take(address: string, now = Date.now()): RememberedRefusal | null {
    const r = this.map.get(address);
    if (!r) return null;
    this.map.delete(address);
    return now - r.at > this.ttlMs ? null : r;
  }
}
