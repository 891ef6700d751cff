import { describe, expect, it } from 'vitest';
import { relative, zoned } from './moment';

const NOW = Date.parse('2026-12-07T12:00:00.000Z');
const at = (ms: number) => new Date(NOW + ms).toISOString();
const MIN = 60_000;
const DAY = 86_400_000;

describe('zoned', () => {
  it('writes the local date and time with the zone’s name', () => {
    const iso = '2030-01-01T20:00:00.000Z';
    const zone = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(new Date(iso)).find((p) => p.type === 'timeZoneName')!.value;
    expect(zoned(iso)).toContain(zone);
    expect(zoned(iso)).toBe(new Date(iso).toLocaleString(undefined, { timeZoneName: 'short' }));
  });
});

describe('relative', () => {
  it.each([
    [0, 'just now'],
    [-44_000, 'just now'],
    [30_000, 'just now'],
    [-50_000, '1 minute ago'],
    [-3 * MIN, '3 minutes ago'],
    [-90 * MIN, '2 hours ago'],
    [5 * MIN, 'in 5 minutes'],
    [-DAY, '1 day ago'],
    [2 * DAY, 'in 2 days'],
    [-45 * DAY, '2 months ago'],
    [3 * 365 * DAY, 'in 3 years'],
  ])('%d ms from now is "%s"', (ms, text) => {
    expect(relative(at(ms), NOW)).toBe(text);
  });
});
