import { describe, expect, it } from 'vitest';
import { HttpSniffer, type HttpSniffResult } from './http-sniffer.js';

const head = Buffer.from('GET /x HTTP/1.1\r\nHost: Web.Apps.Hub.example.com.:8080\r\nAccept: */*\r\n\r\nBODY');

function feedAll(s: HttpSniffer, bytes: Buffer, cut: number): HttpSniffResult[] {
  return [s.feed(bytes.subarray(0, cut)), s.feed(bytes.subarray(cut))].filter((r) => r.type !== 'need-more');
}

describe('HttpSniffer', () => {
  it('returns the normalised Host and every byte for replay, at every split offset', () => {
    for (let cut = 0; cut < head.length; cut++) {
      const [r] = feedAll(new HttpSniffer(16384), head, cut);
      expect(r).toMatchObject({ type: 'request', host: 'web.apps.hub.example.com' });
      if (r?.type === 'request') expect(r.bytes.equals(cut < head.length - 4 ? head : head.subarray(0, cut))).toBe(true);
    }
  });

  it('stays linear for a client sending one byte at a time', () => {
    const s = new HttpSniffer(16384);
    let last: HttpSniffResult = { type: 'need-more' };
    for (let i = 0; i < head.length - 4; i++) last = s.feed(head.subarray(i, i + 1));
    expect(last.type).toBe('request');
  });

  it('reports a missing Host as null and refuses garbage, oversized heads and HTTP/2', () => {
    expect(new HttpSniffer(16384).feed(Buffer.from('GET / HTTP/1.0\r\n\r\n'))).toMatchObject({ type: 'request', host: null });
    expect(new HttpSniffer(16384).feed(Buffer.from([0x16, 3, 1]))).toMatchObject({ type: 'refuse', code: 'http_invalid', speak: 'http' });
    expect(new HttpSniffer(64).feed(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(100)}`))).toMatchObject({ code: 'http_head_too_large' });
    expect(new HttpSniffer(16384).feed(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))).toMatchObject({ code: 'http_version_unsupported' });
  });
});
