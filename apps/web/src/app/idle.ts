/**
 * Runs `fn` after `delay` ms, when the browser next has a moment to spare (at the latest
 * `timeout` ms later), so that the first page's data and paint go first. Returns a cancel
 * function. Safari has no requestIdleCallback: the next task does there.
 */
export function whenIdle(fn: () => void, timeout: number, delay = 0): () => void {
  if (delay > 0) {
    let cancel = () => {};
    const id = window.setTimeout(() => (cancel = whenIdle(fn, timeout)), delay);
    return () => {
      window.clearTimeout(id);
      cancel();
    };
  }
  const w: Partial<Pick<Window, 'requestIdleCallback' | 'cancelIdleCallback'>> = window;
  if (w.requestIdleCallback && w.cancelIdleCallback) {
    const id = w.requestIdleCallback(fn, { timeout });
    return () => w.cancelIdleCallback!(id);
  }
  const id = window.setTimeout(fn, 1);
  return () => window.clearTimeout(id);
}
