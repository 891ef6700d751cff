import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Debouncer } from './debounce.js';

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe('Debouncer (the controller’s defaults: 100 ms, at most 500 ms)', () => {
  it('fires once, 100 ms after a burst of signals ends', () => {
    const fired: number[] = [];
    const t0 = Date.now();
    const d = new Debouncer(100, 500, () => fired.push(Date.now() - t0));
    for (let i = 0; i < 5; i++) {
      d.signal();
      vi.advanceTimersByTime(30);
    }
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([220]); // last signal at 120 ms + 100 ms
    expect(d.pending).toBe(false);
  });

  it('a steady stream of signals still fires every 500 ms', () => {
    const fired: number[] = [];
    const t0 = Date.now();
    const d = new Debouncer(100, 500, () => fired.push(Date.now() - t0));
    for (let i = 0; i < 60; i++) {
      d.signal();
      vi.advanceTimersByTime(50); // faster than the 100 ms debounce, for 3 s
    }
    expect(fired.length).toBeGreaterThanOrEqual(5);
    for (const [i, t] of fired.entries()) expect(t - (fired[i - 1] ?? 0)).toBeLessThanOrEqual(550);
  });

  it('cancel drops a pending fire', () => {
    const fire = vi.fn();
    const d = new Debouncer(100, 500, fire);
    d.signal();
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(fire).not.toHaveBeenCalled();
  });
});
