import { describe, expect, it } from 'vitest';
import { expiryState, plural, relativeDays } from './format';

const now = Date.parse('2026-12-06T12:00:00Z');
const days = (n: number) => new Date(now + n * 86_400_000).toISOString();

describe('format', () => {
  it('expiry: expired, expiring within 30 days, valid', () => {
    expect(expiryState(days(-1), now)).toBe('expired');
    expect(expiryState(days(12), now)).toBe('expiring');
    expect(expiryState(days(90), now)).toBe('valid');
  });

  it('relative days', () => {
    expect(relativeDays(days(12), now)).toBe('in 12 days');
    expect(relativeDays(days(-1), now)).toBe('1 day ago');
    expect(relativeDays(days(0), now)).toBe('today');
  });


  it('plural', () => {
    expect(plural(1, 'proxy', 'proxies')).toBe('1 proxy');
    expect(plural(3, 'proxy', 'proxies')).toBe('3 proxies');
  });
});
