import { describe, expect, it } from 'vitest';
import { Cancel, CANCELLED, type CancelSignal } from './cancel.js';

describe('Cancel', () => {
  it('calls each listener once on abort, and none that was removed', () => {
    const c = new Cancel();
    const calls: string[] = [];
    const a = () => calls.push('a');
    const b = () => calls.push('b');
    const gone = () => calls.push('gone');
    c.addEventListener('abort', a);
    c.addEventListener('abort', gone);
    c.addEventListener('abort', b);
    c.removeEventListener('abort', gone);
    expect(c.aborted).toBe(false);
    c.abort();
    c.abort();
    expect(c.aborted).toBe(true);
    expect(calls).toEqual(['a', 'b']);
  });

  it('like AbortSignal, never calls a listener added after the abort', () => {
    let called = false;
    CANCELLED.addEventListener('abort', () => (called = true));
    expect(CANCELLED.aborted).toBe(true);
    const signal = AbortSignal.abort();
    signal.addEventListener('abort', () => (called = true));
    expect(called).toBe(false);
  });

  it('accepts an AbortSignal where a CancelSignal is expected', () => {
    const controller = new AbortController();
    const s: CancelSignal = controller.signal;
    let called = 0;
    s.addEventListener('abort', () => called++, { once: true });
    controller.abort();
    expect(called).toBe(1);
  });
});
