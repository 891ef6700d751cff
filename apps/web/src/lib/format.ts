/** Small formatting helpers shared by pages (dates relative to now, counts). */

const DAY = 86_400_000;

/** "in 12 days", "3 days ago", "today". */
export function relativeDays(iso: string, now = Date.now()): string {
  const days = Math.round((new Date(iso).getTime() - now) / DAY);
  if (days === 0) return 'today';
  if (days > 0) return `in ${days} day${days === 1 ? '' : 's'}`;
  return `${-days} day${days === -1 ? '' : 's'} ago`;
}

/** "2 minutes ago", "just now", "never". */
export function timeAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (s < 45) return 'just now';
  const units: Array<[number, string]> = [
    [60, 'minute'],
    [3600, 'hour'],
    [86_400, 'day'],
  ];
  let out = '';
  for (const [secs, name] of units) {
    const n = Math.round(s / secs);
    if (n >= 1) out = `${n} ${name}${n === 1 ? '' : 's'} ago`;
  }
  return out || 'just now';
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
 * A moment as the dashboard shows it everywhere: in the browser's locale and time zone (a token
 * that expires at 20:00 UTC expires on the next day in Auckland; a UTC date would say otherwise).
 */
export function dateTime(iso: string): string {
  return new Date(iso).toLocaleString();
}

/** The local calendar day of a moment (see dateTime). */
export function localDate(iso: string): string {
  return new Date(iso).toLocaleDateString();
}
