import { buildClientHello, buildProxyV1, buildProxyV2 } from '@switchyard/wire';
import { describe, expect, it } from 'vitest';
import { ProxyPrelude, type PreludeResult } from './proxy-prelude.js';

const spec = { source: { address: '198.51.100.9', port: 40001 }, destination: { address: '10.1.2.3', port: 443 } };
const hello = buildClientHello({ serverName: 'a.example.com' });

function feed(p: ProxyPrelude, bytes: Buffer, cut: number): PreludeResult {
  const first = p.feed(bytes.subarray(0, cut));
  return first.type === 'need-more' ? p.feed(bytes.subarray(cut)) : first;
}

describe('ProxyPrelude', () => {
  it('parses v1 and v2 headers from trusted sources and hands on the rest, at every split', () => {
    for (const header of [buildProxyV1(spec), buildProxyV2(spec)]) {
      const bytes = Buffer.concat([header, hello]);
      for (let cut = 1; cut < bytes.length; cut++) {
        const r = feed(new ProxyPrelude(true, false), bytes, cut);
        expect(r.type, `cut ${cut}`).toBe('done');
        if (r.type === 'done') {
          expect(r.header?.source).toEqual(spec.source);
          expect(r.header?.destination).toEqual(spec.destination);
          if (cut >= header.length) expect(r.rest.equals(bytes.subarray(header.length, cut))).toBe(true);
          else expect(r.rest.equals(hello)).toBe(true);
        }
      }
    }
  });

  it('lets a trusted source connect without a header unless the listener routes by it', () => {
    expect(new ProxyPrelude(true, false).feed(hello)).toMatchObject({ type: 'done', header: null, rest: hello });
    expect(new ProxyPrelude(true, true).feed(hello)).toMatchObject({ type: 'refuse', code: 'proxy_header_required' });
  });

  it('refuses a header from an untrusted source and passes other bytes through', () => {
    for (const header of [buildProxyV1(spec), buildProxyV2(spec)]) {
      const p = new ProxyPrelude(false, false);
      expect(p.feed(header.subarray(0, 3))).toEqual({ type: 'need-more' });
      expect(p.feed(header.subarray(3))).toMatchObject({ type: 'refuse', code: 'proxy_header_untrusted' });
    }
    expect(new ProxyPrelude(false, false).feed(hello)).toMatchObject({ type: 'done', header: null });
    expect(new ProxyPrelude(false, false).feed(Buffer.from('PRI * HTTP/2.0'))).toMatchObject({ type: 'done', header: null });
  });

  it('refuses malformed headers from trusted sources', () => {
    expect(new ProxyPrelude(true, false).feed(Buffer.from('PROXY TCP4 1.2.3.4\r\n'))).toMatchObject({ type: 'refuse', code: 'proxy_header_invalid' });
    const v2 = buildProxyV2(spec);
    v2[12] = 0x31;
    expect(new ProxyPrelude(true, false).feed(v2)).toMatchObject({ type: 'refuse', code: 'proxy_header_invalid', detail: 'bad-version' });
  });
});
