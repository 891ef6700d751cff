/**
 * Hostile input for the parsers in front of the sniffers: PROXY protocol v1/v2 headers and
 * HTTP/1.x request heads (the `http` listener), and host extraction from an authority.
 * Bounded, seeded runs (`FC_SEED=<seed>` replays a failure). Same contract as
 * `hostile.test.ts`: every call returns need-more / ok / error, a decision never changes as
 * bytes arrive, and need-more is bounded by the parser's named maximum.
 */
import { fuzz } from '@switchyard/testkit/fuzz';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildHttpErrorResponse, DEFAULT_MAX_HTTP_HEAD_BYTES, hostFromAuthority, parseHttpRequestHead } from './http.js';
import { buildProxyV1, buildProxyV2, DEFAULT_PROXY_V2_MAX_LENGTH, parseProxyHeader, PROXY_V1_MAX_LENGTH, PROXY_V2_HEADER_LENGTH } from './proxy-protocol.js';

const STATUSES = ['need-more', 'ok', 'error'];

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

const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();
const port = fc.integer({ min: 0, max: 65535 });
const addresses = fc.oneof(
  fc.tuple(ipv4, ipv4, port, port),
  fc.tuple(ipv6, ipv6, port, port),
).map(([s, d, sp, dp]) => ({ source: { address: s, port: sp }, destination: { address: d, port: dp } }));
const tlvs = fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) }), { maxLength: 4 });
const proxyHeader = fc.oneof(
  addresses.map((a) => buildProxyV1(a)),
  fc.constant(buildProxyV1(null)),
  fc.tuple(addresses, tlvs).map(([a, t]) => buildProxyV2(a, t)),
  fc.constant(buildProxyV2(null)),
);
const proxyLike = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  proxyHeader,
  fc.tuple(proxyHeader, fc.array(editArb, { minLength: 1, maxLength: 6 })).map(([b, e]) => mutate(b, e)),
  fc.tuple(proxyHeader, fc.uint8Array({ maxLength: 40 })).map(([b, tail]) => Buffer.concat([b, tail])),
);

describe('PROXY protocol parser under hostile input', () => {
  it('returns a decision or need-more, and needs more only below the header caps', () => {
    fuzz(
      fc.property(proxyLike, (bytes) => {
        const r = parseProxyHeader(bytes);
        expect(STATUSES).toContain(r.status);
        if (r.status === 'ok') expect(r.consumed).toBeLessThanOrEqual(bytes.length);
        if (r.status === 'need-more') expect(bytes.length).toBeLessThan(Math.max(PROXY_V1_MAX_LENGTH, PROXY_V2_HEADER_LENGTH + DEFAULT_PROXY_V2_MAX_LENGTH));
      }),
      5000,
    );
  });

  it('never changes a decision when more bytes arrive', () => {
    fuzz(
      fc.property(proxyLike, fc.uint8Array({ minLength: 1, maxLength: 32 }), (bytes, more) => {
        const first = parseProxyHeader(bytes);
        if (first.status === 'need-more') return;
        expect(parseProxyHeader(Buffer.concat([bytes, more]))).toEqual(first);
      }),
      3000,
    );
  });

  it('reads back what the builders write, and needs more at every shorter prefix', () => {
    fuzz(
      fc.property(addresses, tlvs, fc.boolean(), (a, t, v2) => {
        const bytes = v2 ? buildProxyV2(a, t) : buildProxyV1(a);
        const r = parseProxyHeader(bytes);
        expect(r.status).toBe('ok');
        if (r.status !== 'ok') return;
        expect(r.consumed).toBe(bytes.length);
        expect(r.value.command).toBe('proxy');
        expect(r.value.source?.port).toBe(a.source.port);
        expect(r.value.destination?.port).toBe(a.destination.port);
        for (let cut = 0; cut < bytes.length; cut++) expect(parseProxyHeader(bytes.subarray(0, cut)).status).toBe('need-more');
      }),
      300,
    );
  });
});

const token = fc.stringMatching(/^[A-Za-z0-9-]{1,10}$/);
const head = fc
  .tuple(
    fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'CONNECT', 'PRI'),
    fc.constantFrom('/', '/a?b=c', 'http://x.example.com/p', '*', 'x.example.com:443'),
    fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2'),
    fc.array(fc.tuple(token, fc.stringMatching(/^[ -~]{0,30}$/)), { maxLength: 8 }),
    fc.option(fc.stringMatching(/^[a-z0-9.-]{1,30}(:[0-9]{1,5})?$/), { nil: undefined }),
  )
  .map(([m, t, v, fields, host]) =>
    Buffer.from(`${m} ${t} ${v}\r\n${host !== undefined ? `Host: ${host}\r\n` : ''}${fields.map(([k, val]) => `${k}: ${val}\r\n`).join('')}\r\n`, 'latin1'),
  );
const httpLike = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
  head,
  fc.tuple(head, fc.array(editArb, { minLength: 1, maxLength: 6 })).map(([b, e]) => mutate(b, e)),
  fc.tuple(head, fc.uint8Array({ maxLength: 64 })).map(([b, body]) => Buffer.concat([b, body])),
);

describe('HTTP request-head parser under hostile input', () => {
  it('returns a decision or need-more, and needs more only below the head cap', () => {
    fuzz(
      fc.property(httpLike, (bytes) => {
        const r = parseHttpRequestHead(bytes);
        expect(STATUSES).toContain(r.status);
        if (r.status === 'ok') expect(r.value.headLength).toBeLessThanOrEqual(bytes.length);
        if (r.status === 'need-more') expect(bytes.length).toBeLessThan(DEFAULT_MAX_HTTP_HEAD_BYTES);
      }),
      5000,
    );
  });

  it('never changes a decision when more bytes arrive, and agrees with an incremental search', () => {
    fuzz(
      fc.property(httpLike, fc.uint8Array({ minLength: 1, maxLength: 32 }), (bytes, more) => {
        const first = parseHttpRequestHead(bytes);
        const all = Buffer.concat([bytes, more]);
        if (first.status !== 'need-more') {
          expect(parseHttpRequestHead(all)).toEqual(first);
        } else {
          // What a sniffer does: resume the search where the previous chunk ended.
          expect(parseHttpRequestHead(all, { searchFrom: bytes.length })).toEqual(parseHttpRequestHead(all));
        }
      }),
      3000,
    );
  });

  it('a head larger than the cap is refused once the cap is reached, however it trickles in', () => {
    const big = Buffer.from(`GET / HTTP/1.1\r\nHost: a.example.com\r\nX-Pad: ${'a'.repeat(DEFAULT_MAX_HTTP_HEAD_BYTES)}\r\n\r\n`, 'latin1');
    expect(parseHttpRequestHead(big.subarray(0, DEFAULT_MAX_HTTP_HEAD_BYTES - 1)).status).toBe('need-more');
    expect(parseHttpRequestHead(big.subarray(0, DEFAULT_MAX_HTTP_HEAD_BYTES))).toMatchObject({ status: 'error', code: 'too-large' });
  });

  it('hostFromAuthority never throws and returns a non-empty lower-case host (one trailing dot dropped), or null', () => {
    fuzz(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^\[?[A-Za-z0-9.:]{0,40}\]?(:[0-9a-z]{0,6})?$/)), (authority) => {
        const h = hostFromAuthority(authority);
        if (h !== null) {
          expect(h).toBe(h.toLowerCase());
          // One trailing dot is dropped (FQDN form); "a.." keeps one and simply matches no route.
          if (!/\.\.(\]|:|$)/.test(authority) && !authority.includes('..')) expect(h.endsWith('.')).toBe(false);
          expect(h.length).toBeGreaterThan(0);
        }
      }),
      5000,
    );
  });

  it('error responses are complete HTTP messages whatever the message', () => {
    fuzz(
      fc.property(fc.constantFrom(400, 404, 421, 431, 502, 503, 505, 599), fc.string({ maxLength: 100 }), (status, message) => {
        const b = buildHttpErrorResponse(status, message);
        const text = b.toString('latin1');
        const headEnd = text.indexOf('\r\n\r\n');
        expect(headEnd).toBeGreaterThan(0);
        const len = Number(/Content-Length: (\d+)/.exec(text)?.[1]);
        expect(b.length - (headEnd + 4)).toBe(len);
      }),
      500,
    );
  });
});
