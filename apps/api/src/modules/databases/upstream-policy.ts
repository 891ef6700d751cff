/**
 * "No open proxy": a database may only point at upstreams the platform admin allowed for
 * its tenant. Pure function; the proxy repeats the address checks on resolved IPs at dial
 * time (a DNS name can change what it points at).
 *
 * Refused whatever the tenant's policy says: the control database, link-local (cloud
 * metadata 169.254.169.254, fd00:ec2::254), unspecified and multicast ranges, loopback
 * (unless the platform allows it: development and tests), and anything inside another
 * tenant's more specific namespace (suffix or CIDR) — a broad grant such as
 * `svc.cluster.local` never reaches into `beta.svc.cluster.local` when that belongs to beta.
 */
import {
  anyCidrContains,
  cidrContains,
  FORBIDDEN_UPSTREAM_CIDRS,
  formatIp,
  isIpLiteral,
  isValidHostname,
  normalizeHostname,
  parseCidr,
  parseIp,
  type Cidr,
  type IpAddress,
} from '@switchyard/core';

export interface UpstreamPolicyInput {
  hostSuffixes: string[];
  cidrs: string[];
}

/** Platform-wide facts the check needs besides the tenant's own policy. */
export interface UpstreamPlatform {
  /** Loopback upstreams (127.0.0.0/8, ::1) are refused unless this is set. */
  allowLoopback?: boolean;
  /** Other tenants' policies, whose more specific namespaces are theirs alone. */
  otherTenants?: ReadonlyArray<{ slug: string } & UpstreamPolicyInput>;
}

const LOOPBACK = ['127.0.0.0/8', '::1/128'].map((c) => parseCidr(c)!);

const suffixOf = (s: string) => normalizeHostname(s.replace(/^\*?\./, ''));
const under = (host: string, suffix: string) => host.endsWith(`.${suffix}`);

export type UpstreamVerdict = { ok: true; host: string } | { ok: false; reason: string };

export function checkUpstream(
  rawHost: string,
  port: number,
  policy: UpstreamPolicyInput,
  controlDatabase: { host: string; port: number },
  platform: UpstreamPlatform = {},
): UpstreamVerdict {
  const host = normalizeHostname(rawHost.replace(/^\[|\]$/g, ''));
  if (!host) return { ok: false, reason: 'the upstream host is empty' };
  const control = normalizeHostname(controlDatabase.host);
  if (host === control && port === controlDatabase.port) {
    return { ok: false, reason: 'the upstream is Switchyard’s own control database' };
  }
  if (isIpLiteral(host)) {
    const ip = parseIp(host)!;
    if (anyCidrContains(FORBIDDEN_UPSTREAM_CIDRS, ip)) {
      return { ok: false, reason: `${host} is in a range no route may reach (link-local, metadata, multicast or unspecified)` };
    }
    if (!platform.allowLoopback && anyCidrContains(LOOPBACK, ip)) {
      return { ok: false, reason: `${host} is a loopback address; the proxy's own host is not a database` };
    }
    const allowed = policy.cidrs.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== null);
    if (!anyCidrContains(allowed, ip)) {
      return {
        ok: false,
        reason: allowed.length
          ? `${host} is outside the tenant’s allowed networks (${allowed.map((c) => c.text).join(', ')})`
          : `the tenant may not point at IP addresses; use a host name under ${policy.hostSuffixes.join(', ') || 'an allowed suffix'}`,
      };
    }
    const own = Math.max(...allowed.filter((c) => cidrContains(c, ip)).map((c) => c.prefix));
    for (const other of platform.otherTenants ?? []) {
      for (const text of other.cidrs) {
        const c = parseCidr(text);
        if (c && c.prefix > own && cidrContains(c, ip)) {
          return { ok: false, reason: `${host} is inside ${c.text}, which belongs to another tenant (${other.slug})` };
        }
      }
    }
    return { ok: true, host };
  }
  if (!isValidHostname(host)) {
    return { ok: false, reason: `"${rawHost}" is not a fully qualified host name or IP address` };
  }
  const matching = policy.hostSuffixes.map(suffixOf).filter((s): s is string => s !== null && under(host, s));
  if (matching.length === 0) {
    return {
      ok: false,
      reason: policy.hostSuffixes.length
        ? `${host} is not under the tenant’s allowed suffixes (${policy.hostSuffixes.join(', ')})`
        : 'the tenant has no allowed upstream host suffixes; ask a platform admin',
    };
  }
  const own = Math.max(...matching.map((s) => s.length));
  for (const other of platform.otherTenants ?? []) {
    for (const text of other.hostSuffixes) {
      const s = suffixOf(text);
      if (s && s.length > own && under(host, s)) {
        return { ok: false, reason: `${host} is in another tenant's namespace (${other.slug}: *.${s})` };
      }
    }
  }
  return { ok: true, host };
}

/** Entries of other tenants' policies, as stored: host suffixes and CIDRs. */
export interface NamespaceKeys {
  hostSuffixes: string[];
  cidrs: string[];
}

/**
 * The entries of another tenant's policy that could make checkUpstream refuse `rawHost` for a
 * tenant with `policy`: those more specific than the tenant's own most specific grant that
 * covers the host. A host suffix `s` refuses `host` when `host` ends in `.s` and `s` is longer
 * than that grant, so `s` is one of the host's proper label suffixes (`pg.beta.svc.local` →
 * `beta.svc.local`, `svc.local`, `local`) longer than it; a CIDR refuses an address when it
 * contains it with a longer prefix, so it is the address's network at one of the longer
 * prefixes (`10.9.0.4` under an own `/8` → `10.0.0.0/9` … `10.9.0.4/32`). Both as stored:
 * policies are normalised on write (tenants.service.ts normalizePolicy: lower case, no
 * leading `*.`, canonical CIDR text), so equality on these strings is the containment test,
 * and PostgreSQL answers "which tenants hold one of them" from a GIN index on each list
 * (array overlap, `&&`) without reading the others.
 *
 * Empty when the tenant's own policy does not cover the host (checkUpstream refuses it before
 * looking at other tenants), or when nothing more specific exists (the common case: a host
 * directly under the tenant's own suffix). Platform rules are not looked at: they never
 * depend on other tenants.
 */
export function namespaceKeys(rawHost: string, policy: UpstreamPolicyInput): NamespaceKeys {
  const none: NamespaceKeys = { hostSuffixes: [], cidrs: [] };
  const host = normalizeHostname(rawHost.replace(/^\[|\]$/g, ''));
  if (!host) return none;
  if (isIpLiteral(host)) {
    const ip = parseIp(host)!;
    const own = policy.cidrs
      .map((c) => parseCidr(c))
      .filter((c): c is Cidr => c !== null && cidrContains(c, ip))
      .map((c) => c.prefix);
    if (own.length === 0) return none;
    return { hostSuffixes: [], cidrs: networksOf(ip, Math.max(...own) + 1, ip.family === 4 ? 32 : 128) };
  }
  if (!isValidHostname(host)) return none;
  const own = policy.hostSuffixes.map(suffixOf).filter((s): s is string => s !== null && under(host, s));
  if (own.length === 0) return none;
  const longest = Math.max(...own.map((s) => s.length));
  return { hostSuffixes: labelSuffixes(host).filter((s) => s.length > longest), cidrs: [] };
}

/** `a.b.c` → `b.c`, `c`: the names `a.b.c` is under. */
export function labelSuffixes(name: string): string[] {
  const out: string[] = [];
  for (let i = name.indexOf('.'); i >= 0; i = name.indexOf('.', i + 1)) out.push(name.slice(i + 1));
  return out;
}

/** The canonical text (as parseCidr writes it) of `ip`'s network at each prefix `from…to`. */
export function networksOf(ip: IpAddress, from: number, to: number): string[] {
  const bits = ip.family === 4 ? 32 : 128;
  const all = (1n << BigInt(bits)) - 1n;
  const out: string[] = [];
  for (let p = Math.max(0, from); p <= Math.min(bits, to); p++) {
    const mask = all ^ ((1n << BigInt(bits - p)) - 1n);
    out.push(`${formatIp({ family: ip.family, value: ip.value & mask })}/${p}`);
  }
  return out;
}
