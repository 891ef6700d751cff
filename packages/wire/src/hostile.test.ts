/**
 * Hostile input for every parser in this package: random bytes, mutated real and built
 * frames, arbitrary TCP segmentation and TLS record framing. Each property is a bounded
 * run with a printed seed (`FC_SEED=<seed>` replays a failure, see @switchyard/testkit/fuzz).
 *
 * What "never throws or hangs" means here: every call returns one of need-more / ok / error
 * synchronously, a decision (ok or error) never changes when more bytes arrive (so the proxy
 * may act on the first one), and the incremental assembler agrees with the pure parser at
 * every prefix.
 */
import { readFileSync } from 'node:fs';
import { fuzz } from '@switchyard/testkit/fuzz';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildCancelRequest,
  buildErrorResponse,
  buildGssEncRequest,
  buildSslRequest,
  buildStartupMessage,
  parseBackendMessage,
  parseErrorFields,
  parseStartupPacket,
  PG_MAX_STARTUP_PACKET_LENGTH,
  PG_PROTOCOL_3_0,
  PG_PROTOCOL_3_2,
} from './postgres.js';
import { BackendKeyRewriter, buildBackendKeyData, buildBackendMessage, buildReadyForQuery, extractEndpointOption, type BackendKey } from './postgres-session.js';
import type { ParseResult } from './result.js';
import { buildClientHello, frameRecords } from './tls-builders.js';
import { ClientHelloAssembler, parseClientHello, TLS_RECORD_HEADER_LENGTH, type ClientHello } from './tls-client-hello.js';

const STATUSES = ['need-more', 'ok', 'error'];

function fixture(name: string): Buffer {
  const hex = readFileSync(new URL(`../fixtures/${name}.hex`, import.meta.url), 'utf8');
  return Buffer.concat(hex.trim().split('\n').map((l) => Buffer.from(l, 'hex')));
}

/** The handshake message inside a single-record captured hello. */
function handshakeOf(hello: Buffer): Buffer {
  return hello.subarray(TLS_RECORD_HEADER_LENGTH, TLS_RECORD_HEADER_LENGTH + hello.readUInt16BE(3));
}

const captured = ['chromium-pq', 'curl', 'openssl-s_client-alpn', 'psql-15'].map((name) => ({ name, bytes: fixture(name) }));
const pq = captured[0]!.bytes;

/** Splits `bytes` at the given (unsorted, possibly out of range) offsets. */
function chunksOf(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let p = 0;
  for (const c of [...points, bytes.length]) {
    if (c > p) out.push(bytes.subarray(p, c));
    p = Math.max(p, c);
  }
  return out;
}

/** Applies edits (overwrite, insert, delete) to a copy of `base`. */
type Edit = { at: number; op: 'set' | 'insert' | 'delete'; value: number };
const editArb = fc.record({ at: fc.nat(), op: fc.constantFrom<Edit['op']>('set', 'insert', 'delete'), value: fc.integer({ min: 0, max: 255 }) });
function mutate(base: Uint8Array, edits: Edit[]): Buffer {
  const b = [...base];
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % b.length;
    if (e.op === 'set' && b.length > 0) b[at] = e.value;
    else if (e.op === 'insert') b.splice(at, 0, e.value);
    else if (e.op === 'delete') b.splice(at, 1);
  }
  return Buffer.from(b);
}

/** Random bytes, and random bytes behind a plausible TLS record / handshake header so the parser gets deep. */
const helloLikeBytes = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 2100 }), fc.uint8Array({ maxLength: 2200 })).map(([minor, len, rest]) =>
    Buffer.concat([Buffer.from([22, 3, minor, len >> 8, len & 0xff, 1]), rest]),
  ),
  fc.tuple(fc.nat(captured.length - 1), fc.array(editArb, { minLength: 1, maxLength: 8 })).map(([i, edits]) => mutate(captured[i]!.bytes, edits)),
);

function checkHelloResult(r: ParseResult<ClientHello, string>, input: Uint8Array): void {
  expect(STATUSES).toContain(r.status);
  if (r.status === 'ok') {
    expect(r.consumed).toBeLessThanOrEqual(input.length);
    // A name the proxy will look up: LDH, dot, underscore, colon only, at most 255 bytes.
    if (r.value.serverName !== null) expect(r.value.serverName).toMatch(/^[A-Za-z0-9._:-]{1,255}$/);
  }
  if (r.status === 'error') expect(r.message.length).toBeGreaterThan(0);
}

describe('ClientHello parser under hostile input', () => {
  it('returns a decision or need-more for random and structured garbage', () => {
    fuzz(
      fc.property(helloLikeBytes, (bytes) => {
        checkHelloResult(parseClientHello(bytes), bytes);
        checkHelloResult(parseClientHello(bytes, { maxHelloBytes: 512 }), bytes);
      }),
      3000,
    );
  });

  it('never changes a decision when more bytes arrive', () => {
    fuzz(
      fc.property(helloLikeBytes, fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes, more) => {
        const first = parseClientHello(bytes);
        const later = parseClientHello(Buffer.concat([bytes, more]));
        if (first.status === 'need-more') return;
        expect(later.status).toBe(first.status);
        if (first.status === 'error') expect(later).toEqual(first);
        if (first.status === 'ok' && later.status === 'ok') {
          expect(later.consumed).toBe(first.consumed);
          expect(later.value).toEqual(first.value);
        }
      }),
      2000,
    );
  });

  it('the incremental assembler agrees with the pure parser at every chunk boundary', () => {
    fuzz(
      fc.property(helloLikeBytes, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        const asm = new ClientHelloAssembler();
        let received = Buffer.alloc(0);
        for (const chunk of chunksOf(bytes, cuts)) {
          received = Buffer.concat([received, chunk]);
          const incremental = asm.feed(received);
          expect(incremental).toEqual(parseClientHello(received));
        }
      }),
      1500,
    );
  });

  it('reads every captured hello (the 1.9 KB post-quantum one included) under any record framing and TCP segmentation', () => {
    fuzz(
      fc.property(
        fc.nat(captured.length - 1),
        fc.integer({ min: 1, max: 2100 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (i, recordSize, cuts) => {
          const { bytes } = captured[i]!;
          const expected = parseClientHello(bytes);
          expect(expected.status).toBe('ok');
          const framed = frameRecords(handshakeOf(bytes), recordSize, bytes.readUInt16BE(1));
          const asm = new ClientHelloAssembler();
          let received = Buffer.alloc(0);
          let r: ParseResult<ClientHello, string> = { status: 'need-more' };
          for (const chunk of chunksOf(framed, cuts)) {
            expect(r.status, 'decided before the last byte arrived').toBe('need-more');
            received = Buffer.concat([received, chunk]);
            r = asm.feed(received);
          }
          expect(r.status).toBe('ok');
          if (r.status !== 'ok' || expected.status !== 'ok') return;
          expect(r.consumed).toBe(framed.length);
          expect({ ...r.value, records: 0 }).toEqual({ ...expected.value, records: 0 });
          expect(r.value.records).toBe(Math.ceil(handshakeOf(bytes).length / recordSize));
        },
      ),
      400,
    );
  });

  it('the post-quantum hello is 1–2 KB and needs several TCP segments at a 1,460-byte MSS', () => {
    expect(pq.length).toBeGreaterThan(1460);
    expect(pq.length).toBeLessThan(2048);
    const r = parseClientHello(pq.subarray(0, 1460));
    expect(r.status).toBe('need-more');
  });

  it('refuses a hello trickled in one-byte records once it outgrows the limit, from the header alone', () => {
    const big = buildClientHello({ keyShareBytes: 20000, recordSize: 1 });
    const asm = new ClientHelloAssembler();
    // The 4-byte handshake header arrives in the first four one-byte records (24 bytes).
    let r: ParseResult<ClientHello, string> = { status: 'need-more' };
    let fed = 0;
    while (r.status === 'need-more' && fed < big.length) r = asm.feed(big.subarray(0, ++fed));
    expect(r).toMatchObject({ status: 'error', code: 'hello-too-large' });
    expect(fed).toBe(4 * (TLS_RECORD_HEADER_LENGTH + 1));
  });
});

describe('PostgreSQL startup parser under hostile input', () => {
  const valid = fc.oneof(
    fc.constant(buildSslRequest()),
    fc.constant(buildGssEncRequest()),
    fc.tuple(fc.integer(), fc.uint8Array({ minLength: 4, maxLength: 256 })).map(([pid, key]) => buildCancelRequest(pid, key)),
    fc
      .tuple(
        fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/), fc.string({ maxLength: 40 }).map((s) => s.replaceAll('\0', ''))),
        fc.constantFrom(PG_PROTOCOL_3_0, PG_PROTOCOL_3_2, (3 << 16) | 9999, (3 << 16) | 0xffff),
      )
      .map(([params, version]) => buildStartupMessage(params, version)),
  );
  const startupLike = fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc.tuple(valid, fc.array(editArb, { minLength: 1, maxLength: 6 })).map(([b, edits]) => mutate(b, edits)),
    valid,
  );

  it('returns a decision or need-more for random bytes and mutated valid packets', () => {
    fuzz(
      fc.property(startupLike, (bytes) => {
        const r = parseStartupPacket(bytes);
        expect(STATUSES).toContain(r.status);
        if (r.status === 'ok') expect(r.consumed).toBeLessThanOrEqual(Math.min(bytes.length, PG_MAX_STARTUP_PACKET_LENGTH));
      }),
      5000,
    );
  });

  it('never changes a decision when more bytes arrive, and never needs more than 10,000 bytes', () => {
    fuzz(
      fc.property(startupLike, fc.uint8Array({ minLength: 1, maxLength: 32 }), (bytes, more) => {
        const first = parseStartupPacket(bytes);
        const later = parseStartupPacket(Buffer.concat([bytes, more]));
        if (first.status === 'need-more') {
          expect(bytes.length).toBeLessThan(PG_MAX_STARTUP_PACKET_LENGTH);
          return;
        }
        expect(later).toEqual(first);
      }),
      3000,
    );
    // The largest packet that can still be waited for is capped: 10,000 bytes then a decision.
    const huge = Buffer.alloc(PG_MAX_STARTUP_PACKET_LENGTH + 1, 0x41);
    huge.writeInt32BE(PG_MAX_STARTUP_PACKET_LENGTH, 0);
    huge.writeInt32BE(PG_PROTOCOL_3_0, 4);
    expect(parseStartupPacket(huge.subarray(0, PG_MAX_STARTUP_PACKET_LENGTH - 1)).status).toBe('need-more');
    expect(parseStartupPacket(huge).status).toBe('error');
  });

  it('keeps any 3.x protocol version and every parameter as sent (what passthrough relies on)', () => {
    fuzz(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/), fc.string({ maxLength: 40 }).map((s) => s.replaceAll('\0', ''))),
        fc.integer({ min: 0, max: 0xffff }),
        (params, minor) => {
          const version = (3 << 16) | minor;
          const r = parseStartupPacket(buildStartupMessage(params, version));
          expect(r.status).toBe('ok');
          if (r.status === 'ok' && r.value.kind === 'startup') {
            expect(r.value.protocolVersion).toBe(version);
            expect({ ...r.value.parameters }).toEqual(params);
          }
        },
      ),
      500,
    );
  });

  it('accepts cancel keys of 4 to 256 bytes (protocol 3.2) and nothing outside', () => {
    for (const n of [4, 32, 256]) expect(parseStartupPacket(buildCancelRequest(1, Buffer.alloc(n, 1))).status).toBe('ok');
    for (const n of [0, 3, 257]) expect(parseStartupPacket(buildCancelRequest(1, Buffer.alloc(n, 1)))).toMatchObject({ code: 'bad-length' });
  });
});

describe('backend message and error field parsers under hostile input', () => {
  it('never throw on random bytes and stay within the buffer', () => {
    fuzz(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.tuple(fc.string({ maxLength: 60 }), fc.array(editArb, { maxLength: 6 })).map(([m, edits]) =>
            mutate(buildErrorResponse({ sqlstate: '08P01', message: m, hint: m }), edits),
          ),
        ),
        (bytes) => {
          const r = parseBackendMessage(bytes);
          expect(STATUSES).toContain(r.status);
          if (r.status === 'ok') {
            expect(r.consumed).toBeLessThanOrEqual(bytes.length);
            expect(typeof parseErrorFields(r.value.body)).toBe('object');
          }
          expect(typeof parseErrorFields(bytes)).toBe('object');
        },
      ),
      3000,
    );
  });
});

describe('startup-phase session parsers (terminate mode) under hostile input', () => {
  it('extractEndpointOption never throws, and what it leaves names no endpoint (idempotent)', () => {
    fuzz(
      fc.property(
        fc.oneof(fc.string({ maxLength: 200 }), fc.array(fc.constantFrom('endpoint=a', '--endpoint=b', '\\ ', ' ', '-c', 'x=1', '\\', 'endpoint='), { maxLength: 8 }).map((p) => p.join(''))),
        (options) => {
          const r = extractEndpointOption(options);
          expect(['ok', 'error']).toContain(r.status);
          if (r.status === 'ok' && r.value.rest !== null) expect(extractEndpointOption(r.value.rest)).toEqual({ status: 'ok', value: { endpoint: null, rest: r.value.rest } });
        },
      ),
      3000,
    );
  });

  /** A server's startup flight: auth ok, parameters, BackendKeyData (4..256-byte key), ReadyForQuery, then session bytes. */
  const flight = fc
    .tuple(
      fc.array(fc.tuple(fc.constantFrom('R', 'S', 'N', 'v'), fc.uint8Array({ maxLength: 80 })), { maxLength: 6 }),
      fc.integer(),
      fc.uint8Array({ minLength: 4, maxLength: 256 }),
      fc.uint8Array({ maxLength: 100 }),
    )
    .map(([msgs, pid, key, after]) => ({
      bytes: Buffer.concat([...msgs.map(([t, b]) => buildBackendMessage(t, b)), buildBackendKeyData({ processId: pid, secretKey: Buffer.from(key) }), buildReadyForQuery(), after]),
      key: { processId: pid, secretKey: Buffer.from(key) },
    }));

  it('BackendKeyRewriter passes every byte through unchanged when the minted key is the original, at any chunking', () => {
    fuzz(
      fc.property(flight, fc.array(fc.nat(), { maxLength: 10 }), ({ bytes, key }, cuts) => {
        const seen: BackendKey[] = [];
        const rw = new BackendKeyRewriter((k) => (seen.push(k), k));
        const out: Buffer[] = [];
        for (const chunk of chunksOf(bytes, cuts)) {
          const r = rw.feed(Buffer.from(chunk));
          expect(r.status).toBe('ok');
          if (r.status === 'ok') out.push(...r.out);
        }
        expect(rw.done).toBe(true);
        expect(Buffer.concat(out).equals(bytes)).toBe(true);
        expect(seen).toEqual([key]);
      }),
      1500,
    );
  });

  it('BackendKeyRewriter never throws on random or mutated server bytes', () => {
    fuzz(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
          fc.tuple(flight, fc.array(editArb, { minLength: 1, maxLength: 6 })).map(([f, edits]) => mutate(f.bytes, edits)),
        ),
        fc.array(fc.nat(), { maxLength: 6 }),
        (bytes, cuts) => {
          const rw = new BackendKeyRewriter((k) => ({ processId: 1, secretKey: Buffer.alloc(k.secretKey.length, 9) }));
          for (const chunk of chunksOf(bytes, cuts)) {
            const r = rw.feed(Buffer.from(chunk));
            expect(['ok', 'error']).toContain(r.status);
            if (r.status === 'error') break;
          }
        },
      ),
      3000,
    );
  });
});
