import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildProxyV1,
  buildProxyV2,
  DEFAULT_PROXY_V2_MAX_LENGTH,
  looksLikeProxyHeader,
  parseProxyHeader,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_SIGNATURE,
  ProxyTlvType,
} from './proxy-protocol.js';

const v4 = { source: { address: '203.0.113.7', port: 51234 }, destination: { address: '10.1.2.3', port: 443 } };
const v6 = { source: { address: '2001:db8::7', port: 40000 }, destination: { address: 'fd00:10::3', port: 6443 } };

function parsed(buf: Uint8Array) {
  const r = parseProxyHeader(buf);
  if (r.status !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
}

describe('PROXY v1', () => {
  it('parses TCP4 and TCP6 headers and reports how many bytes they span', () => {
    const h = buildProxyV1(v4);
    expect(h.toString()).toBe('PROXY TCP4 203.0.113.7 10.1.2.3 51234 443\r\n');
    const r = parsed(Buffer.concat([h, Buffer.from([0x16, 3, 1])]));
    expect(r.consumed).toBe(h.length);
    expect(r.value).toEqual({ version: 1, command: 'proxy', family: 'tcp4', ...v4, tlvs: [] });
    const r6 = parsed(buildProxyV1(v6));
    expect(r6.value).toMatchObject({ family: 'tcp6', source: v6.source, destination: v6.destination });
  });

  it('canonicalises IPv6 text', () => {
    const r = parsed(Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::ffff:10.0.0.1 1 2\r\n'));
    expect(r.value.source?.address).toBe('2001:db8::7');
    expect(r.value.destination?.address).toBe('::ffff:a00:1');
  });

  it('treats UNKNOWN as local (use the socket addresses)', () => {
    expect(parsed(buildProxyV1(null)).value).toMatchObject({ command: 'local', family: 'unknown', source: null });
    expect(parsed(Buffer.from('PROXY UNKNOWN ffff:f...f ffff:f...f 65535 65535\r\n')).value.command).toBe('local');
  });

  it('needs more at every split offset', () => {
    for (const h of [buildProxyV1(v4), buildProxyV1(v6), buildProxyV1(null)]) {
      for (let cut = 0; cut < h.length; cut++) expect(parseProxyHeader(h.subarray(0, cut)).status, `cut ${cut}`).toBe('need-more');
      expect(parseProxyHeader(h).status).toBe('ok');
    }
  });

  it('accepts the longest legal header and refuses anything longer', () => {
    const longest = buildProxyV1({
      source: { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 },
      destination: { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 },
    });
    expect(longest.length).toBe(PROXY_V1_MAX_LENGTH - 3);
    expect(parsed(longest).consumed).toBe(longest.length);
    expect(parseProxyHeader(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}`))).toMatchObject({ code: 'too-long' });
  });

  it.each([
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'malformed'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', 'malformed'],
    ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', 'bad-family'],
    ['PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n', 'bad-address'],
    ['PROXY TCP4 ::1 5.6.7.8 1 2\r\n', 'bad-address'],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'bad-address'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', 'bad-address'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n', 'bad-address'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'malformed'],
    ['PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', 'malformed'],
    ['PROXZ TCP4', 'not-proxy'],
    ['GET / HTTP/1.1\r\n', 'not-proxy'],
  ])('refuses %j (%s)', (text, code) => {
    expect(parseProxyHeader(Buffer.from(text, 'latin1'))).toMatchObject({ status: 'error', code });
  });
});

describe('PROXY v2', () => {
  it('parses INET and INET6 PROXY headers with TLVs', () => {
    const tlvs = [{ type: ProxyTlvType.authority, value: Buffer.from('api.shoot-a.example.com') }, { type: ProxyTlvType.noop, value: Buffer.alloc(0) }];
    const h = buildProxyV2(v4, tlvs);
    const r = parsed(Buffer.concat([h, Buffer.from('rest')]));
    expect(r.consumed).toBe(h.length);
    expect(r.value).toEqual({ version: 2, command: 'proxy', family: 'tcp4', ...v4, tlvs });
    expect(parsed(buildProxyV2(v6)).value).toMatchObject({ family: 'tcp6', source: v6.source, destination: v6.destination });
  });

  it('reports LOCAL (balancer health checks) without addresses', () => {
    const r = parsed(buildProxyV2(null));
    expect(r.value).toMatchObject({ version: 2, command: 'local', family: 'unknown', source: null, destination: null });
    expect(r.consumed).toBe(16);
  });

  it('ignores addresses of UNSPEC, UDP and UNIX headers', () => {
    const h = buildProxyV2(v4);
    h[13] = 0x12; // INET over DGRAM
    expect(parsed(h).value).toMatchObject({ command: 'local', source: null });
    const unix = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x21, 0x31, 0, 216]), Buffer.alloc(216)]);
    expect(parsed(unix).value).toMatchObject({ command: 'local', family: 'unknown' });
  });

  it('needs more at every split offset', () => {
    for (const h of [buildProxyV2(v4, [{ type: 0xe0, value: Buffer.alloc(40, 1) }]), buildProxyV2(v6), buildProxyV2(null)]) {
      for (let cut = 0; cut < h.length; cut++) expect(parseProxyHeader(h.subarray(0, cut)).status, `cut ${cut}`).toBe('need-more');
      expect(parseProxyHeader(h).status).toBe('ok');
    }
  });

  it('fails fast on a wrong signature, version, command or family', () => {
    const h = buildProxyV2(v4);
    const bad = (i: number, v: number) => {
      const b = Buffer.from(h);
      b[i] = v;
      return parseProxyHeader(b);
    };
    expect(bad(5, 0x00)).toMatchObject({ code: 'bad-signature' });
    expect(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01]))).toMatchObject({ code: 'bad-signature' });
    expect(bad(12, 0x11)).toMatchObject({ code: 'bad-version' });
    expect(parseProxyHeader(Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x31])]))).toMatchObject({ code: 'bad-version' });
    expect(bad(12, 0x22)).toMatchObject({ code: 'bad-command' });
    expect(bad(13, 0x41)).toMatchObject({ code: 'bad-family' });
  });

  it('caps the header length before buffering it', () => {
    const head = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
    expect(parseProxyHeader(head)).toMatchObject({ code: 'too-long' });
    expect(parseProxyHeader(buildProxyV2(v4, [{ type: 0xe1, value: Buffer.alloc(DEFAULT_PROXY_V2_MAX_LENGTH) }]))).toMatchObject({ code: 'too-long' });
    expect(parseProxyHeader(buildProxyV2(v4, [{ type: 0xe1, value: Buffer.alloc(100) }]), { maxV2Length: 64 })).toMatchObject({ code: 'too-long' });
  });

  it('refuses truncated addresses and TLVs', () => {
    const short = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 8]), Buffer.alloc(8)]);
    expect(parseProxyHeader(short)).toMatchObject({ code: 'bad-address' });
    const h = buildProxyV2(v4, [{ type: 1, value: Buffer.from('h2') }]);
    h.writeUInt16BE(h.readUInt16BE(14) - 1, 14);
    expect(parseProxyHeader(h)).toMatchObject({ code: 'malformed' });
  });
});

describe('looksLikeProxyHeader', () => {
  it('tells PROXY prefixes from TLS, PostgreSQL and HTTP', () => {
    expect(looksLikeProxyHeader(Buffer.from('PRO'))).toBe(true);
    expect(looksLikeProxyHeader(buildProxyV2(v4).subarray(0, 5))).toBe(true);
    expect(looksLikeProxyHeader(Buffer.from([0x16, 3, 1]))).toBe(false);
    expect(looksLikeProxyHeader(Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]))).toBe(false);
    expect(looksLikeProxyHeader(Buffer.from('PRI * HTTP/2.0'))).toBe(false);
  });
});

describe('properties', () => {
  it('never throws on random bytes, with or without a valid prefix', () => {
    const prefixes = [Buffer.alloc(0), Buffer.from('PROXY '), Buffer.from('PROXY TCP4 '), PROXY_V2_SIGNATURE, Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x21])])];
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 600 }), (prefix, bytes) => {
        const r = parseProxyHeader(Buffer.concat([prefix, bytes]));
        expect(['need-more', 'ok', 'error']).toContain(r.status);
        if (r.status === 'ok') expect(r.consumed).toBeLessThanOrEqual(prefix.length + bytes.length);
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips any TCP4/TCP6 header in both versions, whatever follows it', () => {
    const port = fc.integer({ min: 0, max: 65535 });
    const ip4 = fc.ipV4();
    const ip6 = fc.ipV6();
    const pair = fc.oneof(fc.tuple(ip4, ip4), fc.tuple(ip6, ip6));
    fc.assert(
      fc.property(pair, port, port, fc.uint8Array({ maxLength: 64 }), fc.boolean(), ([src, dst], sp, dp, tail, v2) => {
        const spec = { source: { address: src, port: sp }, destination: { address: dst, port: dp } };
        const h = v2 ? buildProxyV2(spec) : buildProxyV1(spec);
        const r = parsed(Buffer.concat([h, tail]));
        expect(r.consumed).toBe(h.length);
        expect(r.value.source?.port).toBe(sp);
        expect(r.value.destination?.port).toBe(dp);
        // Canonical text equals what a second round trip yields.
        const again = parsed(v2 ? buildProxyV2(r.value as never) : buildProxyV1(r.value as never));
        expect(again.value.source).toEqual(r.value.source);
        expect(again.value.destination).toEqual(r.value.destination);
      }),
      { numRuns: 2000 },
    );
  });
});
