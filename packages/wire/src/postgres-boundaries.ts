/**
 * Where PostgreSQL protocol messages begin and end in a byte stream, without reading them.
 *
 * After the startup packet every message in either direction is a 1-byte type and an Int32
 * length that counts itself but not the type byte, then `length - 4` bytes of body
 * (https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-MESSAGE-CONCEPTS).
 * A proxy that forwards a plaintext session may write a message of its own into the stream
 * only between two of the peer's messages; `PgMessageBoundaries` says where those points are.
 *
 * It is a push state machine over chunks as they arrive: the state is the number of body
 * bytes of the current message still to come, plus, while a 5-byte header is split across
 * chunks, the header bytes seen. A chunk costs one step per message that starts in it (a
 * body is skipped in one subtraction), nothing is copied or allocated, and no length is
 * buffered against: a 1 GB DataRow is tracked like a 10-byte one.
 *
 * A length below 4 (or above Int32's maximum, a negative Int32) is impossible in PostgreSQL:
 * the stream is then `lost` — never at a boundary again — and feeding it costs nothing more.
 */

/** Bytes of a message header: the type byte and the Int32 length. */
const HEADER = 5;
/** The largest length an Int32 can carry; anything above is a negative Int32 on the wire. */
export const PG_MAX_MESSAGE_LENGTH = 0x7fffffff;

export class PgMessageBoundaries {
  /** Body bytes of the current message still to come. */
  private left = 0;
  /** Header bytes of the next message seen so far (0 between messages or inside a body). */
  private head = 0;
  /** The length field, as far as its bytes have arrived (split headers only). */
  private len = 0;
  private broken = false;

  /** Between two messages: a message of the proxy's own may be written here. */
  get atBoundary(): boolean {
    return this.left === 0 && this.head === 0 && !this.broken;
  }

  /** An impossible length was seen: not PostgreSQL; no boundary will ever be reported again. */
  get lost(): boolean {
    return this.broken;
  }

  /** Advances over a whole chunk. */
  feed(chunk: Uint8Array): void {
    this.advance(chunk, false);
  }

  /**
   * Advances to the end of the current message and no further: the offset in `chunk` of the
   * first boundary (0 when already at one; `chunk.length` when the chunk ends exactly there),
   * or -1 when the chunk ends before the current message does (all of it consumed).
   */
  toBoundary(chunk: Uint8Array): number {
    if (this.atBoundary) return 0;
    return this.advance(chunk, true);
  }

  /** One step per message header; bodies are skipped. With `stop`, returns at the first boundary. */
  private advance(chunk: Uint8Array, stop: boolean): number {
    const n = chunk.length;
    let p = 0;
    for (;;) {
      // The rest of the current message's body.
      if (this.left > 0) {
        if (this.left > n - p) {
          this.left -= n - p;
          return -1;
        }
        p += this.left;
        this.left = 0;
        if (stop) return p;
      }
      if (this.broken) return -1;
      // A header cut by the previous chunk's end: its remaining bytes, one at a time.
      while (this.head > 0 && p < n) {
        this.len = (this.len << 8) | chunk[p++]!;
        if (++this.head < HEADER) continue;
        const len = this.len;
        this.head = 0;
        this.len = 0;
        if (!this.begin(len)) return -1;
        if (stop && this.left === 0) return p; // an empty body: that message ended here
      }
      if (p === n) return -1;
      if (this.left > 0) continue;
      // Whole headers in this chunk (the usual case): hop from header to header.
      while (n - p >= HEADER) {
        // Int32 arithmetic: a length above 2^31 - 1 reads as negative, and is refused with those below 4.
        const len = (chunk[p + 1]! << 24) | (chunk[p + 2]! << 16) | (chunk[p + 3]! << 8) | chunk[p + 4]!;
        if (len < 4) {
          this.broken = true;
          return -1;
        }
        const next = p + 1 + len;
        if (next > n) {
          this.left = next - n;
          return -1;
        }
        p = next;
        if (stop) return p;
      }
      if (p === n) return -1;
      // Fewer than five bytes left: a header the next chunk completes (its type byte is not needed).
      this.head = n - p;
      for (p++; p < n; p++) this.len = (this.len << 8) | chunk[p]!;
      return -1;
    }
  }

  /**
   * A header is complete: its body follows. False (and lost for good) if `len` is impossible:
   * below 4, or negative (read as Int32: above PG_MAX_MESSAGE_LENGTH).
   */
  private begin(len: number): boolean {
    if (len < 4) {
      this.broken = true;
      return false;
    }
    this.left = len - 4;
    return true;
  }
}
