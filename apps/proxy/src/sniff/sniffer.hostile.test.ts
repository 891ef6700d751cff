/**
 * The proxy's sniffers under hostile input: random bytes, valid openings followed by
 * garbage, mutated captured hellos, any TCP segmentation and TLS record framing. Bounded,
 * seeded runs (`FC_SEED=<seed>` replays a failure).
 *
 * "Never hangs" is a byte bound: whatever a client sends, each sniffer reaches a decision
 * (hello or refusal) before it has buffered `DECISION_BOUND` bytes; the handshake deadline
 * covers clients that send less.
 */
import { readFileSync } from 'node:fs';
import {
  buildCancelRequest,
  buildClientHelloMessage,
  buildGssEncRequest,
  buildSslRequest,
  buildStartupMessage,
  frameRecords,
  PG_MAX_STARTUP_PACKET_LENGTH,
  TLS_RECORD_HEADER_LENGTH,
} from '@switchyard/wire';
import { fuzz } from '@switchyard/testkit/fuzz';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PostgresSniffer, TlsSniffer, type Sniffer, type SniffResult } from './sniffer.js';

const MAX_HELLO = 4096;
/** HelloReader's allowance for record headers beyond the hello limit (sniffer.ts). */
const RECORD_OVERHEAD_ALLOWANCE = 4096;
/** GSSENCRequest (8) + SSLRequest (8) + the larger of a startup packet or a capped hello. */
const DECISION_BOUND = 16 + Math.max(PG_MAX_STARTUP_PACKET_LENGTH, MAX_HELLO + RECORD_OVERHEAD_ALLOWANCE) + 1;

function fixture(name: string): Buffer {
  const hex = readFileSync(new URL(`../../../../packages/wire/fixtures/${name}.hex`, import.meta.url), 'utf8');
  return Buffer.concat(hex.trim().split('\n').map((l) => Buffer.from(l, 'hex')));
}
const captured = ['chromium-pq', 'curl', 'openssl-s_client-alpn', 'psql-15'].map(fixture);

/** Feeds `bytes` in pieces of the given sizes (cycled) until a decision; returns all results. */
function feedAll(sniffer: Sniffer, bytes: Uint8Array, sizes: number[]): { results: SniffResult[]; fed: number } {
  const results: SniffResult[] = [];
  let p = 0;
  let i = 0;
  while (p < bytes.length) {
    const n = Math.max(1, sizes.length ? sizes[i++ % sizes.length]! : bytes.length);
    const r = sniffer.feed(bytes.subarray(p, p + n));
    p = Math.min(bytes.length, p + n);
    if (r.type === 'need-more') continue;
    results.push(r);
    if (r.type === 'hello' || r.type === 'refuse' || r.type === 'cancel') break;
  }
  return { results, fed: p };
}

const decided = (results: SniffResult[]) => ['hello', 'refuse', 'cancel'].includes(results.at(-1)?.type ?? '');

/** Openings a client may send, valid or not, to drive the sniffers into every state. */
const opening = fc.oneof(
  fc.constant(buildSslRequest()),
  fc.constant(buildGssEncRequest()),
  fc.constant(Buffer.concat([buildGssEncRequest(), buildSslRequest()])),
  fc.constant(buildStartupMessage({ user: 'u', database: 'd' })),
  fc.constant(buildCancelRequest(7, Buffer.alloc(4, 1))),
  // A record and handshake header announcing a hello just under the limit, then garbage.
  fc.constant(Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0, (MAX_HELLO - 8) >> 8, (MAX_HELLO - 8) & 0xff])),
  fc.constant(Buffer.concat([buildSslRequest(), Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0, 0x0f, 0xf0])])),
  // A startup packet that announces the largest allowed length.
  fc.constant(Buffer.from([0, 0, PG_MAX_STARTUP_PACKET_LENGTH >> 8, PG_MAX_STARTUP_PACKET_LENGTH & 0xff, 0, 3, 0, 0])),
  fc.nat(captured.length - 1).map((i) => captured[i]!),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
);
const filler = fc.oneof(fc.constant(0x00), fc.constant(0x16), fc.constant(0x41), fc.integer({ min: 0, max: 255 }));
const chunkSizes = fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 8 });
const sniffers: Array<[string, () => Sniffer]> = [
  ['TlsSniffer', () => new TlsSniffer(MAX_HELLO)],
  ['PostgresSniffer', () => new PostgresSniffer(MAX_HELLO)],
];

describe.each(sniffers)('%s under hostile input', (_name, make) => {
  it('never throws on random bytes and mutated openings, whatever the chunking', () => {
    fuzz(
      fc.property(fc.array(opening, { maxLength: 3 }), fc.uint8Array({ maxLength: 700 }), chunkSizes, (parts, tail, sizes) => {
        const { results } = feedAll(make(), Buffer.concat([...parts, tail]), sizes);
        for (const r of results) expect(['reply', 'hello', 'refuse', 'cancel']).toContain(r.type);
      }),
      1500,
    );
  });

  it(`decides within ${DECISION_BOUND} bytes whatever follows any opening (no endless buffering)`, () => {
    fuzz(
      fc.property(opening, filler, chunkSizes, (start, fill, sizes) => {
        const stream = Buffer.concat([start, Buffer.alloc(DECISION_BOUND, fill)]);
        const { results, fed } = feedAll(make(), stream, sizes);
        expect(decided(results), `undecided after ${fed} bytes`).toBe(true);
      }),
      300,
    );
  });

  it('keeps answering replies only as the protocol allows: at most one S and one N', () => {
    fuzz(
      fc.property(fc.array(opening, { minLength: 1, maxLength: 5 }), chunkSizes, (parts, sizes) => {
        const { results } = feedAll(make(), Buffer.concat(parts), sizes);
        const replies = results.filter((r) => r.type === 'reply').map((r) => (r.type === 'reply' ? r.bytes.toString() : ''));
        expect(replies.filter((b) => b === 'S').length).toBeLessThanOrEqual(1);
        expect(replies.filter((b) => b === 'N').length).toBeLessThanOrEqual(1);
        // 'N' (GSSENC refused) can only come before 'S'.
        if (replies.includes('N') && replies.includes('S')) expect(replies.indexOf('N')).toBeLessThan(replies.indexOf('S'));
      }),
      1000,
    );
  });
});

describe('a 1–2 KB post-quantum ClientHello across TCP segments and TLS records', () => {
  const pq = captured[0]!;
  const message = pq.subarray(TLS_RECORD_HEADER_LENGTH, TLS_RECORD_HEADER_LENGTH + pq.readUInt16BE(3));

  it('is routed by SNI and replayed byte for byte, by both sniffers, direct or after SSLRequest', () => {
    fuzz(
      fc.property(fc.integer({ min: 1, max: 2100 }), chunkSizes, fc.constantFrom('tls', 'pg-direct', 'pg-starttls'), (recordSize, sizes, path) => {
        const hello = frameRecords(message, recordSize, 0x0301);
        const sniffer = path === 'tls' ? new TlsSniffer(16384) : new PostgresSniffer(16384);
        if (path === 'pg-starttls') expect(sniffer.feed(buildSslRequest())).toEqual({ type: 'reply', bytes: Buffer.from('S') });
        const { results, fed } = feedAll(sniffer, hello, sizes);
        expect(fed).toBe(hello.length);
        const r = results.at(-1);
        expect(r?.type).toBe('hello');
        if (r?.type !== 'hello') return;
        expect(r.hello.serverName).toBe('pq.acme.db.example.com');
        expect(r.hello.records).toBe(Math.ceil(message.length / recordSize));
        expect(r.bytes.equals(hello)).toBe(true);
        expect(r.viaSslRequest).toBe(path === 'pg-starttls');
      }),
      300,
    );
  });

  it('a builder hello with a 1,216-byte key share split into 100-byte records, one byte per segment', () => {
    const message = buildClientHelloMessage({ serverName: 'pq2.acme.db.example.com', keyShareBytes: 1216 + 32 });
    const hello = frameRecords(message, 100);
    expect(hello.length).toBeGreaterThan(1024);
    expect(hello.length).toBeLessThan(2048);
    const { results } = feedAll(new TlsSniffer(16384), hello, [1]);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ type: 'hello', hello: { serverName: 'pq2.acme.db.example.com', records: Math.ceil(message.length / 100) } });
  });
});
