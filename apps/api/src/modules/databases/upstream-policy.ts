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
  isIpLiteral,
  isValidHostname,
  normalizeHostname,
  parseCidr,
  parseIp,
  type Cidr,
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
