import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildClientHello, buildClientHelloMessage, extension, frameRecords, serverNameExtensionBody } from './tls-builders.js';
import { buildTlsAlert, parseClientHello, TLS_EXT_SERVER_NAME, TlsAlert } from './tls-client-hello.js';

function expectOk(buf: Uint8Array) {
  const r = parseClientHello(buf);
  if (r.status !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
}

describe('parseClientHello', () => {
  it('reads SNI, ALPN and supported versions', () => {
    const bytes = buildClientHello({ serverName: 'db1.acme.db.example.com', alpn: ['postgresql', 'h2'] });
    const r = expectOk(bytes);
    expect(r.value.serverName).toBe('db1.acme.db.example.com');
    expect(r.value.alpn).toEqual(['postgresql', 'h2']);
    expect(r.value.supportedVersions).toEqual([0x0304, 0x0303]);
    expect(r.value.records).toBe(1);
    expect(r.consumed).toBe(bytes.length);
  });

  it('returns a null server name when the extension is absent', () => {
    const r = expectOk(buildClientHello({ serverName: null }));
    expect(r.value.serverName).toBeNull();
  });

  it('accepts a hello without any extensions', () => {
    const msg = buildClientHelloMessage({ serverName: null, supportedVersions: [] });
    // Strip the (empty) extensions block: body ends with u16 length 0.
    const body = msg.subarray(4, msg.length - 2);
    const trimmed = Buffer.concat([Buffer.from([1, 0, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
    const r = expectOk(frameRecords(trimmed));
    expect(r.value.serverName).toBeNull();
  });

  it('needs more bytes at every split offset and parses once complete', () => {
    const bytes = buildClientHello({ serverName: 'a.example.com', alpn: ['h2'] });
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(parseClientHello(bytes.subarray(0, cut)).status, `cut at ${cut}`).toBe('need-more');
    }
    expect(parseClientHello(bytes).status).toBe('ok');
  });

  it('reassembles a large post-quantum hello spread over several records, at every split offset', () => {
    // ~1.6 KB hello (X25519MLKEM768-sized key share) in records of 500 bytes.
    const bytes = buildClientHello({ serverName: 'pq.acme.db.example.com', keyShareBytes: 1216 + 32 + 300, recordSize: 500 });
    expect(bytes.length).toBeGreaterThan(1400);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(parseClientHello(bytes.subarray(0, cut)).status, `cut at ${cut}`).toBe('need-more');
    }
    const r = expectOk(bytes);
    expect(r.value.serverName).toBe('pq.acme.db.example.com');
    expect(r.value.records).toBe(Math.ceil((bytes.length - 5 * 4) / 500));
    expect(r.consumed).toBe(bytes.length);
  });

  it('handles records as small as one byte', () => {
    const bytes = buildClientHello({ serverName: 'tiny.example.com', recordSize: 1 });
    expect(expectOk(bytes).value.serverName).toBe('tiny.example.com');
  });

  it('reports consumed up to the end of the hello, leaving later bytes for the caller', () => {
    const hello = buildClientHello();
    const r = expectOk(Buffer.concat([hello, Buffer.from([23, 3, 3, 0, 1, 0])]));
    expect(r.consumed).toBe(hello.length);
  });

  it('fails fast on a first byte that is not a handshake record', () => {
    expect(parseClientHello(Buffer.from('G'))).toMatchObject({ status: 'error', code: 'not-tls' });
    expect(parseClientHello(Buffer.from([0x00, 0x00, 0x00, 0x08]))).toMatchObject({ status: 'error', code: 'not-tls' });
  });

  it('recognises an SSLv2-compatible hello', () => {
    expect(parseClientHello(Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]))).toMatchObject({ status: 'error', code: 'sslv2-hello' });
  });

  it('fails on a bad record version from the second byte', () => {
    expect(parseClientHello(Buffer.from([22, 2]))).toMatchObject({ code: 'bad-record-version' });
  });

  it('fails on oversized and empty records from the header alone', () => {
    expect(parseClientHello(Buffer.from([22, 3, 1, 0x40, 0x01]))).toMatchObject({ code: 'record-too-large' });
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 0]))).toMatchObject({ code: 'empty-record' });
  });

  it('fails fast when the handshake is not a ClientHello', () => {
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 50, 2]))).toMatchObject({ code: 'not-client-hello' });
  });

  it('enforces the hello size limit from the handshake header', () => {
    // Header announces a 1 MB handshake; only 9 bytes sent.
    expect(parseClientHello(Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0x10, 0, 0]))).toMatchObject({ code: 'hello-too-large' });
    const big = buildClientHello({ keyShareBytes: 3000 });
    expect(parseClientHello(big, { maxHelloBytes: 2048 })).toMatchObject({ code: 'hello-too-large' });
    expect(parseClientHello(big, { maxHelloBytes: 8192 }).status).toBe('ok');
  });

  it('refuses other record types interleaved with the hello', () => {
    const msg = buildClientHelloMessage();
    const first = frameRecords(msg.subarray(0, 20));
    const alert = Buffer.from([21, 3, 3, 0, 2, 2, 40]);
    const rest = frameRecords(msg.subarray(20));
    expect(parseClientHello(Buffer.concat([first, alert, rest]))).toMatchObject({ code: 'unexpected-record' });
  });

  it('tells duplicates apart per hello, also once its table of seen extensions wraps (65,535 hellos)', () => {
    const clean = buildClientHello({ serverName: 'a.example.com', alpn: ['h2'] });
    const dup = buildClientHello({ serverName: 'a.example.com', extensions: [[TLS_EXT_SERVER_NAME, serverNameExtensionBody('b.example.com')]] });
    // The same extensions in consecutive hellos are not duplicates of each other.
    for (let i = 0; i < 70_000; i++) {
      const r = parseClientHello(clean);
      if (r.status !== 'ok') throw new Error(`hello ${i}: ${r.status}`);
    }
    expect(parseClientHello(dup)).toMatchObject({ code: 'duplicate-extension' });
    expect(parseClientHello(clean)).toMatchObject({ status: 'ok', value: { serverName: 'a.example.com', alpn: ['h2'] } });
  });

  it('parses a hello in a Uint8Array as in a Buffer', () => {
    const bytes = buildClientHello({ serverName: 'u8.example.com', alpn: ['postgresql', 'h2'] });
    const copy = new Uint8Array(bytes.length + 3).subarray(3);
    copy.set(bytes);
    expect(parseClientHello(copy)).toEqual(parseClientHello(bytes));
    expect(parseClientHello(copy)).toMatchObject({ status: 'ok', value: { serverName: 'u8.example.com', alpn: ['postgresql', 'h2'] } });
  });

  it('refuses duplicate extensions and two host names', () => {
    const dup = buildClientHello({
      serverName: 'a.example.com',
      extensions: [[TLS_EXT_SERVER_NAME, serverNameExtensionBody('b.example.com')]],
    });
    expect(parseClientHello(dup)).toMatchObject({ code: 'duplicate-extension' });
    const a = Buffer.from('a.example.com');
    const b = Buffer.from('b.example.com');
    const list = Buffer.from([0, 0, a.length, ...a, 0, 0, b.length, ...b]);
    list[1] = 0;
    const two = Buffer.concat([Buffer.from([0, list.length]), list]);
    const bytes = buildClientHello({ serverName: null, extensions: [[TLS_EXT_SERVER_NAME, two]] });
    expect(parseClientHello(bytes)).toMatchObject({ code: 'bad-server-name' });
  });

  it('refuses host names with bytes no route can have', () => {
    for (const name of ['bad\0name.example.com', 'späß.example.com', 'a b.example.com']) {
      const bytes = buildClientHello({ serverName: null, extensions: [[TLS_EXT_SERVER_NAME, serverNameExtensionBody(name)]] });
      expect(parseClientHello(bytes), name).toMatchObject({ status: 'error', code: 'bad-server-name' });
    }
  });

  it('refuses truncated extension blocks', () => {
    const msg = buildClientHelloMessage({ serverName: 'a.example.com' });
    // Claim a longer body than present by bumping the handshake length but not the record.
    const broken = Buffer.from(msg);
    broken[3] = broken[3]! - 3;
    expect(parseClientHello(frameRecords(broken)).status).toBe('error');
  });

  it('never throws or hangs on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        const r = parseClientHello(bytes);
        expect(['need-more', 'ok', 'error']).toContain(r.status);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on mutated valid hellos and finds the same name when untouched bytes suffice', () => {
    const base = buildClientHello({ serverName: 'mut.example.com', alpn: ['postgresql'], keyShareBytes: 64 });
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(base.length), (pos, value, cut) => {
        const copy = Buffer.from(base);
        copy[pos] = value;
        const r = parseClientHello(copy.subarray(0, cut));
        expect(['need-more', 'ok', 'error']).toContain(r.status);
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips arbitrary host names and ALPN lists built by the builder', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    fc.assert(
      fc.property(
        fc.array(label, { minLength: 2, maxLength: 5 }),
        fc.array(fc.stringMatching(/^[a-z0-9/.-]{1,12}$/), { maxLength: 4 }),
        fc.integer({ min: 1, max: 600 }),
        (labels, alpn, recordSize) => {
          const name = labels.join('.');
          const r = parseClientHello(buildClientHello({ serverName: name, alpn, recordSize }));
          expect(r.status).toBe('ok');
          if (r.status === 'ok') {
            expect(r.value.serverName).toBe(name);
            expect(r.value.alpn).toEqual(alpn);
          }
        },
      ),
    );
  });
});

describe('buildTlsAlert', () => {
  it('builds a fatal alert record', () => {
    expect([...buildTlsAlert(TlsAlert.unrecognizedName)]).toEqual([21, 3, 3, 0, 2, 2, 112]);
  });
});

describe('extension builder', () => {
  it('frames type and length', () => {
    expect([...extension(16, [1, 2])]).toEqual([0, 16, 0, 2, 1, 2]);
  });
});
