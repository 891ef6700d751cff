/**
 * The "now" a quick range (`1h`, `24h`…) ends at. It stays put while the filters do, so the
 * queries keep one key (no refetch on every render); it moves to the current time whenever the
 * filters change — choosing "1h" or a client address after the page has been open a while shows
 * what happened since it opened, not a window that ended then — and every `slideMs` in live mode.
 */
import { useEffect, useState } from 'react';

export function useSpanClock(filtersKey: string, slideMs: number | null): number {
  const [clock, setClock] = useState(() => ({ key: filtersKey, now: Date.now() }));
  // Adjusting state while rendering (React's pattern for state derived from a changed prop):
  // the queries of this render already use the new time.
  const current = clock.key === filtersKey ? clock : { key: filtersKey, now: Date.now() };
  if (current !== clock) setClock(current);
  useEffect(() => {
    if (slideMs === null) return;
    const t = setInterval(() => setClock((c) => ({ ...c, now: Date.now() })), slideMs);
    return () => clearInterval(t);
  }, [slideMs]);
  return current.now;
}
