import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { frameRecords } from './tls-builders.js';
import { parseClientHello, TLS_RECORD_HEADER_LENGTH } from './tls-client-hello.js';

function load(name: string): Buffer {
  const hex = readFileSync(new URL(`../fixtures/${name}.hex`, import.meta.url), 'utf8');
  return Buffer.concat(hex.trim().split('\n').map((l) => Buffer.from(l, 'hex')));
}

/** Re-frames a single-record hello into records of `size` bytes (as some stacks send it). */
function reframe(bytes: Buffer, size: number): Buffer {
  const len = bytes.readUInt16BE(3);
  return frameRecords(bytes.subarray(TLS_RECORD_HEADER_LENGTH, TLS_RECORD_HEADER_LENGTH + len), size, bytes.readUInt16BE(1));
}

const cases = [
  { name: 'chromium-pq', serverName: 'pq.acme.db.example.com', alpn: ['h2', 'http/1.1'], minLength: 1500 },
  { name: 'curl', serverName: 'app.acme.db.example.com', alpn: ['h2', 'http/1.1'], minLength: 200 },
  { name: 'openssl-s_client-alpn', serverName: 'db1.acme.db.example.com', alpn: ['postgresql', 'http/1.1'], minLength: 200 },
  { name: 'psql-15', serverName: 'db1.acme.db.example.com', alpn: [], minLength: 200 },
];

describe.each(cases)('captured $name hello', ({ name, serverName, alpn, minLength }) => {
  const bytes = load(name);

  it('parses whole', () => {
    expect(bytes.length).toBeGreaterThan(minLength);
    const r = parseClientHello(bytes);
    expect(r.status).toBe('ok');
    if (r.status !== 'ok') return;
    expect(r.value.serverName).toBe(serverName);
    expect(r.value.alpn).toEqual(alpn);
    expect(r.value.supportedVersions).toContain(0x0304);
    expect(r.consumed).toBe(bytes.length);
  });

  it('needs more at every split offset (TCP segmentation)', () => {
    for (let cut = 0; cut < bytes.length; cut++) expect(parseClientHello(bytes.subarray(0, cut)).status).toBe('need-more');
  });

  it('parses the same when split into several TLS records', () => {
    for (const size of [1, 100, 512, 1000]) {
      const framed = reframe(bytes, size);
      const r = parseClientHello(framed);
      expect(r.status, `records of ${size}`).toBe('ok');
      if (r.status === 'ok') {
        expect(r.value.serverName).toBe(serverName);
        expect(r.value.records).toBe(Math.ceil((bytes.length - TLS_RECORD_HEADER_LENGTH) / size));
      }
    }
  });
});

describe('the post-quantum hello', () => {
  it('carries an X25519MLKEM768 key share (group 0x11ec) of 1216 + 32 bytes', () => {
    const bytes = load('chromium-pq');
    // key_share extension (51): find the group id followed by its 1216+32-byte length.
    expect(bytes.includes(Buffer.from([0x11, 0xec, 0x04, 0xc0]))).toBe(true);
  });
});
