/**
 * IPv4/IPv6 addresses and CIDR blocks as bigints: pure, allocation-light, and usable on the
 * proxy's hot path (matching a client address against a route's allowlist is two bigint ops).
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket reports) are
 * treated as the IPv4 address they carry.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

export interface Cidr {
  family: 4 | 6;
  network: bigint;
  prefix: number;
  /** Canonical text, e.g. `10.0.0.0/8`. */
  text: string;
}

const MAPPED_PREFIX = 0xffffn << 32n;

function parseV4(text: string): bigint {
  let v = 0n;
  for (const part of text.split('.')) v = (v << 8n) | BigInt(Number(part));
  return v;
}

function parseV6(text: string): bigint {
  let s = text;
  // Embedded dotted quad in the last 32 bits (`::ffff:1.2.3.4`).
  let tail: bigint | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    tail = parseV4(s.slice(lastColon + 1));
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const headParts = head === '' ? [] : head.split(':');
  const restParts = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headParts.length - restParts.length;
  const parts = rest === undefined ? headParts : [...headParts, ...Array<string>(missing).fill('0'), ...restParts];
  let v = 0n;
  for (const p of parts) v = (v << 16n) | BigInt(parseInt(p, 16));
  if (tail !== null) v = (v & ~0xffffffffn) | tail;
  return v;
}

/** Parses an address; returns null when it is not a literal IPv4/IPv6 address. */
export function parseIp(text: string): IpAddress | null {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zoneless = t.includes('%') ? t.slice(0, t.indexOf('%')) : t;
  if (isIPv4(zoneless)) return { family: 4, value: parseV4(zoneless) };
  if (isIPv6(zoneless)) {
    const value = parseV6(zoneless);
    if (value >> 32n === MAPPED_PREFIX >> 32n) return { family: 4, value: value & 0xffffffffn };
    return { family: 6, value };
  }
  return null;
}

function bits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function mask(family: 4 | 6, prefix: number): bigint {
  const b = BigInt(bits(family));
  return ((1n << b) - 1n) ^ ((1n << (b - BigInt(prefix))) - 1n);
}

export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => ((v >> s) & 0xffn).toString()).join('.');
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((ip.value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

/**
 * Parses `addr/prefix` (or a bare address, meaning a single host). Host bits must be zero,
 * so `10.0.0.1/8` is refused instead of silently widened: an allowlist typo should not
 * open more than was meant.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip) return null;
  // A mapped address written with a v6 prefix is ambiguous; refuse it.
  if (ip.family === 4 && addrText.includes(':')) return null;
  let prefix = bits(ip.family);
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > bits(ip.family)) return null;
  }
  const network = ip.value & mask(ip.family, prefix);
  if (network !== ip.value) return null;
  return { family: ip.family, network, prefix, text: `${formatIp(ip)}/${prefix}` };
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  return cidr.family === ip.family && (ip.value & mask(cidr.family, cidr.prefix)) === cidr.network;
}

/** Matches a list of CIDRs against an address; the list is typically tiny. */
export function anyCidrContains(cidrs: readonly Cidr[], ip: IpAddress): boolean {
  for (const c of cidrs) if (cidrContains(c, ip)) return true;
  return false;
}

/**
 * Address ranges no route may point at, whatever a tenant's allowlist says: link-local
 * (cloud metadata services live at 169.254.169.254 and fd00:ec2::254), unspecified and
 * multicast. The control database is refused separately by host and port.
 */
export const FORBIDDEN_UPSTREAM_CIDRS: readonly Cidr[] = [
  '0.0.0.0/8',
  '169.254.0.0/16',
  '224.0.0.0/4',
  '255.255.255.255/32',
  '::/128',
  'fe80::/10',
  'ff00::/8',
  'fd00:ec2::254/128',
].map((c) => parseCidr(c)!);
