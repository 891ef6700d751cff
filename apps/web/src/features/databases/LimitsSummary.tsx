/**
 * The tenant's usage against the limits its platform admin set, above its databases: "4 of 10
 * databases · 1 of 1 dedicated ports". Only the limits that are set; nothing without any. A
 * count at its limit is marked: the next one is refused (SY_TENANT_LIMIT).
 */
import { Group, Text } from '@mantine/core';
import { STATUS } from '../../components/status-colors';
import { atLimit, limitLines, usageText } from '../../components/usage';
import type { Tenant } from './api';

export function LimitsSummary({ tenant }: { tenant: Tenant }) {
  const lines = limitLines(tenant).filter((l) => l.max !== null);
  if (lines.length === 0) return null;
  return (
    <Group gap="md" aria-label="Tenant limits" role="group">
      {lines.map((l) => (
        <Text key={l.what} size="sm" c={atLimit(l) ? STATUS.warn : 'dimmed'} fw={atLimit(l) ? 500 : undefined} title={atLimit(l) ? 'At the limit set by the platform admin: ask them to raise it' : undefined}>
          {usageText(l)}
        </Text>
      ))}
    </Group>
  );
}
