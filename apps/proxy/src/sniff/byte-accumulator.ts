/**
 * Collects the bytes a client sends before routing. Appends copy only the new chunk into a
 * buffer that doubles as needed, so a client that trickles its hello one byte per packet
 * costs linear, not quadratic, work.
 */
export class ByteAccumulator {
  /** Allocated on the first append: most hellos arrive whole and are never accumulated. */
  private buf: Buffer | null = null;
  private len = 0;

  constructor(private readonly initial = 1024) {}

  get length(): number {
    return this.len;
  }

  append(chunk: Uint8Array): void {
    const need = this.len + chunk.length;
    if (this.buf === null) this.buf = Buffer.allocUnsafe(Math.max(this.initial, need));
    if (need > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < need) size *= 2;
      const next = Buffer.allocUnsafe(size);
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.buf.set(chunk, this.len);
    this.len = need;
  }

  /** A view of the bytes so far; valid until the next append or reset. */
  view(): Buffer {
    return this.buf === null ? EMPTY : this.buf.subarray(0, this.len);
  }

  /** A copy that stays valid (the bytes replayed upstream). */
  take(): Buffer {
    const out = Buffer.from(this.view());
    this.len = 0;
    return out;
  }

  reset(): void {
    this.len = 0;
  }
}

const EMPTY = Buffer.alloc(0);
