import { describe, expect, it } from 'vitest';
import { RecentRefusals } from './recent-refusals.js';

describe('RecentRefusals', () => {
  it('gives a refusal back once, within the TTL only', () => {
    const r = new RecentRefusals(1000, 10);
    r.remember('10.0.0.1', 'route_disabled', 'a.example.com', 0);
    expect(r.take('10.0.0.1', 999)).toMatchObject({ code: 'route_disabled', hostname: 'a.example.com' });
    expect(r.take('10.0.0.1', 999)).toBeNull();
    r.remember('10.0.0.1', 'route_disabled', 'a.example.com', 0);
    expect(r.take('10.0.0.1', 1001)).toBeNull();
    expect(r.take('10.0.0.2', 0)).toBeNull();
  });

  it('evicts the oldest entry beyond its size', () => {
    const r = new RecentRefusals(1000, 2);
    r.remember('a', 'unknown_host', null, 0);
    r.remember('b', 'unknown_host', null, 0);
    r.remember('c', 'unknown_host', null, 0);
    expect(r.take('a', 0)).toBeNull();
    expect(r.take('c', 0)).not.toBeNull();
  });

  it('explains each of several refusals of one address once, newest first (a pool opening at once)', () => {
    const r = new RecentRefusals(1000, 10);
    for (let i = 0; i < 5; i++) r.remember('10.0.0.1', 'route_disabled', `db${i}.example.com`, i);
    for (let i = 4; i >= 0; i--) expect(r.take('10.0.0.1', 10)).toMatchObject({ code: 'route_disabled', hostname: `db${i}.example.com` });
    expect(r.take('10.0.0.1', 10)).toBeNull();
  });

  it('never hands an unretried refusal to the retries of a burst that came after it', () => {
    const r = new RecentRefusals(1000, 10);
    // sslmode=require: refused, no retry.
    r.remember('10.0.0.1', 'unknown_host', 'typo.example.com', 0);
    // A burst: each retry comes after its own refusal, in any interleaving.
    r.remember('10.0.0.1', 'route_disabled', 'off.example.com', 10);
    r.remember('10.0.0.1', 'route_disabled', 'off.example.com', 11);
    expect(r.take('10.0.0.1', 12)).toMatchObject({ hostname: 'off.example.com' });
    r.remember('10.0.0.1', 'route_disabled', 'off.example.com', 13);
    expect(r.take('10.0.0.1', 14)).toMatchObject({ hostname: 'off.example.com' });
    expect(r.take('10.0.0.1', 15)).toMatchObject({ hostname: 'off.example.com' });
  });

  it('forgets stale refusals and keeps at most 32 per address', () => {
    const r = new RecentRefusals(1000, 10);
    r.remember('10.0.0.1', 'unknown_host', 'old.example.com', 0);
    r.remember('10.0.0.1', 'route_disabled', 'new.example.com', 900);
    expect(r.take('10.0.0.1', 1500)).toMatchObject({ hostname: 'new.example.com' });
    expect(r.take('10.0.0.1', 1500)).toBeNull();
    r.remember('10.0.0.1', 'unknown_host', 'old.example.com', 0);
    expect(r.take('10.0.0.1', 1001)).toBeNull();
    for (let i = 0; i < 40; i++) r.remember('10.0.0.2', 'unknown_host', `h${i}`, 0);
    const told: string[] = [];
    for (let t = r.take('10.0.0.2', 0); t; t = r.take('10.0.0.2', 0)) told.push(t.hostname!);
    expect(told).toEqual(Array.from({ length: 32 }, (_, i) => `h${39 - i}`));
  });
});
