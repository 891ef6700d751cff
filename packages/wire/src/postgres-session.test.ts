import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildErrorResponse } from './postgres.js';
import {
  BackendKeyRewriter,
  buildBackendKeyData,
  buildBackendMessage,
  buildReadyForQuery,
  extractEndpointOption,
  type BackendKey,
} from './postgres-session.js';

describe('extractEndpointOption', () => {
  const value = (options: string | undefined) => {
    const r = extractEndpointOption(options);
    if (r.status !== 'ok') throw new Error(r.message);
    return r.value;
  };

  it('finds the Neon-style switch and removes it', () => {
    expect(value('endpoint=orders.acme')).toEqual({ endpoint: 'orders.acme', rest: null });
    expect(value('--endpoint=orders')).toEqual({ endpoint: 'orders', rest: null });
    expect(value('-c search_path=app endpoint=orders  -c statement_timeout=5s')).toEqual({
      endpoint: 'orders',
      rest: '-c search_path=app -c statement_timeout=5s',
    });
  });

  it('leaves other options alone, escapes included', () => {
    expect(value(undefined)).toEqual({ endpoint: null, rest: null });
    expect(value('')).toEqual({ endpoint: null, rest: null });
    expect(value('-c application_name=a\\ b')).toEqual({ endpoint: null, rest: '-c application_name=a\\ b' });
    // An escaped space inside the endpoint switch is part of the value, not a separator.
    expect(value('endpoint=a\\ b')).toEqual({ endpoint: 'a b', rest: null });
  });

  it('accepts a repeated identical endpoint and refuses two different ones', () => {
    expect(value('endpoint=x endpoint=x')).toEqual({ endpoint: 'x', rest: null });
    expect(extractEndpointOption('endpoint=x endpoint=y')).toMatchObject({ status: 'error', code: 'conflicting-endpoints' });
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => void extractEndpointOption(s)));
  });
});

/** A realistic startup response: auth ok, parameters, key, ready. */
function startupResponse(key: BackendKey): Buffer {
  return Buffer.concat([
    buildBackendMessage('R', Buffer.from([0, 0, 0, 0])),
    buildBackendMessage('S', Buffer.from('server_version\x0018.1\x00', 'latin1')),
    buildBackendMessage('S', Buffer.from('client_encoding\x00UTF8\x00', 'latin1')),
    buildBackendKeyData(key),
    buildReadyForQuery(),
  ]);
}

const minted: BackendKey = { processId: 777, secretKey: Buffer.from('proxykey') };

function rewriteAll(chunks: Buffer[], mint = () => minted) {
  const seen: BackendKey[] = [];
  const r = new BackendKeyRewriter((k) => {
    seen.push(k);
    return mint();
  });
  const out: Buffer[] = [];
  let doneAt = -1;
  chunks.forEach((c, i) => {
    const res = r.feed(c);
    if (res.status !== 'ok') throw new Error(res.message);
    out.push(...res.out);
    if (res.done && doneAt < 0) doneAt = i;
  });
  return { out: Buffer.concat(out), seen, doneAt, done: r.done };
}

describe('BackendKeyRewriter', () => {
  const original: BackendKey = { processId: 4242, secretKey: Buffer.from([9, 9, 9, 9]) };
  const trailing = buildBackendMessage('C', Buffer.from('SELECT 1\x00', 'latin1'));
  const stream = Buffer.concat([startupResponse(original), trailing]);
  const expected = Buffer.concat([startupResponse(minted), trailing]);

  it('swaps the key and forwards everything else byte for byte', () => {
    const r = rewriteAll([stream]);
    expect(r.out.equals(expected)).toBe(true);
    expect(r.seen).toEqual([original]);
    expect(r.done).toBe(true);
  });

  it('gives the same bytes whatever the chunk boundaries (every split offset)', () => {
    for (let i = 0; i <= stream.length; i++) {
      for (const j of [i, Math.min(stream.length, i + 1), Math.min(stream.length, i + 7)]) {
        const r = rewriteAll([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
        expect(r.out.equals(expected), `split at ${i}/${j}`).toBe(true);
        expect(r.seen).toHaveLength(1);
      }
    }
  });

  it('handles protocol 3.2 keys of 32 and 256 bytes', () => {
    for (const len of [32, 256]) {
      const k: BackendKey = { processId: 1, secretKey: Buffer.alloc(len, 3) };
      const m: BackendKey = { processId: 2, secretKey: Buffer.alloc(len, 4) };
      const r = rewriteAll([startupResponse(k)], () => m);
      expect(r.out.equals(startupResponse(m))).toBe(true);
      expect(r.seen[0]!.secretKey.length).toBe(len);
    }
  });

  it('passes an ErrorResponse through and is not done without ReadyForQuery', () => {
    const err = buildErrorResponse({ severity: 'FATAL', sqlstate: '28P01', message: 'password authentication failed' });
    const r = rewriteAll([err]);
    expect(r.out.equals(err)).toBe(true);
    expect(r.done).toBe(false);
  });

  it('refuses impossible lengths and key sizes', () => {
    const bad = Buffer.from([0x52, 0xff, 0xff, 0xff, 0xff]);
    expect(new BackendKeyRewriter(() => minted).feed(bad)).toMatchObject({ status: 'error', code: 'bad-length' });
    const shortKey = buildBackendMessage('K', Buffer.from([0, 0, 0, 1, 2, 3]));
    expect(new BackendKeyRewriter(() => minted).feed(shortKey)).toMatchObject({ status: 'error', code: 'bad-key' });
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const r = new BackendKeyRewriter(() => minted);
        for (const c of chunks) {
          const res = r.feed(Buffer.from(c));
          if (res.status === 'error') break;
        }
      }),
    );
  });
});
