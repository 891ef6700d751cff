import { Text } from '@mantine/core';
import { relative, zoned } from './moment';

const utc = (iso: string) => new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

/**
 * A moment on the dashboard: local date and time with the zone's name, how long ago (or until)
 * beside it, and the exact UTC time on hover (`<time dateTime>` for assistive technology).
 * `compact` (dense tables): one line, the relative hint on hover too. `never` (or `empty`) when
 * there is none.
 */
export function When({ iso, empty = 'never', compact = false, now }: { iso: string | null | undefined; empty?: string; compact?: boolean; now?: number }) {
  if (!iso) return <>{empty}</>;
  if (compact)
    return (
      <time dateTime={iso} title={`${relative(iso, now)} · ${utc(iso)}`} style={{ whiteSpace: 'nowrap' }}>
        {zoned(iso)}
      </time>
    );
  return (
    <time dateTime={iso} title={utc(iso)}>
      {zoned(iso)}{' '}
      <Text span size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>
        ({relative(iso, now)})
      </Text>
    </time>
  );
}
