/**
 * How the dashboard writes a moment: in the browser's locale and time zone, with the zone's
 * name (`1/2/2030, 10:00:00 AM GMT+14`: a date without its zone is a guess for anyone comparing
 * it with a log in UTC), and how far it is from now (`3 minutes ago`, `in 2 days`). Pure.
 */

/** Local date and time with the zone's short name. */
export function zoned(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { timeZoneName: 'short' });
}

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['minute', 60],
  ['hour', 3600],
  ['day', 86_400],
  ['month', 30 * 86_400],
  ['year', 365 * 86_400],
];

/** `just now`, `3 minutes ago`, `in 2 days`: in the largest unit it spans at least once. */
export function relative(iso: string, now = Date.now()): string {
  const s = (new Date(iso).getTime() - now) / 1000;
  if (Math.abs(s) < 45) return 'just now';
  let [unit, size] = UNITS[0]!;
  for (const [u, n] of UNITS) if (Math.abs(s) >= n) [unit, size] = [u, n];
  return new Intl.RelativeTimeFormat(undefined, { numeric: 'always' }).format(Math.sign(s) * Math.round(Math.abs(s) / size), unit);
}
