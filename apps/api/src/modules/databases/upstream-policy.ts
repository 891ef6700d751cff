/**
 * "No open proxy": a database may only point at upstreams the platform admin allowed for
 * its tenant. Pure function; the proxy repeats the address checks on resolved IPs at dial
 * time (a DNS name can change what it points at).
 */
import {
  anyCidrContains,
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

export type UpstreamVerdict = { ok: true; host: string } | { ok: false; reason: string };

export function checkUpstream(
  rawHost: string,
  port: number,
  policy: UpstreamPolicyInput,
  controlDatabase: { host: string; port: number },
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
    const allowed = policy.cidrs.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== null);
    if (!anyCidrContains(allowed, ip)) {
      return {
        ok: false,
        reason: allowed.length
          ? `${host} is outside the tenant’s allowed networks (${allowed.map((c) => c.text).join(', ')})`
          : `the tenant may not point at IP addresses; use a host name under ${policy.hostSuffixes.join(', ') || 'an allowed suffix'}`,
      };
    }
    return { ok: true, host };
  }
  if (!isValidHostname(host)) {
    return { ok: false, reason: `"${rawHost}" is not a fully qualified host name or IP address` };
  }
  const match = policy.hostSuffixes.some((s) => {
    const suffix = normalizeHostname(s.replace(/^\*?\./, ''));
    return suffix !== null && host.endsWith(`.${suffix}`);
  });
  if (!match) {
    return {
      ok: false,
      reason: policy.hostSuffixes.length
        ? `${host} is not under the tenant’s allowed suffixes (${policy.hostSuffixes.join(', ')})`
        : 'the tenant has no allowed upstream host suffixes; ask a platform admin',
    };
  }
  return { ok: true, host };
}
