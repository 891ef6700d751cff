/**
 * The pure parts of ACME: when to renew, how long to back off, which registered domain a
 * name counts against, and whether the configured rate limits allow another order. No I/O,
 * so each is unit-tested on its own (acme.policy.test.ts).
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
export const WEEK_MS = 7 * DAY_MS;
/** Backoff never grows past a day: a fixed problem is picked up the next day at the latest. */
export const MAX_BACKOFF_MS = DAY_MS;

/**
 * When to renew: the time the CA's ACME Renewal Information suggests (RFC 9773 §4.2: a
 * uniformly random instant in its window, so a fleet does not renew at once) when the
 * directory offers `renewalInfo`, else when a third of the lifetime remains (Let's Encrypt:
 * day 60 of 90). A window that is already past means "now".
 */
export function renewalTime(notBefore: Date, notAfter: Date, ari: { start: Date; end: Date } | null, random: () => number = Math.random): Date {
  if (ari && ari.end.getTime() >= ari.start.getTime()) {
    return new Date(ari.start.getTime() + Math.floor(random() * (ari.end.getTime() - ari.start.getTime())));
  }
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return new Date(notAfter.getTime() - Math.floor(lifetime / 3));
}

/** Delay before retry `attempt` (1 = first failure): base, doubling, capped; Retry-After wins when later. */
export function backoffMs(attempt: number, baseMs: number, retryAfterMs: number | null = null): number {
  const doubled = Math.min(baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)), MAX_BACKOFF_MS);
  return Math.max(doubled, retryAfterMs ?? 0);
}

/**
 * Two-label public suffixes under which the registered domain has three labels. Rate limits
 * count per registered domain (eTLD+1); without the full Public Suffix List this covers the
 * common cases and otherwise errs towards counting more names together (the safe side).
 */
const TWO_LABEL_SUFFIXES = new Set([
  'co.uk', 'org.uk', 'ac.uk', 'gov.uk', 'com.au', 'net.au', 'org.au', 'co.nz', 'co.jp', 'ne.jp', 'or.jp',
  'com.br', 'com.cn', 'com.mx', 'co.in', 'co.za', 'com.tr', 'com.sg', 'com.hk', 'co.kr', 'com.ar',
]);

export function registeredDomain(hostname: string): string {
  const labels = hostname.toLowerCase().replace(/\.$/, '').split('.');
  if (labels.length <= 2) return labels.join('.');
  const lastTwo = labels.slice(-2).join('.');
  return TWO_LABEL_SUFFIXES.has(lastTwo) ? labels.slice(-3).join('.') : lastTwo;
}

export interface RateLimits {
  /**
   * New certificates per registered domain per 7 days (Let's Encrypt: 50). Renewals (the same
   * set of names again) are exempt from this limit at Let's Encrypt and are not counted.
   */
  certsPerDomainWeek: number;
  /** Certificates for the exact same set of names per 7 days (Let's Encrypt: 5). */
  duplicatesWeek: number;
  /** Failed validations per host name per hour (Let's Encrypt: 5). */
  failedPerHour: number;
}

/** Past events the limits count, newest last is not required. */
export interface RateCounts {
  /** Issue times of new (not renewal) certificates under the registered domain, last 7 days. */
  domainIssued: Date[];
  /** Issue times of certificates for this exact name, last 7 days. */
  duplicates: Date[];
  /** Failed validations of this name, last hour. */
  failures: Date[];
}

export type RateDecision =
  | { ok: true }
  | { ok: false; limit: 'certs_per_domain' | 'duplicates' | 'failed_validations' | 'ca_retry_after'; message: string; retryAt: Date };

/**
 * Whether one more order may be placed now. Refuses before the CA would: the CA's refusal
 * costs an order and, for failed validations, locks the name for an hour anyway. `retryAt`
 * is when the oldest counted event leaves its window. A renewal is not held back by the
 * per-domain limit (Let's Encrypt's renewal exemption: with hundreds of tenants under one
 * base domain, new names must never starve renewals); duplicates and failures still apply.
 */
export function checkRateLimits(now: Date, limits: RateLimits, counts: RateCounts, names: { hostname: string; domain: string }, renewal = false): RateDecision {
  const t = now.getTime();
  const within = (ds: Date[], windowMs: number) => ds.filter((d) => t - d.getTime() < windowMs).sort((a, b) => a.getTime() - b.getTime());
  const failures = within(counts.failures, HOUR_MS);
  if (failures.length >= limits.failedPerHour) {
    return {
      ok: false,
      limit: 'failed_validations',
      message: `${names.hostname} failed validation ${failures.length} times in the last hour (limit ${limits.failedPerHour})`,
      retryAt: new Date(failures[failures.length - limits.failedPerHour]!.getTime() + HOUR_MS),
    };
  }
  const dups = within(counts.duplicates, WEEK_MS);
  if (dups.length >= limits.duplicatesWeek) {
    return {
      ok: false,
      limit: 'duplicates',
      message: `${dups.length} certificates were issued for ${names.hostname} in the last 7 days (limit ${limits.duplicatesWeek} duplicates)`,
      retryAt: new Date(dups[dups.length - limits.duplicatesWeek]!.getTime() + WEEK_MS),
    };
  }
  const domain = within(counts.domainIssued, WEEK_MS);
  if (!renewal && domain.length >= limits.certsPerDomainWeek) {
    return {
      ok: false,
      limit: 'certs_per_domain',
      message: `${domain.length} certificates were issued under ${names.domain} in the last 7 days (limit ${limits.certsPerDomainWeek})`,
      retryAt: new Date(domain[domain.length - limits.certsPerDomainWeek]!.getTime() + WEEK_MS),
    };
  }
  return { ok: true };
}

/**
 * RFC 9773 §4.1: the ARI certificate identifier — base64url(authorityKeyIdentifier keyId) "."
 * base64url(serial number DER content bytes).
 */
export function ariCertId(akiKeyId: Buffer, serialHex: string): string {
  let hex = serialHex.replace(/[^0-9a-fA-F]/g, '');
  if (hex.length % 2) hex = `0${hex}`;
  let serial = Buffer.from(hex, 'hex');
  // DER INTEGER content: positive, minimal — a leading 0x00 when the top bit is set.
  while (serial.length > 1 && serial[0] === 0 && (serial[1]! & 0x80) === 0) serial = serial.subarray(1);
  if ((serial[0]! & 0x80) !== 0) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${akiKeyId.toString('base64url')}.${serial.toString('base64url')}`;
}

/** RFC 9773 §4.3: poll again after this when the CA sends no Retry-After (its own example: 6 hours). */
export const ARI_DEFAULT_POLL_MS = 6 * HOUR_MS;
/** §4.3: clients "MUST set reasonable limits" on the interval; under a minute counts as a minute… */
export const ARI_MIN_POLL_MS = 60_000;
/** …and over a day as a day. */
export const ARI_MAX_POLL_MS = DAY_MS;

export interface AriRecheck {
  /** The renewal time to keep or to move to. */
  renewAt: Date;
  /** Whether `renewAt` moved (the window changed and no longer holds the old time). */
  changed: boolean;
  /** When to fetch renewalInfo next. */
  nextCheckAt: Date;
}

/**
 * What to do with a fresh renewalInfo answer for an issued certificate (RFC 9773 §4.2–4.3).
 * `window`: the suggested window, or null when the fetch failed (keep the time, poll again
 * later). A planned time still inside the window is kept — moving it would only undo the
 * random spread §4.2 asks for; a window that moved (earlier, e.g. a revocation, or later)
 * gets a new random instant inside it, never before `now`. The next poll honours the CA's
 * Retry-After, clamped to [1 minute, 1 day], else 6 hours.
 */
export function ariRecheck(
  now: Date,
  renewAt: Date,
  window: { start: Date; end: Date } | null,
  retryAfterMs: number | null,
  random: () => number = Math.random,
): AriRecheck {
  const nextCheckAt = ariNextCheck(now, retryAfterMs);
  const t = renewAt.getTime();
  if (!window || window.end.getTime() < window.start.getTime() || (t >= window.start.getTime() && t <= window.end.getTime())) {
    return { renewAt, changed: false, nextCheckAt };
  }
  const start = Math.max(window.start.getTime(), now.getTime());
  const end = Math.max(window.end.getTime(), start);
  const next = new Date(start + Math.floor(random() * (end - start)));
  return { renewAt: next, changed: next.getTime() !== t, nextCheckAt };
}

/** When to poll renewalInfo next: the CA's Retry-After clamped to [1 minute, 1 day], else 6 hours. */
export function ariNextCheck(now: Date, retryAfterMs: number | null): Date {
  return new Date(now.getTime() + Math.min(ARI_MAX_POLL_MS, Math.max(ARI_MIN_POLL_MS, retryAfterMs ?? ARI_DEFAULT_POLL_MS)));
}
