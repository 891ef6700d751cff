/**
 * PROXY protocol, versions 1 (text) and 2 (binary), as specified by HAProxy:
 * https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt
 *
 * A load balancer (or a node-local forwarder, see docs/proxy.md "destination listeners")
 * prepends one header to a TCP stream to say who the client was and which address it
 * dialled. The parser is pure: it never throws on input, asks for more bytes while the
 * header is incomplete, and caps every length by a named maximum so a peer cannot make us
 * buffer without bound.
 */
import { fail, NEED_MORE, ok, type ParseResult } from './result.js';

/** §2.1: "a 108-byte buffer is always enough to store all the line and a trailing zero". */
export const PROXY_V1_MAX_LENGTH = 107;
/** §2.2: the 12-byte binary signature. */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Signature + version/command + family/transport + 16-bit length. */
export const PROXY_V2_HEADER_LENGTH = 16;
/**
 * Our cap on a v2 header (the format allows 16 + 65535). Addresses take at most 216 bytes
 * (AF_UNIX); the rest are TLVs (AWS VPC endpoint ids, SSL info, authority) which stay small.
 */
export const DEFAULT_PROXY_V2_MAX_LENGTH = 4096;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

export type ProxyFamily = 'tcp4' | 'tcp6' | 'unknown';

export interface ProxyAddress {
  /** Canonical text (`10.0.0.1`, `2001:db8::1`). */
  address: string;
  port: number;
}

export interface ProxyTlv {
  type: number;
  value: Buffer;
}

export interface ProxyHeader {
  version: 1 | 2;
  /**
   * `proxy`: the addresses describe the client's connection. `local`: the sender's own
   * connection (health checks); v1 `UNKNOWN` is reported as `local` too: use the socket's
   * own addresses.
   */
  command: 'proxy' | 'local';
  family: ProxyFamily;
  source: ProxyAddress | null;
  destination: ProxyAddress | null;
  /** v2 type-length-value extensions, in order (empty for v1). */
  tlvs: ProxyTlv[];
}

export type ProxyParseError = 'not-proxy' | 'bad-signature' | 'bad-version' | 'bad-command' | 'bad-family' | 'bad-address' | 'too-long' | 'malformed';

export interface ProxyParseOptions {
  maxV2Length?: number;
}

export function parseProxyHeader(buf: Uint8Array, opts: ProxyParseOptions = {}): ParseResult<ProxyHeader, ProxyParseError> {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] === PROXY_V2_SIGNATURE[0]) return parseV2(buf, opts.maxV2Length ?? DEFAULT_PROXY_V2_MAX_LENGTH);
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  return fail('not-proxy', 'the stream does not start with a PROXY protocol header');
}

/**
 * Whether these first bytes can still become a PROXY header (true while too short to tell).
 * Listeners use it to refuse headers from untrusted sources with a precise reason.
 */
export function looksLikeProxyHeader(buf: Uint8Array): boolean {
  if (buf.length === 0) return true;
  const sig = buf[0] === PROXY_V2_SIGNATURE[0] ? PROXY_V2_SIGNATURE : V1_PREFIX;
  const n = Math.min(buf.length, sig.length);
  for (let i = 0; i < n; i++) if (buf[i] !== sig[i]) return false;
  return true;
}

function parseV1(buf: Uint8Array): ParseResult<ProxyHeader, ProxyParseError> {
  const n = Math.min(buf.length, V1_PREFIX.length);
  for (let i = 0; i < n; i++) if (buf[i] !== V1_PREFIX[i]) return fail('not-proxy', 'the stream does not start with "PROXY "');
  let end = -1;
  const limit = Math.min(buf.length, PROXY_V1_MAX_LENGTH);
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      if (i + 1 >= buf.length) return NEED_MORE;
      if (buf[i + 1] !== 0x0a) return fail('malformed', 'CR not followed by LF');
      end = i;
      break;
    }
    // Printable US-ASCII only (§2.1); anything else cannot be a header.
    if (c < 0x20 || c > 0x7e) return fail('malformed', 'non-printable byte in a v1 header');
  }
  if (end < 0) {
    if (buf.length >= PROXY_V1_MAX_LENGTH) return fail('too-long', `v1 header longer than ${PROXY_V1_MAX_LENGTH} bytes`);
    return NEED_MORE;
  }
  const line = Buffer.from(buf.buffer, buf.byteOffset + V1_PREFIX.length, end - V1_PREFIX.length).toString('latin1');
  const consumed = end + 2;
  const parts = line.split(' ');
  const proto = parts[0];
  if (proto === 'UNKNOWN') {
    // §2.1: the receiver must ignore anything after UNKNOWN and use the real addresses.
    return ok({ version: 1, command: 'local', family: 'unknown', source: null, destination: null, tlvs: [] }, consumed);
  }
  if (proto !== 'TCP4' && proto !== 'TCP6') return fail('bad-family', `unknown v1 protocol "${proto ?? ''}"`);
  if (parts.length !== 5) return fail('malformed', 'a v1 header has exactly five fields');
  const family = proto === 'TCP4' ? 4 : 6;
  const src = v1Address(parts[1]!, family);
  const dst = v1Address(parts[2]!, family);
  const sport = v1Port(parts[3]!);
  const dport = v1Port(parts[4]!);
  if (src === null || dst === null) return fail('bad-address', `invalid ${proto} address`);
  if (sport === null || dport === null) return fail('bad-address', 'invalid port');
  return ok(
    {
      version: 1,
      command: 'proxy',
      family: family === 4 ? 'tcp4' : 'tcp6',
      source: { address: src, port: sport },
      destination: { address: dst, port: dport },
      tlvs: [],
    },
    consumed,
  );
}

function v1Port(text: string): number | null {
  // §2.1: decimal, no leading zeroes.
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

function v1Address(text: string, family: 4 | 6): string | null {
  if (family === 4) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
    if (!m) return null;
    const octets = m.slice(1).map(Number);
    if (octets.some((o) => o > 255)) return null;
    return octets.join('.');
  }
  const bytes = parseIpv6Text(text);
  return bytes ? formatIpv6(bytes) : null;
}

function parseV2(buf: Uint8Array, maxLength: number): ParseResult<ProxyHeader, ProxyParseError> {
  const n = Math.min(buf.length, PROXY_V2_SIGNATURE.length);
  for (let i = 0; i < n; i++) if (buf[i] !== PROXY_V2_SIGNATURE[i]) return fail('bad-signature', 'not a PROXY v2 signature');
  if (buf.length < PROXY_V2_HEADER_LENGTH) {
    if (buf.length > 12 && buf[12]! >> 4 !== 2) return fail('bad-version', `PROXY v2 header with version ${buf[12]! >> 4}`);
    return NEED_MORE;
  }
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return fail('bad-version', `PROXY v2 header with version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return fail('bad-command', `unknown PROXY v2 command ${cmd}`);
  const famByte = buf[13]!;
  const len = (buf[14]! << 8) | buf[15]!;
  const total = PROXY_V2_HEADER_LENGTH + len;
  if (total > maxLength) return fail('too-long', `PROXY v2 header of ${total} bytes exceeds ${maxLength}`);
  if (buf.length < total) return NEED_MORE;
  const body = Buffer.from(buf.buffer, buf.byteOffset + PROXY_V2_HEADER_LENGTH, len);
  const afam = famByte >> 4;
  const transport = famByte & 0x0f;
  if (afam > 3 || transport > 2) return fail('bad-family', `unknown PROXY v2 family/transport 0x${famByte.toString(16)}`);
  let addrLen = 0;
  let family: ProxyFamily = 'unknown';
  let source: ProxyAddress | null = null;
  let destination: ProxyAddress | null = null;
  if (afam === 1) {
    addrLen = 12;
    if (len < addrLen) return fail('bad-address', 'INET addresses truncated');
    if (transport === 1) {
      family = 'tcp4';
      source = { address: `${body[0]}.${body[1]}.${body[2]}.${body[3]}`, port: body.readUInt16BE(8) };
      destination = { address: `${body[4]}.${body[5]}.${body[6]}.${body[7]}`, port: body.readUInt16BE(10) };
    }
  } else if (afam === 2) {
    addrLen = 36;
    if (len < addrLen) return fail('bad-address', 'INET6 addresses truncated');
    if (transport === 1) {
      family = 'tcp6';
      source = { address: formatIpv6(body.subarray(0, 16)), port: body.readUInt16BE(32) };
      destination = { address: formatIpv6(body.subarray(16, 32)), port: body.readUInt16BE(34) };
    }
  } else if (afam === 3) {
    addrLen = 216;
    if (len < addrLen) return fail('bad-address', 'UNIX addresses truncated');
  }
  const tlvs: ProxyTlv[] = [];
  let off = addrLen;
  while (off < len) {
    if (len - off < 3) return fail('malformed', 'truncated TLV');
    const type = body[off]!;
    const tlvLen = body.readUInt16BE(off + 1);
    if (off + 3 + tlvLen > len) return fail('malformed', 'TLV longer than the header');
    tlvs.push({ type, value: Buffer.from(body.subarray(off + 3, off + 3 + tlvLen)) });
    off += 3 + tlvLen;
  }
  // LOCAL (health checks from the balancer itself): addresses, if any, must be ignored.
  // UNSPEC / UDP / UNIX: nothing we can route or audit; use the socket's own addresses.
  const command: ProxyHeader['command'] = cmd === 1 && family !== 'unknown' ? 'proxy' : 'local';
  if (command === 'local') {
    family = 'unknown';
    source = null;
    destination = null;
  }
  return ok({ version: 2, command, family, source, destination, tlvs }, total);
}

/** PP2_TYPE_* constants used by builders and tests (§2.2.7). */
export const ProxyTlvType = {
  alpn: 0x01,
  authority: 0x02,
  crc32c: 0x03,
  noop: 0x04,
  uniqueId: 0x05,
  ssl: 0x20,
  netns: 0x30,
} as const;

export interface ProxyHeaderSpec {
  source: ProxyAddress;
  destination: ProxyAddress;
}

/** `PROXY TCP4 …\r\n` (or TCP6); `null` builds `PROXY UNKNOWN\r\n`. */
export function buildProxyV1(spec: ProxyHeaderSpec | null): Buffer {
  if (!spec) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const v6 = spec.source.address.includes(':');
  if (v6 !== spec.destination.address.includes(':')) throw new Error('PROXY v1: source and destination must be the same family');
  const src = v6 ? formatIpv6(parseIpv6Text(spec.source.address)!) : spec.source.address;
  const dst = v6 ? formatIpv6(parseIpv6Text(spec.destination.address)!) : spec.destination.address;
  return Buffer.from(`PROXY ${v6 ? 'TCP6' : 'TCP4'} ${src} ${dst} ${spec.source.port} ${spec.destination.port}\r\n`, 'latin1');
}

/** A v2 PROXY (or, with `null`, LOCAL) header over TCP, with optional TLVs. */
export function buildProxyV2(spec: ProxyHeaderSpec | null, tlvs: readonly ProxyTlv[] = []): Buffer {
  const tlvBytes = Buffer.concat(
    tlvs.map((t) => {
      const h = Buffer.alloc(3);
      h[0] = t.type;
      h.writeUInt16BE(t.value.length, 1);
      return Buffer.concat([h, t.value]);
    }),
  );
  let addr = Buffer.alloc(0);
  let famByte = 0x00;
  if (spec) {
    const v6 = spec.source.address.includes(':');
    if (v6 !== spec.destination.address.includes(':')) throw new Error('PROXY v2: source and destination must be the same family');
    if (v6) {
      famByte = 0x21;
      addr = Buffer.alloc(36);
      parseIpv6Text(spec.source.address)!.copy(addr, 0);
      parseIpv6Text(spec.destination.address)!.copy(addr, 16);
      addr.writeUInt16BE(spec.source.port, 32);
      addr.writeUInt16BE(spec.destination.port, 34);
    } else {
      famByte = 0x11;
      addr = Buffer.alloc(12);
      Buffer.from(spec.source.address.split('.').map(Number)).copy(addr, 0);
      Buffer.from(spec.destination.address.split('.').map(Number)).copy(addr, 4);
      addr.writeUInt16BE(spec.source.port, 8);
      addr.writeUInt16BE(spec.destination.port, 10);
    }
  }
  const head = Buffer.alloc(PROXY_V2_HEADER_LENGTH);
  PROXY_V2_SIGNATURE.copy(head, 0);
  head[12] = spec ? 0x21 : 0x20;
  head[13] = famByte;
  head.writeUInt16BE(addr.length + tlvBytes.length, 14);
  return Buffer.concat([head, addr, tlvBytes]);
}

/** RFC 4291 text → 16 bytes (with an embedded dotted quad allowed); null when invalid. */
function parseIpv6Text(text: string): Buffer | null {
  if (text.length < 2 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  let s = text;
  const out = Buffer.alloc(16);
  let tail: number[] | null = null;
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return null;
  if (s.includes('.', lastColon)) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.slice(lastColon + 1));
    if (!m) return null;
    tail = m.slice(1).map(Number);
    if (tail.some((o) => o > 255)) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (p: string) => (p === '' ? [] : p.split(':'));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const groups = halves.length === 2 ? [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest] : head;
  if (groups.length !== 8 || (halves.length === 2 && head.length + rest.length > 7)) return null;
  for (let i = 0; i < 8; i++) {
    const g = groups[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    out.writeUInt16BE(parseInt(g, 16), i * 2);
  }
  if (tail) Buffer.from(tail).copy(out, 12);
  return out;
}

/** 16 bytes → RFC 5952 canonical text. */
function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
