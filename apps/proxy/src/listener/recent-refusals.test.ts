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
});
