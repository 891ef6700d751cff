/**
 * CIDR checks for the allowlist editor, with the API's rules (an address, or address/prefix
 * with zero host bits, IPv4 or IPv6): the editor says what is wrong while typing, suggests the
 * network a mistyped entry probably meant, and counts the addresses each entry lets in.
 */

export type Family = 4 | 6;

export type CidrCheck =
  | { ok: true; family: Family; prefix: number; text: string; count: bigint }
  | { ok: false; message: string; suggestion?: string };

function parseV4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (v4 === null) return null;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  let v = 0n;
  for (const g of [...head, ...new Array<number>(missing).fill(0), ...tail]) v = (v << 16n) | BigInt(g);
  return v;
}

export function parseIp(s: string): { family: Family; value: bigint } | null {
  const v4 = parseV4(s);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = s.includes(':') ? parseV6(s) : null;
  return v6 === null ? null : { family: 6, value: v6 };
}

function formatIp(family: Family, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((sh) => ((v >> sh) & 0xffn).toString()).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of zero groups (2 or more) becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function checkCidr(input: string): CidrCheck {
  const text = input.trim();
  if (!text) return { ok: false, message: 'Enter an address or a network, e.g. 203.0.113.0/24' };
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addr);
  if (!ip) return { ok: false, message: `"${addr}" is not an IPv4 or IPv6 address` };
  const bits = ip.family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return { ok: false, message: `The prefix must be a number from 0 to ${bits}` };
    prefix = Number(p);
  }
  const hostBits = BigInt(bits - prefix);
  const network = (ip.value >> hostBits) << hostBits;
  if (network !== ip.value) {
    const suggestion = `${formatIp(ip.family, network)}/${prefix}`;
    return { ok: false, message: `Host bits are set; the network is ${suggestion}`, suggestion };
  }
  return { ok: true, family: ip.family, prefix, text: `${formatIp(ip.family, network)}/${prefix}`, count: 1n << hostBits };
}

/** "1 address", "256 addresses", "65,536 addresses", "2^64 addresses". */
export function formatAddressCount(count: bigint): string {
  if (count === 1n) return '1 address';
  if (count > 1_000_000_000_000n) return `2^${count.toString(2).length - 1} addresses`;
  return `${Number(count).toLocaleString('en-US')} addresses`;
}

/** The allowlist entry for one address: /32 or /128. */
export function hostEntry(address: string): string | null {
  const ip = parseIp(address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1'));
  if (!ip) return null;
  return `${formatIp(ip.family, ip.value)}/${ip.family === 4 ? 32 : 128}`;
}

/** Per entry: its check, and whether an earlier entry is the same network. */
export function checkAllowlist(entries: string[]): Array<CidrCheck & { duplicate: boolean }> {
  const seen = new Set<string>();
  return entries.map((e) => {
    const c = checkCidr(e);
    const duplicate = c.ok && seen.has(c.text);
    if (c.ok) seen.add(c.text);
    return { ...c, duplicate };
  });
}
