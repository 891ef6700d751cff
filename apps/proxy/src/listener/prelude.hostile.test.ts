/**
 * The routing front ends under hostile input: the PROXY-protocol prelude (trusted,
 * untrusted, required) and the `http` listener's sniffer. Bounded, seeded runs
 * (`FC_SEED=<seed>` replays a failure). Each must never throw, must decide within a byte
 * bound, and must hand on exactly the bytes it did not consume.
 */
import { buildClientHello, buildProxyV1, buildProxyV2, DEFAULT_PROXY_V2_MAX_LENGTH, PROXY_V2_HEADER_LENGTH } from '@switchyard/wire';
import { fuzz } from '@switchyard/testkit/fuzz';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HttpSniffer } from '../sniff/http-sniffer.js';
import { ProxyPrelude, type PreludeResult } from './proxy-prelude.js';

const chunkSizes = fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 });

function chunked(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0, i = 0; p < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(bytes.subarray(p, p + n));
    p += n;
  }
  return out;
}

const address = fc
  .oneof(fc.tuple(fc.ipV4(), fc.ipV4()), fc.tuple(fc.ipV6(), fc.ipV6()))
  .chain(([s, d]) => fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 })).map(([sp, dp]) => ({ source: { address: s, port: sp }, destination: { address: d, port: dp } })));
const header = fc.oneof(address.map((a) => buildProxyV1(a)), address.map((a) => buildProxyV2(a)), fc.constant(buildProxyV2(null)), fc.constant(buildProxyV1(null)));
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.constant(buildClientHello({ serverName: 'a.acme.db.example.com' })),
  fc.constant(Buffer.from('GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n')),
);
const stream = fc.oneof(
  fc.tuple(header, payload).map(([h, p]) => Buffer.concat([h, p])),
  payload,
  fc.tuple(header, fc.nat(), fc.integer({ min: 0, max: 255 }), payload).map(([h, at, v, p]) => {
    const b = Buffer.from(h);
    b[at % b.length] = v;
    return Buffer.concat([b, p]);
  }),
);

const PRELUDE_BOUND = PROXY_V2_HEADER_LENGTH + DEFAULT_PROXY_V2_MAX_LENGTH;

describe.each([
  ['trusted, optional', true, false],
  ['trusted, required (destination)', true, true],
  ['untrusted', false, false],
] as const)('ProxyPrelude (%s) under hostile input', (_name, trusted, required) => {
  it('never throws, decides within the header cap, and passes on exactly the unconsumed bytes', () => {
    fuzz(
      fc.property(stream, chunkSizes, (bytes, sizes) => {
        const prelude = new ProxyPrelude(trusted, required);
        let r: PreludeResult = { type: 'need-more' };
        let fed = 0;
        for (const c of chunked(bytes, sizes)) {
          r = prelude.feed(c);
          fed += c.length;
          if (r.type !== 'need-more') break;
        }
        expect(['need-more', 'done', 'refuse']).toContain(r.type);
        if (r.type === 'need-more') expect(fed).toBeLessThan(PRELUDE_BOUND);
        if (r.type === 'done') {
          const consumed = fed - r.rest.length;
          expect(bytes.subarray(consumed, fed).equals(r.rest)).toBe(true);
          if (r.header === null) expect(consumed).toBe(0);
          if (!trusted) expect(r.header).toBeNull();
        }
      }),
      1500,
    );
  });

  it(`${trusted ? 'accepts' : 'refuses'} a well-formed header at any chunking`, () => {
    fuzz(
      fc.property(address, fc.boolean(), payload, chunkSizes, (a, v2, p, sizes) => {
        const h = v2 ? buildProxyV2(a) : buildProxyV1(a);
        const prelude = new ProxyPrelude(trusted, required);
        let r: PreludeResult = { type: 'need-more' };
        for (const c of chunked(Buffer.concat([h, p]), sizes)) {
          r = prelude.feed(c);
          if (r.type !== 'need-more') break;
        }
        if (trusted) expect(r).toMatchObject({ type: 'done', header: { command: 'proxy' } });
        else expect(r).toMatchObject({ type: 'refuse', code: 'proxy_header_untrusted' });
      }),
      500,
    );
  });
});

describe('HttpSniffer under hostile input', () => {
  const MAX = 4096;
  const heads = fc.oneof(
    fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
    fc.stringMatching(/^[a-z0-9.-]{1,40}$/).map((h) => Buffer.from(`GET / HTTP/1.1\r\nHost: ${h}\r\nUser-Agent: x\r\n\r\n`)),
    fc.tuple(fc.stringMatching(/^[ -~]{0,60}$/), fc.nat()).map(([junk, n]) => Buffer.from(`POST /x HTTP/1.1\r\n${'X-A: b\r\n'.repeat(n % 50)}${junk}\r\n\r\nbody`)),
    fc.constant(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX)}\r\n\r\n`)),
    fc.constant(buildClientHello()),
  );

  it('never throws, decides within the head cap, and replays every byte it read', () => {
    fuzz(
      fc.property(heads, fc.uint8Array({ maxLength: 64 }), chunkSizes, (head, tail, sizes) => {
        const bytes = Buffer.concat([head, Buffer.from(tail)]);
        const s = new HttpSniffer(MAX);
        let fed = 0;
        let decided = false;
        for (const c of chunked(bytes, sizes)) {
          const r = s.feed(c);
          fed += c.length;
          expect(['need-more', 'request', 'refuse']).toContain(r.type);
          if (r.type === 'request') expect(r.bytes.equals(bytes.subarray(0, fed))).toBe(true);
          if (r.type !== 'need-more') {
            decided = true;
            break;
          }
        }
        if (!decided) {
          expect(fed).toBeLessThan(MAX);
          const end = s.endOfInput();
          if (fed > 0) expect(end?.type).toBe('refuse');
        }
      }),
      2000,
    );
  });
});
