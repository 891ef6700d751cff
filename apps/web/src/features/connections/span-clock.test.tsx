import { act, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useSpanClock } from './span-clock';

const T0 = Date.parse('2026-12-06T12:00:00Z');

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => vi.useRealTimers());

describe('useSpanClock', () => {
  it('keeps its time while the filters stay, so the queries keep their key', () => {
    const { result, rerender } = renderHook(({ key }) => useSpanClock(key, null), { initialProps: { key: '{"range":"24h"}' } });
    expect(result.current).toBe(T0);
    vi.setSystemTime(T0 + 30 * 60_000);
    rerender({ key: '{"range":"24h"}' });
    expect(result.current).toBe(T0);
  });

  it('moves to the current time when the filters change: "1h" after half an hour ends now, not when the page opened', () => {
    const { result, rerender } = renderHook(({ key }) => useSpanClock(key, null), { initialProps: { key: '{"range":"24h"}' } });
    vi.setSystemTime(T0 + 30 * 60_000);
    rerender({ key: '{"range":"1h"}' });
    expect(result.current).toBe(T0 + 30 * 60_000);
    vi.setSystemTime(T0 + 31 * 60_000);
    rerender({ key: '{"range":"1h"}' });
    expect(result.current).toBe(T0 + 30 * 60_000);
  });

  it('slides forward in live mode', async () => {
    const { result } = renderHook(() => useSpanClock('{"live":true}', 2000));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000);
    });
    expect(result.current).toBe(T0 + 2000);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(4000);
    });
    expect(result.current).toBe(T0 + 6000);
  });
});
