/**
 * Cancel keys minted by the proxy for TLS-terminated PostgreSQL sessions.
 *
 * The client never sees the backend's own BackendKeyData: it gets a key minted here, and a
 * CancelRequest carrying that key (on a new connection, in plaintext or over TLS) is mapped
 * back to the backend that owns it. Keys are random (the secret part has as many bytes as
 * the backend's, at least 4; protocol 3.2 allows up to 256), single-use in the sense that an
 * entry disappears with its session, and looked up in constant time by their bytes.
 *
 * The top byte of the process id names the worker that minted the key, so in cluster mode a
 * worker that receives a cancel for a key it does not hold knows which worker to ask.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { BackendKey } from '@switchyard/wire';

export interface CancelTarget {
  routeId: string;
  host: string;
  port: number;
  /** The backend's own key, sent upstream in the forwarded CancelRequest. */
  backend: BackendKey;
}

interface Entry<T> {
  minted: BackendKey;
  target: T;
}

export class CancelKeyStore<T extends CancelTarget = CancelTarget> {
  private readonly entries = new Map<number, Entry<T>>();

  /** @param workerId 0–127; stored in the process id's top byte (kept positive). */
  constructor(
    readonly workerId = 0,
    private readonly maxEntries = 1_000_000,
  ) {
    if (!Number.isInteger(workerId) || workerId < 0 || workerId > 127) throw new RangeError('workerId must be 0–127');
  }

  get size(): number {
    return this.entries.size;
  }

  /** Mints a key for `target`; null when the store is full (the session then keeps the backend's key). */
  mint(target: T): BackendKey | null {
    if (this.entries.size >= this.maxEntries) return null;
    const keyLength = Math.max(4, target.backend.secretKey.length);
    for (;;) {
      const low = randomBytes(3).readUIntBE(0, 3);
      const processId = (this.workerId << 24) | low;
      if (processId === 0 || this.entries.has(processId)) continue;
      const minted: BackendKey = { processId, secretKey: randomBytes(keyLength) };
      this.entries.set(processId, { minted, target });
      return minted;
    }
  }

  /** The target of a minted key, or null when the key is unknown or the secret does not match. */
  lookup(processId: number, secretKey: Uint8Array): T | null {
    const e = this.entries.get(processId);
    if (!e || e.minted.secretKey.length !== secretKey.length) return null;
    return timingSafeEqual(e.minted.secretKey, secretKey) ? e.target : null;
  }

  /** Forget a session's key (its connection ended). */
  release(minted: BackendKey): void {
    const e = this.entries.get(minted.processId);
    if (e && e.minted === minted) this.entries.delete(minted.processId);
  }

  static workerOf(processId: number): number {
    return (processId >>> 24) & 0x7f;
  }
}
