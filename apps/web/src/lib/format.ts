/** Small formatting helpers shared by pages (dates relative to now, counts). */

const DAY = 86_400_000;

/** "in 12 days", "3 days ago", "today". */
export function relativeDays(iso: string, now = Date.now()): string {
  const days = Math.round((new Date(iso).getTime() - now) / DAY);
  if (days === 0) return 'today';
  if (days > 0) return `in ${days} day${days === 1 ? '' : 's'}`;
  return `${-days} day${days === -1 ? '' : 's'} ago`;
}

export type ExpiryState = 'expired' | 'expiring' | 'valid';

/** Expiring: within `soonDays` (default 30). */
export function expiryState(notAfter: string, now = Date.now(), soonDays = 30): ExpiryState {
  const left = new Date(notAfter).getTime() - now;
  if (left <= 0) return 'expired';
  return left <= soonDays * DAY ? 'expiring' : 'valid';
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The local calendar day of a moment, in the browser's locale and time zone (a certificate that
 * expires at 20:00 UTC expires on the next day in Auckland; a UTC date would say otherwise). The
 * exact moment with its zone: `zoned` (components/moment.ts).
 */
export function localDate(iso: string): string {
  return new Date(iso).toLocaleDateString();
}
