import { parseIp } from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import { ClientRateLimiter, rateKey } from './rate-limit.js';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('ClientRateLimiter', () => {
  it('allows a burst, then the refill rate', () => {
    const c = clock();
    const rl = new ClientRateLimiter({ ratePerSec: 10, burst: 3, maxTracked: 100 }, c.now);
    expect([rl.take('a'), rl.take('a'), rl.take('a'), rl.take('a')]).toEqual([true, true, true, false]);
    c.advance(50); // half a token
    expect(rl.take('a')).toBe(false);
    c.advance(50);
    expect(rl.take('a')).toBe(true);
    expect(rl.take('a')).toBe(false);
    // Refill is capped at the burst.
    c.advance(60_000);
    expect([rl.take('a'), rl.take('a'), rl.take('a'), rl.take('a')]).toEqual([true, true, true, false]);
  });

  it('keeps addresses apart', () => {
    const c = clock();
    const rl = new ClientRateLimiter({ ratePerSec: 1, burst: 1, maxTracked: 100 }, c.now);
    expect(rl.take('a')).toBe(true);
    expect(rl.take('a')).toBe(false);
    expect(rl.take('b')).toBe(true);
  });

  it('bounds memory: evicts the least recently used address at the cap', () => {
    const c = clock();
    const rl = new ClientRateLimiter({ ratePerSec: 1, burst: 1, maxTracked: 3 }, c.now);
    for (const k of ['a', 'b', 'c']) expect(rl.take(k)).toBe(true);
    expect(rl.take('a')).toBe(false); // a is now the most recently used
    expect(rl.take('d')).toBe(true); // evicts b
    expect(rl.tracked).toBe(3);
    expect(rl.evicted).toBe(1);
    expect(rl.take('a')).toBe(false); // still tracked: still empty
    expect(rl.take('b')).toBe(true); // evicted: comes back full
    for (let i = 0; i < 10_000; i++) rl.take(`k${i}`);
    expect(rl.tracked).toBe(3);
  });

  it('keys IPv4 by address and IPv6 by /64', () => {
    const k = (s: string) => rateKey(parseIp(s)!);
    expect(k('10.0.0.1')).not.toBe(k('10.0.0.2'));
    expect(k('::ffff:10.0.0.1')).toBe(k('10.0.0.1'));
    expect(k('2001:db8:1:2::1')).toBe(k('2001:db8:1:2:ffff::9'));
    expect(k('2001:db8:1:2::1')).not.toBe(k('2001:db8:1:3::1'));
  });

  it('rejects nonsense options', () => {
    expect(() => new ClientRateLimiter({ ratePerSec: 0, burst: 1, maxTracked: 1 })).toThrow();
  });
});
