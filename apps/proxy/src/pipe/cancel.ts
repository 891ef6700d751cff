/**
 * Cancelling a connection's dial and TLS steps when its client goes away. `AbortController`
 * does this too, but every one is an EventTarget with its own listener map and brand checks,
 * built for each accepted connection whether it is ever aborted or not (issue 13: part of the
 * per-connection cost over a bare Node proxy). The steps only need "is it aborted" and one or
 * two listeners, so this is a plain object with the same surface: `AbortSignal` satisfies
 * `CancelSignal` too, so callers holding one (pg/cancel.ts) pass it unchanged.
 */

/** What the dial and TLS steps read: the subset of `AbortSignal` they use. */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class Cancel implements CancelSignal {
  aborted = false;
  /** One listener (the common case: one step in flight) or several. */
  private listeners: (() => void) | Array<() => void> | null = null;

  get signal(): CancelSignal {
    return this;
  }

  /** Like AbortSignal: a listener added after the abort is never called. Always `once`. */
  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    const l = this.listeners;
    if (l === null) this.listeners = listener;
    else if (typeof l === 'function') this.listeners = [l, listener];
    else l.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const l = this.listeners;
    if (l === listener) this.listeners = null;
    else if (Array.isArray(l)) {
      const i = l.indexOf(listener);
      if (i >= 0) l.splice(i, 1);
    }
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const l = this.listeners;
    this.listeners = null;
    if (typeof l === 'function') l();
    else if (l) for (const fn of l) fn();
  }
}

/** What a step started after its connection finished sees: already cancelled. */
export const CANCELLED: CancelSignal = (() => {
  const c = new Cancel();
  c.abort();
  return c;
})();
