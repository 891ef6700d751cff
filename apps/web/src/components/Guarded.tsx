import { Tooltip } from '@mantine/core';
import type { ReactElement } from 'react';

/**
 * A control the caller may lack the role for: disabled, with the reason in a tooltip and in
 * the accessible description (a disabled button gets no focus, so the wrapper takes it).
 */
export function Guarded({ allowed, reason, children }: { allowed: boolean; reason: string; children: ReactElement }) {
  if (allowed) return children;
  return (
    <Tooltip label={reason} withArrow>
      <span tabIndex={0} aria-label={reason} style={{ display: 'inline-block' }} data-disabled-reason={reason}>
        {children}
      </span>
    </Tooltip>
  );
}
