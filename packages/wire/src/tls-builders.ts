/**
 * Builders for TLS ClientHello bytes, for tests, fixtures and benchmarks. They produce
 * well-formed hellos by default; options bend them into the shapes real clients send
 * (large post-quantum key shares, several records) or into specific malformations.
 */
import { TLS_EXT_ALPN, TLS_EXT_SERVER_NAME, TLS_EXT_SUPPORTED_VERSIONS } from './tls-client-hello.js';

export interface ClientHelloSpec {
  serverName?: string | null;
  alpn?: string[];
  supportedVersions?: number[];
  /** Extra extensions as [type, body]. */
  extensions?: Array<[number, Uint8Array]>;
  /** Bytes of key_share payload to add (X25519MLKEM768 is 1216 + 32 bytes). */
  keyShareBytes?: number;
  /** Split the handshake message into records of at most this many bytes. */
  recordSize?: number;
  legacyRecordVersion?: number;
}

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

export function extension(type: number, body: Uint8Array | number[]): Buffer {
  const b = Buffer.from(body);
  return Buffer.from([...u16(type), ...u16(b.length), ...b]);
}

export function serverNameExtensionBody(name: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const entry = Buffer.from([0, ...u16(n.length), ...n]);
  return Buffer.from([...u16(entry.length), ...entry]);
}

export function alpnExtensionBody(protocols: string[]): Buffer {
  const list = Buffer.concat(protocols.map((p) => Buffer.from([p.length, ...Buffer.from(p, 'latin1')])));
  return Buffer.from([...u16(list.length), ...list]);
}

/** The ClientHello handshake message (type + length + body), without record framing. */
export function buildClientHelloMessage(spec: ClientHelloSpec = {}): Buffer {
  const exts: Buffer[] = [];
  const serverName = spec.serverName === undefined ? 'db1.acme.db.example.com' : spec.serverName;
  if (serverName !== null) exts.push(extension(TLS_EXT_SERVER_NAME, serverNameExtensionBody(serverName)));
  if (spec.alpn && spec.alpn.length > 0) exts.push(extension(TLS_EXT_ALPN, alpnExtensionBody(spec.alpn)));
  const versions = spec.supportedVersions ?? [0x0304, 0x0303];
  if (versions.length > 0) {
    exts.push(extension(TLS_EXT_SUPPORTED_VERSIONS, [versions.length * 2, ...versions.flatMap(u16)]));
  }
  if (spec.keyShareBytes && spec.keyShareBytes > 0) {
    // key_share (51): client_shares<2..> of { group(2), key_exchange<2..> }.
    const key = Buffer.alloc(spec.keyShareBytes, 0xab);
    const share = Buffer.from([...u16(0x11ec), ...u16(key.length), ...key]);
    exts.push(extension(51, Buffer.from([...u16(share.length), ...share])));
  }
  for (const [type, body] of spec.extensions ?? []) exts.push(extension(type, body));
  const extBytes = Buffer.concat(exts);
  const cipherSuites = [0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2f];
  const body = Buffer.from([
    3, 3, // legacy_version TLS 1.2
    ...Buffer.alloc(32, 7), // random
    32, ...Buffer.alloc(32, 9), // legacy_session_id
    ...u16(cipherSuites.length), ...cipherSuites,
    1, 0, // compression: null
    ...u16(extBytes.length), ...extBytes,
  ]);
  return Buffer.from([1, ...u24(body.length), ...body]);
}

/** Wraps handshake bytes in TLS records of at most `recordSize` bytes each. */
export function frameRecords(message: Uint8Array, recordSize = 16384, version = 0x0301, contentType = 22): Buffer {
  const out: Buffer[] = [];
  for (let p = 0; p < message.length; p += recordSize) {
    const frag = message.subarray(p, Math.min(p + recordSize, message.length));
    out.push(Buffer.from([contentType, ...u16(version), ...u16(frag.length)]), Buffer.from(frag));
  }
  return Buffer.concat(out);
}

export function buildClientHello(spec: ClientHelloSpec = {}): Buffer {
  return frameRecords(buildClientHelloMessage(spec), spec.recordSize ?? 16384, spec.legacyRecordVersion ?? 0x0301);
}
