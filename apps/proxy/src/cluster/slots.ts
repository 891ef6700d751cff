/**
 * Connection caps across workers. The primary holds the counts (`SlotBroker`, one
 * `ConnectionCounts` for the whole process) and remembers which worker holds which slots, so
 * a worker that dies gives all of its slots back at once. Workers (`IpcLimits`) ask only for
 * routes with a cap: uncapped routes never leave the worker, and their connections are not
 * counted — a cap set later counts the connections opened after it (in a single process,
 * every connection is counted; see docs/proxy.md "Cluster mode").
 */
import type { RefusalCode } from '../errors.js';
import { ConnectionCounts, isCapped, type ConnectionLimits, type SlotKey } from '../policy/limits.js';

const holdKey = (k: SlotKey) => `${k.routeId}\u0000${k.tenantId}`;

export class SlotBroker {
  readonly counts = new ConnectionCounts();
  /** worker id → slot (route, tenant) → slots held. */
  private readonly held = new Map<number, Map<string, { key: SlotKey; n: number }>>();

  acquire(worker: number, key: SlotKey): RefusalCode | null {
    const refusal = this.counts.acquire(key);
    if (refusal) return refusal;
    let mine = this.held.get(worker);
    if (!mine) this.held.set(worker, (mine = new Map()));
    const k = holdKey(key);
    const h = mine.get(k);
    if (h) h.n++;
    else mine.set(k, { key, n: 1 });
    return null;
  }

  /** Returns one slot; ignored when the worker holds none for this key (already released at its death). */
  release(worker: number, key: SlotKey): void {
    const mine = this.held.get(worker);
    const k = holdKey(key);
    const h = mine?.get(k);
    if (!mine || !h) return;
    this.counts.release(key);
    if (--h.n === 0) mine.delete(k);
    if (mine.size === 0) this.held.delete(worker);
  }

  /** A worker is gone: every slot it held is free again. Returns how many. */
  releaseWorker(worker: number): number {
    const mine = this.held.get(worker);
    if (!mine) return 0;
    let n = 0;
    for (const h of mine.values()) {
      for (let i = 0; i < h.n; i++) this.counts.release(h.key);
      n += h.n;
    }
    this.held.delete(worker);
    return n;
  }

  /** Slots a worker holds (tests, status). */
  heldBy(worker: number): number {
    let n = 0;
    for (const h of this.held.get(worker)?.values() ?? []) n += h.n;
    return n;
  }
}

export type SlotRequest = { t: 'acquire'; id: number; key: SlotKey } | { t: 'release'; key: SlotKey };

/**
 * A worker's view of the caps: uncapped routes are admitted at once (synchronously, no IPC);
 * capped ones wait for the primary's answer, the one place the hot path awaits IPC.
 */
export class IpcLimits implements ConnectionLimits {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: RefusalCode | null) => void; reject: (e: Error) => void }>();

  /** `send` returns false when the channel to the primary is gone. */
  constructor(private readonly send: (msg: SlotRequest) => boolean) {}

  acquire(key: SlotKey): RefusalCode | null | Promise<RefusalCode | null> {
    if (!isCapped(key)) return null;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (!this.send({ t: 'acquire', id, key })) {
        this.pending.delete(id);
        reject(new Error('primary unreachable'));
      }
    });
  }

  release(key: SlotKey): void {
    if (!isCapped(key)) return;
    this.send({ t: 'release', key });
  }

  /** The primary's answer to `acquire` number `id`. */
  answer(id: number, refusal: RefusalCode | null): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.resolve(refusal);
  }

  /** The channel closed: nobody will answer. */
  failAll(): void {
    for (const p of this.pending.values()) p.reject(new Error('primary unreachable'));
    this.pending.clear();
  }

  get waiting(): number {
    return this.pending.size;
  }
}
