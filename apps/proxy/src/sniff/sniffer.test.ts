import { buildClientHello, buildGssEncRequest, buildSslRequest, buildStartupMessage, buildCancelRequest } from '@switchyard/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PostgresSniffer, TlsSniffer, type SniffResult } from './sniffer.js';

/** Feeds `bytes` in the given chunk sizes and returns every non-need-more result. */
function run(sniffer: { feed(c: Uint8Array): SniffResult }, bytes: Buffer, cuts: number[] = []): SniffResult[] {
  const out: SniffResult[] = [];
  let p = 0;
  for (const c of [...cuts, bytes.length]) {
    if (c <= p) continue;
    const r = sniffer.feed(bytes.subarray(p, c));
    if (r.type !== 'need-more') out.push(r);
    p = c;
    if (r.type === 'refuse' || r.type === 'hello' || r.type === 'cancel') break;
  }
  return out;
}

describe('TlsSniffer', () => {
  it('returns the hello and every byte for replay, at every split offset', () => {
    const hello = buildClientHello({ serverName: 'r1.acme.db.example.com', keyShareBytes: 1200, recordSize: 700 });
    for (let cut = 1; cut < hello.length; cut++) {
      const [r] = run(new TlsSniffer(16384), hello, [cut]);
      expect(r?.type).toBe('hello');
      if (r?.type === 'hello') {
        expect(r.hello.serverName).toBe('r1.acme.db.example.com');
        expect(r.bytes.equals(hello)).toBe(true);
      }
    }
  });

  it('refuses non-TLS bytes without answering in TLS; a plain HTTP request is answered in HTTP', () => {
    expect(run(new TlsSniffer(16384), Buffer.from('GET / HTTP/1.1\r\n'))).toEqual([
      { type: 'refuse', code: 'http_on_tls_port', speak: 'http', detail: 'http-request' },
    ]);
    for (const method of ['HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT']) {
      expect(run(new TlsSniffer(16384), Buffer.from(`${method} /x HTTP/1.1\r\n`))[0]).toMatchObject({ code: 'http_on_tls_port', speak: 'http' });
    }
    // A Redis command (a RESP array, as redis-cli without --tls sends it) is answered in RESP.
    expect(run(new TlsSniffer(16384), Buffer.from('*1\r\n$4\r\nPING\r\n'))).toEqual([{ type: 'refuse', code: 'redis_on_tls_port', speak: 'redis', detail: 'redis-command' }]);
    expect(run(new TlsSniffer(16384), Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n'))[0]).toMatchObject({ code: 'redis_on_tls_port' });
    for (const bytes of ['PING\r\n', '*\r\n', '*0\r\n', '*1\r\n+OK\r\n', '*x']) {
      expect(run(new TlsSniffer(16384), Buffer.from(bytes)), bytes).toEqual([{ type: 'refuse', code: 'not_tls', speak: 'none', detail: 'not-tls' }]);
    }
    // Not a request line: closed without an answer. HTTP/2 prior knowledge cannot read HTTP/1.1.
    for (const bytes of ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'GETX / HTTP/1.1\r\n', 'get / HTTP/1.1\r\n', 'G', 'SSH-2.0-OpenSSH_9.2\r\n']) {
      expect(run(new TlsSniffer(16384), Buffer.from(bytes)), bytes).toEqual([{ type: 'refuse', code: 'not_tls', speak: 'none', detail: 'not-tls' }]);
    }
  });

  it('refuses oversized hellos with an alert', () => {
    const [r] = run(new TlsSniffer(1024), buildClientHello({ keyShareBytes: 2000 }));
    expect(r).toMatchObject({ type: 'refuse', code: 'hello_invalid', speak: 'tls', detail: 'hello-too-large' });
  });

  describe('libpq pointed at the tls port (first byte 0x00)', () => {
    const startup = buildStartupMessage({ user: 'u', database: 'd' });
    const wrongPort = { type: 'refuse', code: 'postgres_on_tls_port', speak: 'postgres', detail: 'postgres-startup' };

    it('answers a plaintext StartupMessage with a PostgreSQL error, at every split offset', () => {
      for (let cut = 0; cut < startup.length; cut++) {
        const sniffer = new TlsSniffer(16384);
        expect(run(sniffer, startup, [cut])).toEqual([wrongPort]);
      }
    });

    it('answers an SSLRequest with N (no STARTTLS here), then the StartupMessage with the error, at every split offset', () => {
      const ssl = buildSslRequest();
      for (let cut = 0; cut < Math.max(ssl.length, startup.length); cut++) {
        const sniffer = new TlsSniffer(16384);
        // The client sends its StartupMessage only once it has read the N.
        expect(run(sniffer, ssl, [cut])).toEqual([{ type: 'reply', bytes: Buffer.from('N') }]);
        expect(run(sniffer, startup, [cut])).toEqual([wrongPort]);
      }
    });

    it('answers a GSSENCRequest with N once, then the SSLRequest with N and the StartupMessage with the error, at every split offset', () => {
      const gss = buildGssEncRequest();
      const ssl = buildSslRequest();
      for (let cut = 0; cut < startup.length; cut++) {
        const sniffer = new TlsSniffer(16384);
        expect(run(sniffer, gss, [cut])).toEqual([{ type: 'reply', bytes: Buffer.from('N') }]);
        expect(run(sniffer, ssl, [cut])).toEqual([{ type: 'reply', bytes: Buffer.from('N') }]);
        expect(run(sniffer, startup, [cut])).toEqual([wrongPort]);
      }
      // Each negotiation once, GSSAPI first, nothing pipelined.
      const twice = new TlsSniffer(16384);
      twice.feed(gss);
      expect(twice.feed(gss)).toMatchObject({ type: 'refuse', code: 'not_tls', speak: 'none', detail: 'postgres-gssenc-request' });
      const late = new TlsSniffer(16384);
      late.feed(ssl);
      expect(late.feed(gss)).toMatchObject({ type: 'refuse', code: 'not_tls', speak: 'none', detail: 'postgres-gssenc-request' });
      expect(run(new TlsSniffer(16384), Buffer.concat([gss, ssl]))).toMatchObject([{ type: 'refuse', code: 'not_tls', speak: 'none' }]);
    });

    it('hands a plaintext CancelRequest over with its key, at every split offset (a direct-TLS client cancels on the port it used)', () => {
      for (const n of [4, 32, 256]) {
        const key = Buffer.alloc(n, n);
        const cancel = buildCancelRequest(0x01234567, key);
        for (let cut = 0; cut < cancel.length; cut++) {
          expect(run(new TlsSniffer(16384), cancel, [cut])).toEqual([{ type: 'cancel', processId: 0x01234567, secretKey: key }]);
        }
      }
    });

    it('says nothing to anything else that starts with 0x00: bytes pipelined after the SSLRequest, a second SSLRequest, garbage', () => {
      expect(run(new TlsSniffer(16384), Buffer.concat([buildSslRequest(), startup]))).toMatchObject([{ type: 'refuse', code: 'not_tls', speak: 'none' }]);
      const twice = new TlsSniffer(16384);
      expect(twice.feed(buildSslRequest())).toEqual({ type: 'reply', bytes: Buffer.from('N') });
      expect(twice.feed(buildSslRequest())).toMatchObject({ type: 'refuse', code: 'not_tls', speak: 'none', detail: 'postgres-ssl-request' });
      expect(run(new TlsSniffer(16384), Buffer.from([0, 0, 0, 3, 1, 2]))).toMatchObject([{ type: 'refuse', code: 'not_tls', speak: 'none' }]);
    });

    it('speaks PostgreSQL at the deadline once it started, and refuses a truncated packet silently', () => {
      const sniffer = new TlsSniffer(16384);
      expect(sniffer.speaks()).toBe('tls');
      expect(sniffer.feed(startup.subarray(0, 5))).toEqual({ type: 'need-more' });
      expect(sniffer.speaks()).toBe('postgres');
      expect(sniffer.endOfInput()).toMatchObject({ type: 'refuse', code: 'not_tls', speak: 'none' });
      const answered = new TlsSniffer(16384);
      answered.feed(buildSslRequest());
      expect(answered.endOfInput()).toBeNull();
    });
  });
});

describe('PostgresSniffer', () => {
  const hello = buildClientHello({ serverName: 'db1.acme.db.example.com', alpn: ['postgresql'] });

  it('answers SSLRequest with S, then reads the hello (every split offset)', () => {
    const ssl = buildSslRequest();
    for (let cut = 1; cut < hello.length; cut++) {
      const s = new PostgresSniffer(16384);
      expect(run(s, ssl, [3])).toEqual([{ type: 'reply', bytes: Buffer.from('S') }]);
      const [r] = run(s, hello, [cut]);
      expect(r).toMatchObject({ type: 'hello', viaSslRequest: true });
      if (r?.type === 'hello') expect(r.bytes.equals(hello)).toBe(true);
    }
  });

  it('refuses GSSENC with N once, then continues with SSLRequest', () => {
    const s = new PostgresSniffer(16384);
    expect(run(s, buildGssEncRequest())).toEqual([{ type: 'reply', bytes: Buffer.from('N') }]);
    expect(run(s, buildSslRequest())).toEqual([{ type: 'reply', bytes: Buffer.from('S') }]);
    expect(run(s, hello)[0]?.type).toBe('hello');
    const twice = new PostgresSniffer(16384);
    run(twice, buildGssEncRequest());
    expect(run(twice, buildGssEncRequest())[0]).toMatchObject({ type: 'refuse', code: 'protocol_violation' });
  });

  it('refuses a second SSLRequest, a GSSENCRequest or a StartupMessage after S with a PostgreSQL error', () => {
    for (const [second, detail] of [
      [buildSslRequest(), 'repeated-ssl-request'],
      [buildGssEncRequest(), 'gssenc-request-after-ssl'],
      [buildStartupMessage({ user: 'u' }), 'startup-without-tls'],
      [buildCancelRequest(1, Buffer.alloc(4)), 'cancel-request-after-ssl'],
    ] as const) {
      for (let cut = 1; cut < second.length; cut++) {
        const s = new PostgresSniffer(16384);
        expect(run(s, buildSslRequest())).toEqual([{ type: 'reply', bytes: Buffer.from('S') }]);
        expect(s.speaks()).toBe('tls');
        expect(run(s, second, [cut])).toEqual([{ type: 'refuse', code: 'protocol_violation', speak: 'postgres', detail }]);
      }
    }
  });

  it('answers garbage after S in TLS, since the client believes it is speaking TLS', () => {
    const s = new PostgresSniffer(16384);
    run(s, buildSslRequest());
    expect(run(s, Buffer.from('GET / HTTP/1.1\r\n'))).toEqual([{ type: 'refuse', code: 'not_tls', speak: 'tls', detail: 'not-tls' }]);
  });

  it('refuses what a half-closing client truncated, in its language, and nothing when nothing is pending', () => {
    const pgPartial = new PostgresSniffer(16384);
    expect(pgPartial.endOfInput()).toBeNull();
    run(pgPartial, buildStartupMessage({ user: 'u' }).subarray(0, 6));
    expect(pgPartial.endOfInput()).toMatchObject({ type: 'refuse', code: 'protocol_violation', speak: 'postgres' });
    const afterS = new PostgresSniffer(16384);
    run(afterS, buildSslRequest());
    expect(afterS.endOfInput()).toBeNull();
    run(afterS, hello.subarray(0, 20));
    expect(afterS.endOfInput()).toMatchObject({ type: 'refuse', code: 'hello_invalid', speak: 'tls' });
    const tls = new TlsSniffer(16384);
    run(tls, Buffer.from([0x80]));
    expect(tls.endOfInput()).toMatchObject({ type: 'refuse', code: 'not_tls', speak: 'none' });
    const tls2 = new TlsSniffer(16384);
    run(tls2, hello.subarray(0, 3));
    expect(tls2.endOfInput()).toMatchObject({ type: 'refuse', code: 'hello_invalid', speak: 'tls' });
  });

  it('says what a client waits for when the deadline strikes', () => {
    const s = new PostgresSniffer(16384);
    expect(s.speaks()).toBe('postgres');
    run(s, buildSslRequest().subarray(0, 5));
    expect(s.speaks()).toBe('postgres');
    run(s, buildSslRequest().subarray(5));
    expect(s.speaks()).toBe('tls');
    const direct = new PostgresSniffer(16384);
    run(direct, hello.subarray(0, 3));
    expect(direct.speaks()).toBe('tls');
    expect(new TlsSniffer(16384).speaks()).toBe('tls');
  });

  it('accepts direct TLS (sslnegotiation=direct)', () => {
    const [r] = run(new PostgresSniffer(16384), hello, [1]);
    expect(r).toMatchObject({ type: 'hello', viaSslRequest: false });
    if (r?.type === 'hello') expect(r.hello.alpn).toEqual(['postgresql']);
  });

  it('refuses bytes pipelined after the SSLRequest (CVE-2021-23222)', () => {
    const [r] = run(new PostgresSniffer(16384), Buffer.concat([buildSslRequest(), hello]));
    expect(r).toMatchObject({ type: 'refuse', code: 'data_after_ssl_request', speak: 'postgres' });
  });

  it('tells plaintext clients to use TLS with a PostgreSQL error', () => {
    const [r] = run(new PostgresSniffer(16384), buildStartupMessage({ user: 'u', database: 'd' }));
    expect(r).toMatchObject({ type: 'refuse', code: 'tls_required', speak: 'postgres' });
  });

  it('hands plaintext cancel requests (4- and 256-byte keys) over with their key', () => {
    for (const n of [4, 32, 256]) {
      const key = Buffer.alloc(n, n);
      const [r] = run(new PostgresSniffer(16384), buildCancelRequest(-5, key));
      expect(r).toEqual({ type: 'cancel', processId: -5, secretKey: key });
    }
  });

  it('never throws on random bytes, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(600), { maxLength: 5 }), (bytes, cuts) => {
        const b = Buffer.from(bytes);
        const results = run(new PostgresSniffer(4096), b, [...cuts].sort((x, y) => x - y));
        for (const r of results) expect(['reply', 'hello', 'refuse']).toContain(r.type);
      }),
      { numRuns: 3000 },
    );
  });
});
