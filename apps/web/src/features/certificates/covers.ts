/**
 * Which certificates can serve a host name: the picker of a terminate-mode route offers only
 * those. Pure, and the same rule the API enforces when a certificate is attached
 * (@switchyard/pki certificateCovers: OpenSSL's X509_check_host without partial or
 * multi-label wildcards; a parity test in apps/api checks both agree).
 *
 * RFC 6125 §6.4: names compare case-insensitively (one trailing dot ignored); a wildcard is the
 * whole left-most label (`*.example.com`, never `db*.example.com`), matches exactly one label
 * of letters, digits and hyphens, and needs at least two labels after it (`*.com` matches
 * nothing).
 */

function normalize(name: string): string {
  const n = name.trim().toLowerCase();
  return n.length > 1 && n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Whether one subjectAltName (DNS name, possibly a wildcard) covers `hostname`. */
export function sanCovers(san: string, hostname: string): boolean {
  const pattern = normalize(san);
  const host = normalize(hostname);
  if (!pattern || !host) return false;
  if (!pattern.startsWith('*.')) return !pattern.includes('*') && pattern === host;
  const suffix = pattern.slice(1); // ".example.com"
  if (suffix.includes('*') || suffix.split('.').length - 1 < 2) return false;
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, host.length - suffix.length);
  // A wildcard host name (a wildcard route) is served by the same wildcard.
  return label === '*' || /^[a-z0-9-]+$/.test(label);
}

/** Whether any of a certificate's names covers `hostname`. */
export function certificateCovers(sans: readonly string[], hostname: string): boolean {
  return sans.some((s) => sanCovers(s, hostname));
}

/** Days before expiry from which a certificate is flagged as expiring soon. */
export const EXPIRING_SOON_DAYS = 30;

export interface PickableCertificate {
  id: string;
  name: string;
  hostnames: string[];
  notAfter: string;
  auto: boolean;
}

export interface CertificateChoice {
  value: string;
  name: string;
  label: string;
  disabled: boolean;
  /** Why it cannot be chosen (null: it can). */
  reason: string | null;
  covers: boolean;
  expired: boolean;
  expiringSoon: boolean;
}

function day(iso: string): string {
  return iso.slice(0, 10);
}

/**
 * The picker's options for `hostname` at `now`: covering, valid ones first (in the given
 * order), then the rest, disabled with their reason ("does not cover …", "expired on …");
 * those expiring within EXPIRING_SOON_DAYS stay selectable and say so.
 */
export function certificateChoices(certs: readonly PickableCertificate[], hostname: string, now = Date.now()): CertificateChoice[] {
  const host = normalize(hostname);
  const choices = certs.map((c): CertificateChoice => {
    const msLeft = Date.parse(c.notAfter) - now;
    const expired = msLeft <= 0;
    const expiringSoon = !expired && msLeft < EXPIRING_SOON_DAYS * 86_400_000;
    const covers = certificateCovers(c.hostnames, host);
    const reasons = [...(covers ? [] : [`does not cover ${host}`]), ...(expired ? [`expired on ${day(c.notAfter)}`] : [])];
    const reason = reasons.length ? reasons.join('; ') : null;
    const flag = reason ?? (expiringSoon ? `expires on ${day(c.notAfter)}` : null);
    return {
      value: c.id,
      name: c.name,
      label: `${c.name} (${c.hostnames.join(', ')})${flag ? ` — ${flag}` : ''}`,
      disabled: reason !== null,
      reason,
      covers,
      expired,
      expiringSoon,
    };
  });
  return [...choices.filter((c) => !c.disabled), ...choices.filter((c) => c.disabled)];
}
