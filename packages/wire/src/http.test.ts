import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildHttpErrorResponse, hostFromAuthority, MAX_HTTP_HEADER_FIELDS, parseHttpRequestHead } from './http.js';

const req = (lines: string[]) => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
const curlGet = req(['GET /healthz?x=1 HTTP/1.1', 'Host: App.Apps.Hub.example.com:8080', 'User-Agent: curl/8.5.0', 'Accept: */*']);

function parsed(buf: Uint8Array) {
  const r = parseHttpRequestHead(buf);
  if (r.status !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
}

describe('parseHttpRequestHead', () => {
  it('reads the request line and the Host, and says where the head ends', () => {
    const body = Buffer.from('{"a":1}');
    const r = parsed(Buffer.concat([curlGet, body]));
    expect(r.value).toEqual({ method: 'GET', target: '/healthz?x=1', version: '1.1', authority: 'App.Apps.Hub.example.com:8080', headLength: curlGet.length });
    expect(r.consumed).toBe(curlGet.length);
  });

  it('uses the authority of an absolute-form target over Host (RFC 9112 §3.2.2)', () => {
    const r = parsed(req(['GET http://user@real.example.com:81/x HTTP/1.1', 'Host: other.example.com']));
    expect(r.value.authority).toBe('real.example.com:81');
    expect(parsed(req(['CONNECT db.example.com:5432 HTTP/1.1', 'Host: db.example.com:5432'])).value.authority).toBe('db.example.com:5432');
  });

  it('returns a null authority for HTTP/1.0 without Host', () => {
    expect(parsed(req(['GET / HTTP/1.0'])).value).toMatchObject({ version: '1.0', authority: null });
    expect(parsed(req(['GET / HTTP/1.1', 'Host:'])).value.authority).toBeNull();
  });

  it('needs more at every split offset, and resumes the search linearly', () => {
    for (let cut = 0; cut < curlGet.length; cut++) {
      expect(parseHttpRequestHead(curlGet.subarray(0, cut)).status, `cut ${cut}`).toBe('need-more');
      expect(parseHttpRequestHead(curlGet.subarray(0, cut), { searchFrom: Math.max(0, cut - 1) }).status).toBe('need-more');
    }
    expect(parseHttpRequestHead(curlGet, { searchFrom: curlGet.length - 1 }).status).toBe('ok');
  });

  it('fails fast on TLS, PostgreSQL and PROXY-v2 bytes', () => {
    expect(parseHttpRequestHead(Buffer.from([0x16, 3, 1, 0, 200]))).toMatchObject({ code: 'not-http' });
    expect(parseHttpRequestHead(Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]))).toMatchObject({ code: 'not-http' });
    expect(parseHttpRequestHead(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a]))).toMatchObject({ code: 'not-http' });
    expect(parseHttpRequestHead(Buffer.from('A'.repeat(40)))).toMatchObject({ code: 'not-http' });
  });

  it('caps the head size', () => {
    const big = req(['GET / HTTP/1.1', 'Host: a.example.com', `X-Big: ${'x'.repeat(20_000)}`]);
    expect(parseHttpRequestHead(big)).toMatchObject({ code: 'too-large' });
    expect(parseHttpRequestHead(big.subarray(0, 16 * 1024))).toMatchObject({ code: 'too-large' });
    expect(parseHttpRequestHead(big.subarray(0, 16 * 1024 - 1)).status).toBe('need-more');
    expect(parseHttpRequestHead(curlGet, { maxHeadBytes: 32 })).toMatchObject({ code: 'too-large' });
    const many = req(['GET / HTTP/1.1', ...Array.from({ length: MAX_HTTP_HEADER_FIELDS + 1 }, (_, i) => `X-${i}: y`)]);
    expect(parseHttpRequestHead(many, { maxHeadBytes: 1 << 20 })).toMatchObject({ code: 'too-large' });
  });

  it.each([
    [['GET / HTTP/1.1', 'Host: a.example.com', 'Host: b.example.com'], 'multiple-hosts'],
    [['GET / HTTP/1.1', 'hOsT: a.example.com', 'HOST: a.example.com'], 'multiple-hosts'],
    [['GET / HTTP/1.1', 'Host: a example.com'], 'bad-host'],
    [['GET / HTTP/1.1', 'Host : a.example.com'], 'malformed'],
    [['GET / HTTP/1.1', ' folded: x'], 'malformed'],
    [['GET / HTTP/1.1', 'Host: a.example.com\nX: y'], 'malformed'],
    [['GET /  HTTP/1.1', 'Host: a.example.com'], 'malformed'],
    [['GET / HTTP/1.1 extra', 'Host: a'], 'malformed'],
    [['GET / HTTP/2', 'Host: a'], 'bad-version'],
    [['PRI * HTTP/2.0'], 'bad-version'],
    [['G(T / HTTP/1.1'], 'not-http'],
  ])('refuses %j (%s)', (lines, code) => {
    expect(parseHttpRequestHead(req(lines))).toMatchObject({ status: 'error', code });
  });

  it('never throws on random bytes and never reports more than it was given', () => {
    fc.assert(
      fc.property(fc.constantFrom('', 'GET / HTTP/1.1\r\nHost: ', 'POST '), fc.uint8Array({ maxLength: 600 }), fc.nat(600), (prefix, bytes, from) => {
        const buf = Buffer.concat([Buffer.from(prefix), bytes]);
        const r = parseHttpRequestHead(buf, { maxHeadBytes: 512, searchFrom: Math.min(from, buf.length) });
        expect(['need-more', 'ok', 'error']).toContain(r.status);
        if (r.status === 'ok') expect(r.consumed).toBeLessThanOrEqual(buf.length);
      }),
      { numRuns: 5000 },
    );
  });

  it('finds any generated Host at any split', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 2, maxLength: 5 }), fc.option(fc.integer({ min: 1, max: 65535 })), fc.nat(), (labels, port, cutSeed) => {
        const host = labels.join('.');
        const head = req(['GET / HTTP/1.1', 'Accept: */*', `Host: ${host}${port ? `:${port}` : ''}`]);
        const cut = cutSeed % head.length;
        expect(parseHttpRequestHead(head.subarray(0, cut)).status).toBe('need-more');
        const r = parsed(head);
        expect(hostFromAuthority(r.value.authority!)).toBe(host);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('hostFromAuthority', () => {
  it.each([
    ['Example.COM', 'example.com'],
    ['example.com.:8080', 'example.com'],
    ['[::1]:80', '::1'],
    ['[fd00::1]', 'fd00::1'],
    ['10.0.0.1:80', '10.0.0.1'],
    [':80', null],
    ['a.example.com:http', null],
    ['[::1', null],
  ])('%s → %s', (authority, host) => {
    expect(hostFromAuthority(authority)).toBe(host);
  });
});

describe('buildHttpErrorResponse', () => {
  it('builds a complete Connection: close response', () => {
    const text = buildHttpErrorResponse(421, 'Switchyard: wrong port').toString();
    expect(text).toMatch(/^HTTP\/1\.1 421 Misdirected Request\r\n/);
    expect(text).toContain('Content-Length: 23\r\n');
    expect(text).toContain('Connection: close\r\n');
    expect(text.endsWith('\r\n\r\nSwitchyard: wrong port\n')).toBe(true);
  });
});
