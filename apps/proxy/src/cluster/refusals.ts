/**
 * `listener/recent-refusals.ts` across workers. libpq's sslmode=prefer retries in plaintext
 * on a new connection right after a refused TLS attempt, and round-robin hands that retry to
 * another worker, which must still explain the first refusal. So a worker that remembers a
 * refusal tells the primary, which tells every other worker; taking (using up) a memory is
 * announced the same way. The note leaves the worker before the TLS alert is written, and
 * the retry's connection reaches the other worker through the primary after it, on the same
 * ordered channel as the relayed note.
 */
import type { RefusalCode } from '../errors.js';
import { RecentRefusals, type RememberedRefusal } from '../listener/recent-refusals.js';

export type RefusalNote = { t: 'refusal'; address: string; code: RefusalCode; hostname: string | null } | { t: 'refusal-taken'; address: string };

export class SharedRecentRefusals extends RecentRefusals {
  constructor(private readonly send: (note: RefusalNote) => boolean) {
    super();
  }

  override remember(address: string, code: RefusalCode, hostname: string | null, now = Date.now()): void {
    this.send({ t: 'refusal', address, code, hostname });
    super.remember(address, code, hostname, now);
  }

  override take(address: string, now = Date.now()): RememberedRefusal | null {
    const r = super.take(address, now);
    if (r) this.send({ t: 'refusal-taken', address });
    return r;
  }

  /** A note another worker sent (through the primary). */
  applyNote(note: RefusalNote): void {
    if (note.t === 'refusal') super.remember(note.address, note.code, note.hostname);
    else super.take(note.address);
  }
}
