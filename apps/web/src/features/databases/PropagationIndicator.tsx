/**
 * One honest line about where a change stands: "Applying… live on 2 of 3 proxies" until
 * every live proxy serves it, "Live on 3 of 3 proxies" after; past the bound, the proxies
 * that did not apply it are named. Announced to screen readers as it changes.
 */
import { Badge, Group, Loader, Text } from '@mantine/core';
import { useEffect, useState } from 'react';
import { describePropagation, type PropagationReport } from '../../lib/propagation';

const COLORS = { live: 'green', off: 'gray', applying: 'blue', late: 'orange', 'no-proxies': 'red', unknown: 'gray' } as const;

export interface PropagationIndicatorProps {
  enabled: boolean;
  report: PropagationReport | undefined | null;
  /** When this change started waiting for the proxies (ms since epoch), if known. */
  pendingSinceMs: number | null;
  /** How long a change may take before the lagging proxies are named. */
  boundMs: number;
}

export function PropagationIndicator({ enabled, report, pendingSinceMs, boundMs }: PropagationIndicatorProps) {
  const [now, setNow] = useState(() => Date.now());
  const pending = report?.state === 'pending';
  // While pending, time passes even without new reports: tick so the bound can pass.
  useEffect(() => {
    if (!pending) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [pending]);
  const view = describePropagation(enabled, report, { pendingSinceMs, boundMs, now });
  return (
    <Group gap="xs" role="status" aria-live="polite" data-testid="propagation" data-phase={view.phase}>
      {view.phase === 'applying' && <Loader size="xs" aria-hidden />}
      <Badge color={COLORS[view.phase]} variant={view.phase === 'live' ? 'filled' : 'light'}>
        {view.phase === 'applying' ? 'applying' : view.phase === 'late' ? 'not everywhere' : view.phase === 'no-proxies' ? 'no proxy' : view.phase}
      </Badge>
      <Text size="sm">{view.text}</Text>
    </Group>
  );
}
