import { fuzz } from '@switchyard/testkit/fuzz';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PgMessageBoundaries } from './postgres-boundaries.js';
import { buildErrorResponse } from './postgres.js';
import { buildBackendKeyData, buildBackendMessage, buildReadyForQuery } from './postgres-session.js';

/** A stream and the offsets where its messages end (every one a boundary; 0 is one too). */
function streamOf(messages: Buffer[]): { bytes: Buffer; ends: number[] } {
  const ends: number[] = [];
  let at = 0;
  for (const m of messages) ends.push((at += m.length));
  return { bytes: Buffer.concat(messages), ends };
}

/** The first boundary at or after `from`. */
function firstBoundary(ends: number[], from: number): number {
  return from === 0 ? 0 : (ends.find((e) => e >= from) ?? Number.NaN);
}

/** Cuts `bytes` at the given offsets (sorted, deduplicated, inside the buffer). */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((a) => Math.min(Math.max(a, 0), bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

const dataRow = (text: string) => {
  const v = Buffer.from(text);
  const body = Buffer.alloc(2 + 4 + v.length);
  body.writeInt16BE(1, 0);
  body.writeInt32BE(v.length, 2);
  v.copy(body, 6);
  return buildBackendMessage('D', body);
};

/** What a server sends for a query: description, rows, completion, ready — plus empty-body messages. */
const { bytes: session, ends } = streamOf([
  buildBackendMessage('1'), // ParseComplete: length 4, no body
  buildBackendMessage('T', Buffer.from('\x00\x01x\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00', 'latin1')),
  dataRow('one'),
  dataRow('x'.repeat(300)),
  dataRow(''),
  buildBackendMessage('C', Buffer.from('SELECT 3\x00')),
  buildBackendMessage('n'), // NoData: also empty
  buildErrorResponse({ severity: 'ERROR', sqlstate: '42P01', message: 'relation does not exist' }),
  buildBackendKeyData({ processId: 7, secretKey: Buffer.alloc(32, 1) }),
  buildReadyForQuery('I'),
]);

describe('PgMessageBoundaries', () => {
  it('is at a boundary exactly where messages end, whatever one split point (every offset)', () => {
    for (let i = 0; i <= session.length; i++) {
      const b = new PgMessageBoundaries();
      b.feed(session.subarray(0, i));
      expect(b.atBoundary, `after ${i} bytes`).toBe(i === 0 || ends.includes(i));
      b.feed(session.subarray(i));
      expect(b.atBoundary).toBe(true);
    }
  });

  it('finds the next boundary from every offset, with the rest in one chunk or cut again anywhere', () => {
    // Every (start, cut) pair: collected, then checked once (an expect per pair is slow).
    const wrong: string[] = [];
    for (let i = 0; i <= session.length; i++) {
      const want = firstBoundary(ends, i);
      const whole = new PgMessageBoundaries();
      whole.feed(session.subarray(0, i));
      if (whole.toBoundary(session.subarray(i)) !== want - i || !whole.atBoundary) wrong.push(`from ${i}: one chunk`);
      // The rest arrives in two chunks cut at j: -1 (all consumed) until the boundary is in one.
      for (let j = i; j <= session.length; j++) {
        const b = new PgMessageBoundaries();
        b.feed(session.subarray(0, i));
        const first = b.toBoundary(session.subarray(i, j));
        if (want <= j) {
          if (first !== want - i) wrong.push(`from ${i}, cut at ${j}: ${first}`);
        } else if (first !== -1 || b.atBoundary || b.toBoundary(session.subarray(j)) !== want - j) {
          wrong.push(`from ${i}, cut at ${j}: boundary in the second chunk`);
        }
        // At the boundary now, and past it the stream is tracked as before.
        if (!b.atBoundary) wrong.push(`from ${i}, cut at ${j}: not at the boundary`);
        b.feed(session.subarray(want));
        if (!b.atBoundary) wrong.push(`from ${i}, cut at ${j}: lost track after it`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('tracks headers split byte by byte across chunks', () => {
    const b = new PgMessageBoundaries();
    for (let i = 0; i < session.length; i++) {
      b.feed(session.subarray(i, i + 1));
      expect(b.atBoundary, `after byte ${i}`).toBe(ends.includes(i + 1));
    }
  });

  it('skips a huge body without buffering it: a 1 GB DataRow announced, a few bytes in', () => {
    const b = new PgMessageBoundaries();
    const head = Buffer.from([0x44, 0x40, 0x00, 0x00, 0x00]); // 'D', length 2^30
    b.feed(head);
    b.feed(Buffer.alloc(1000));
    expect(b.atBoundary).toBe(false);
    expect(b.toBoundary(Buffer.alloc(65536))).toBe(-1);
    expect(b.lost).toBe(false);
  });

  it('loses the stream for good on an impossible length (below 4, or a negative Int32)', () => {
    for (const len of [[0, 0, 0, 0], [0, 0, 0, 3], [0x80, 0, 0, 0], [0xff, 0xff, 0xff, 0xff]]) {
      for (let split = 0; split <= 5; split++) {
        const bad = Buffer.from([0x44, ...len]);
        const b = new PgMessageBoundaries();
        b.feed(bad.subarray(0, split));
        b.feed(bad.subarray(split));
        expect(b.lost, `length ${len.join(',')}, split at ${split}`).toBe(true);
        expect(b.atBoundary).toBe(false);
        b.feed(session);
        expect(b.atBoundary).toBe(false);
        expect(b.toBoundary(session)).toBe(-1);
      }
    }
  });

  it('agrees with a model on random message streams under random chunkings (property)', () => {
    const message = fc
      .tuple(fc.integer({ min: 0x20, max: 0x7e }), fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 3000 })))
      .map(([type, size]) => buildBackendMessage(String.fromCharCode(type), Buffer.alloc(size, type)));
    fuzz(
      fc.property(fc.array(message, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 30 }), fc.nat(), (messages, cuts, stopSeed) => {
        const { bytes, ends: msgEnds } = streamOf(messages);
        const chunks = cut(
          bytes,
          cuts.map((c) => c % (bytes.length + 1)),
        );
        // Fed chunk by chunk: at a boundary exactly when the bytes so far end a message.
        const b = new PgMessageBoundaries();
        let at = 0;
        for (const c of chunks) {
          b.feed(c);
          at += c.length;
          if (b.atBoundary !== (at === 0 || msgEnds.includes(at))) return false;
        }
        // Asked to stop from a random offset: the first boundary at or after it, in whichever chunk holds it.
        const from = stopSeed % (bytes.length + 1);
        const s = new PgMessageBoundaries();
        s.feed(bytes.subarray(0, from));
        const want = firstBoundary(msgEnds, from);
        let pos = from;
        for (const c of cut(
          bytes.subarray(from),
          cuts.map((x) => x % (bytes.length - from + 1)),
        )) {
          const r = s.toBoundary(c);
          if (r >= 0) return pos + r === want && s.atBoundary;
          pos += c.length;
          if (pos >= want) return false;
        }
        return want === bytes.length && pos === want && s.atBoundary;
      }),
      300,
    );
  });

  it('never throws on random bytes, however chunked', () => {
    fuzz(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        const b = new PgMessageBoundaries();
        for (const c of cut(Buffer.from(bytes), cuts)) {
          b.toBoundary(c);
          b.feed(c);
        }
        return typeof b.atBoundary === 'boolean';
      }),
      300,
    );
  });
});
