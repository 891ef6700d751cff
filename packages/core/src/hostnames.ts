/**
 * Hostname rules shared by the API (validation) and the proxy (matching).
 * Route hostnames are stored lower-case without a trailing dot; SNI values are
 * normalised the same way before lookup (RFC 6066 §3: HostName is compared
 * case-insensitively, and "the trailing dot is not included").
 */
import { isIP } from 'node:net';

/** RFC 1035 limit on a full name, in octets, without the trailing dot. */
export const MAX_HOSTNAME_LENGTH = 253;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Tenant and database names become one DNS label each; keep them short and readable. */
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
export const SLUG_PATTERN = SLUG.source;
export const MAX_SLUG_LENGTH = 40;

/** Lower-cases and drops one trailing dot. Returns null for empty results. */
export function normalizeHostname(input: string): string | null {
  let h = input.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.length === 0 ? null : h;
}

export function isDnsLabel(label: string): boolean {
  return LABEL.test(label);
}

export function isSlug(value: string): boolean {
  return SLUG.test(value);
}

export function isIpLiteral(value: string): boolean {
  const v = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  return isIP(v) !== 0;
}

/**
 * A name a certificate can carry and SNI can send (RFC 6066 §3: a DNS host name, not an
 * address), already normalised: a route's `upstreamServerName`.
 */
export function isUpstreamServerName(name: string): boolean {
  if (name.length > 253 || isIpLiteral(name)) return false;
  return name.split('.').every((l) => isDnsLabel(l));
}

/** A fully qualified host name (at least two labels), already normalised. */
export function isValidHostname(name: string): boolean {
  if (name.length === 0 || name.length > MAX_HOSTNAME_LENGTH) return false;
  if (isIpLiteral(name)) return false;
  const labels = name.split('.');
  if (labels.length < 2) return false;
  return labels.every((l) => isDnsLabel(l));
}

/** `*.apps.example.com`: one leading wildcard label over a valid hostname. */
export function isValidWildcardHostname(name: string): boolean {
  return name.startsWith('*.') && isValidHostname(name.slice(2));
}

/** Default route hostname: `<database>.<tenant>.<base domain>`. */
export function defaultRouteHostname(database: string, tenant: string, baseDomain: string): string {
  return `${database}.${tenant}.${baseDomain}`;
}

/** True when `host` is `domain` itself or lies beneath it. Both normalised. */
export function isUnderDomain(host: string, domain: string): boolean {
  return host === domain || host.endsWith(`.${domain}`);
}
