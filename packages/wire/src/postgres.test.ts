import fc from 'fast-check';
import { fuzz } from '@switchyard/testkit/fuzz';
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
  PG_PROTOCOL_3_2,
  SqlState,
  withStartupParameter,
} from './postgres.js';

describe('parseStartupPacket', () => {
  it('recognises SSLRequest and GSSENCRequest', () => {
    expect(parseStartupPacket(buildSslRequest())).toEqual({ status: 'ok', value: { kind: 'ssl-request' }, consumed: 8 });
    expect(parseStartupPacket(buildGssEncRequest())).toEqual({ status: 'ok', value: { kind: 'gssenc-request' }, consumed: 8 });
  });

  it('parses a StartupMessage with parameters (3.0 and 3.2)', () => {
    for (const version of [196608, PG_PROTOCOL_3_2]) {
      const msg = buildStartupMessage({ user: 'alice', database: 'app', options: '-c search_path=x' }, version);
      const r = parseStartupPacket(msg);
      expect(r).toMatchObject({ status: 'ok', consumed: msg.length });
      if (r.status === 'ok' && r.value.kind === 'startup') {
        expect(r.value.protocolVersion).toBe(version);
        expect({ ...r.value.parameters }).toEqual({ user: 'alice', database: 'app', options: '-c search_path=x' });
      }
    }
  });

  it('parses CancelRequest with 4-byte and 32-byte keys', () => {
    for (const key of [Buffer.from([1, 2, 3, 4]), Buffer.alloc(32, 5)]) {
      const r = parseStartupPacket(buildCancelRequest(4242, key));
      expect(r).toMatchObject({ status: 'ok', value: { kind: 'cancel-request', processId: 4242 } });
      if (r.status === 'ok' && r.value.kind === 'cancel-request') expect(r.value.secretKey.equals(key)).toBe(true);
    }
  });

  it('needs more at every split offset', () => {
    for (const msg of [buildSslRequest(), buildStartupMessage({ user: 'u' }), buildCancelRequest(1, Buffer.alloc(4))]) {
      for (let cut = 0; cut < msg.length; cut++) expect(parseStartupPacket(msg.subarray(0, cut)).status).toBe('need-more');
    }
  });

  it('fails fast on impossible lengths', () => {
    expect(parseStartupPacket(Buffer.from([0, 0, 0, 4]))).toMatchObject({ code: 'bad-length' });
    expect(parseStartupPacket(Buffer.from([0x7f, 0, 0, 0]))).toMatchObject({ code: 'too-long' });
    expect(parseStartupPacket(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toMatchObject({ code: 'bad-length' });
    const longSsl = Buffer.from([0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2f]);
    expect(parseStartupPacket(longSsl)).toMatchObject({ code: 'bad-length' });
  });

  it('accepts what PostgreSQL accepts: 10,000 bytes after the length word (10,004 in all), every split offset needing more', () => {
    // backend_startup.c ProcessStartupPacket subtracts the length word before comparing with
    // MAX_STARTUP_PACKET_LENGTH: a 10,004-byte StartupMessage (long `options`) reaches a session.
    const sized = (total: number) => buildStartupMessage({ user: 'u', options: 'x'.repeat(total - 8 - 'user\0u\0options\0'.length - 2) });
    const longest = sized(10004);
    expect(longest).toHaveLength(10004);
    expect(parseStartupPacket(longest)).toMatchObject({ status: 'ok', consumed: 10004 });
    expect(PG_MAX_STARTUP_PACKET_LENGTH).toBe(10004);
    for (let cut = 0; cut < longest.length; cut++) expect(parseStartupPacket(longest.subarray(0, cut)).status).toBe('need-more');
    expect(parseStartupPacket(sized(10005).subarray(0, 4))).toMatchObject({ status: 'error', code: 'too-long' });
  });

  it('refuses protocol 2 and unknown codes', () => {
    const v2 = Buffer.alloc(12);
    v2.writeInt32BE(12, 0);
    v2.writeInt32BE(2 << 16, 4);
    expect(parseStartupPacket(v2)).toMatchObject({ code: 'unsupported-protocol' });
  });

  it('refuses parameters without terminators', () => {
    const msg = buildStartupMessage({ user: 'u' });
    const broken = Buffer.from(msg);
    broken[broken.length - 1] = 0x41;
    expect(parseStartupPacket(broken)).toMatchObject({ code: 'malformed' });
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expect(['need-more', 'ok', 'error']).toContain(parseStartupPacket(bytes).status);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('buildErrorResponse', () => {
  it('round-trips through the backend message parser', () => {
    const bytes = buildErrorResponse({ sqlstate: SqlState.rejectedConnection, message: 'nope', detail: 'd', hint: 'h' });
    const r = parseBackendMessage(bytes);
    expect(r.status).toBe('ok');
    if (r.status !== 'ok') return;
    expect(r.value.type).toBe('E');
    expect(parseErrorFields(r.value.body)).toEqual({ S: 'FATAL', V: 'FATAL', C: '08004', M: 'nope', D: 'd', H: 'h' });
  });
});

describe('withStartupParameter', () => {
  /** A StartupMessage from raw key/value bytes (values need not be UTF-8). */
  const raw = (pairs: Array<[string, Buffer]>, version = 196608): Buffer => {
    const body = Buffer.concat([...pairs.flatMap(([k, v]) => [Buffer.from(`${k}\0`), v, Buffer.from([0])]), Buffer.from([0])]);
    const head = Buffer.alloc(8);
    head.writeInt32BE(8 + body.length, 0);
    head.writeInt32BE(version, 4);
    return Buffer.concat([head, body]);
  };
  const latin1User = Buffer.from([0x6a, 0x6f, 0x73, 0xe9]); // "josé" in Latin-1: not UTF-8

  it('replaces or drops one parameter and copies every other byte for byte (a Latin-1 user stays Latin-1)', () => {
    const packet = raw([['user', latin1User], ['options', Buffer.from('endpoint=orders.acme -c x=1')], ['database', Buffer.from('app')]], PG_PROTOCOL_3_2);
    expect(withStartupParameter(packet, 'options', '-c x=1')).toEqual(raw([['user', latin1User], ['options', Buffer.from('-c x=1')], ['database', Buffer.from('app')]], PG_PROTOCOL_3_2));
    expect(withStartupParameter(packet, 'options', null)).toEqual(raw([['user', latin1User], ['database', Buffer.from('app')]], PG_PROTOCOL_3_2));
    // Rebuilt from decoded strings, the user would have arrived as "jos\uFFFD".
    const parsed = parseStartupPacket(withStartupParameter(packet, 'options', null));
    expect(parsed.status).toBe('ok');
  });

  it('adds the parameter when absent, and leaves a message without it unchanged when dropping', () => {
    const packet = raw([['user', Buffer.from('alice')]]);
    expect(withStartupParameter(packet, 'options', null)).toEqual(packet);
    expect(withStartupParameter(packet, 'options', '-c a=b')).toEqual(raw([['user', Buffer.from('alice')], ['options', Buffer.from('-c a=b')]]));
  });

  it('agrees with parsing for any parameters (property)', () => {
    const name = fc.stringMatching(/^[a-z_]{1,12}$/);
    const value = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => Buffer.from(a.map((b) => (b === 0 ? 1 : b))));
    fuzz(
      fc.property(fc.uniqueArray(fc.tuple(name, value), { selector: ([k]) => k, maxLength: 6 }), fc.option(fc.string({ maxLength: 20 }).filter((v) => !v.includes('\0'))), (pairs, replacement) => {
        const others = pairs.filter(([k]) => k !== 'options');
        const out = withStartupParameter(raw([...others, ['options', Buffer.from('endpoint=x')]]), 'options', replacement);
        expect(out).toEqual(raw(replacement === null ? others : [...others, ['options', Buffer.from(replacement)]]));
      }),
      300,
    );
  });
});
