/**
 * The audit trail: who changed what and when, with before/after. Tenant admins see their
 * tenant's; platform admins everything. Filters live in the URL.
 */
import { Alert, Badge, Button, Code, Group, Paper, SegmentedControl, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { keepPreviousData, useInfiniteQuery } from '@tanstack/react-query';
import { useNavigate, useParams, useSearch } from '@tanstack/react-router';
import { useEffect, useState } from 'react';
import { EmptyState, ErrorState, LoadingState } from '../../components/QueryState';
import { When } from '../../components/When';
import { useSpanClock } from '../connections/span-clock';
import { api, call } from '../../lib/api/client';
import { filterFieldErrors } from '../../lib/api/errors';
import type { paths } from '../../lib/api/schema';
import { canManage, roleIn, useMe } from '../auth/session';

import { changeRows, parseAuditFilters, RANGES, type AuditFilters } from './filters';

type AuditEvent = paths['/api/v1/audit-events']['get']['responses'][200]['content']['application/json']['items'][number];
export function TenantAuditPage() {
  const tenant = useParams({ strict: false }).tenant ?? '';
  const me = useMe();
  // The API lets tenant admins and owners read the trail: a member is told so, not shown a
  // 403 as a page that could not load.
  if (!canManage(roleIn(me, tenant)))
    return (
      <Stack>
        <Title order={1}>Audit trail</Title>
        <Alert color="gray" title="Read-only">
          Your role in this tenant is member: the audit trail is for its admins and owners.
        </Alert>
      </Stack>
    );
  return <AuditPage tenant={tenant} />;
}

export function PlatformAuditPage() {
  return <AuditPage tenant={null} />;
}

const FILTER_OF_PARAM = { action: 'action', targetType: 'targetType', actorId: 'actorId', tenant: 'tenant' } as const;

function AuditPage({ tenant }: { tenant: string | null }) {
  const search: Record<string, unknown> = useSearch({ strict: false });
  const filters = parseAuditFilters(search);
  const navigate = useNavigate();
  const set = (p: Partial<AuditFilters>) => void navigate({ to: '.', search: (prev: Record<string, unknown>) => Object.fromEntries(Object.entries({ ...parseAuditFilters(prev), ...p }).filter(([, v]) => v)) as never });
  // The range starts when the filters last changed and ends "now" as the API sees it at each
  // request (no `to`): a refetch (window focus, Apply) shows what happened since the page
  // opened — with a fixed end, a change made in another tab never appeared until a reload.
  const now = useSpanClock(JSON.stringify(filters), null);
  const q: Record<string, string> = { from: new Date(now - RANGES[filters.range ?? '30d']).toISOString() };
  for (const k of ['action', 'targetType', 'actorId'] as const) if (filters[k]) q[k] = filters[k]!;
  if (!tenant && filters.tenant) q.tenant = filters.tenant;
  const events = useInfiniteQuery({
    queryKey: ['audit', tenant, q],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => {
      const query = { ...q, limit: 50, ...(pageParam ? { cursor: pageParam } : {}) } as never;
      return tenant ? call(api.GET('/api/v1/tenants/{tenant}/audit-events', { params: { path: { tenant }, query } })) : call(api.GET('/api/v1/audit-events', { params: { query } }));
    },
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    placeholderData: keepPreviousData,
  });
  const [text, setText] = useState({ action: filters.action ?? '', targetType: filters.targetType ?? '', actorId: filters.actorId ?? '', tenant: filters.tenant ?? '' });
  useEffect(() => setText({ action: filters.action ?? '', targetType: filters.targetType ?? '', actorId: filters.actorId ?? '', tenant: filters.tenant ?? '' }), [filters.action, filters.targetType, filters.actorId, filters.tenant]);
  /** `refresh`: Apply or Enter with the same filters still asks for what is new (leaving a field does not). */
  const apply = (refresh: boolean) => {
    const next = { action: text.action || undefined, targetType: text.targetType || undefined, actorId: text.actorId || undefined, tenant: text.tenant || undefined };
    if ((['action', 'targetType', 'actorId', 'tenant'] as const).every((k) => next[k] === filters[k])) {
      if (refresh) void events.refetch();
    } else set(next);
  };
  const rows = events.data?.pages.flatMap((p) => p.items) ?? [];
  // A filter the API refuses (an action that is not one, a platform view's unknown tenant) is
  // shown on that filter, not as a trail that could not load.
  const badFilters = filterFieldErrors(events.error, FILTER_OF_PARAM, { SY_TENANT_NOT_FOUND: 'tenant' });
  const field = (k: keyof typeof text, label: string, placeholder: string) => (
    <TextInput label={label} placeholder={placeholder} value={text[k]} onChange={(e) => setText({ ...text, [k]: e.currentTarget.value })} onBlur={() => apply(false)} onKeyDown={(e) => e.key === 'Enter' && apply(true)} w={180} error={badFilters?.[k]} />
  );
  return (
    <Stack>
      <Title order={1}>{tenant ? 'Audit trail' : 'Audit trail (all tenants)'}</Title>
      <Paper withBorder p="sm">
        <Group align="end">
          <div>
            <Text size="sm" fw={500} mb={4} id="audit-range">
              Time range
            </Text>
            <SegmentedControl aria-labelledby="audit-range" data={Object.keys(RANGES)} value={filters.range ?? '30d'} onChange={(v) => set({ range: v as AuditFilters['range'] })} />
          </div>
          {!tenant && field('tenant', 'Tenant', 'acme')}
          {field('action', 'Action', 'route.enable')}
          {field('targetType', 'Target type', 'route')}
          {field('actorId', 'Actor id', 'user or token id')}
          <Button variant="light" onClick={() => apply(true)}>
            Apply
          </Button>
        </Group>
      </Paper>
      <Paper withBorder>
        {events.isPending ? (
          <LoadingState label="Loading the audit trail" />
        ) : badFilters ? (
          <EmptyState title="No changes to show">
            <Text size="sm" c="dimmed">
              Correct the filter marked above.
            </Text>
          </EmptyState>
        ) : events.isError ? (
          <ErrorState error={events.error} retry={() => void events.refetch()} />
        ) : rows.length === 0 ? (
          <EmptyState title="No changes match these filters" />
        ) : (
          <AuditTable rows={rows} platform={!tenant} busy={events.isPlaceholderData} />
        )}
      </Paper>
      {events.hasNextPage && (
        <Group justify="center">
          <Button variant="light" onClick={() => void events.fetchNextPage()} loading={events.isFetchingNextPage}>
            Load older changes
          </Button>
        </Group>
      )}
    </Stack>
  );
}

function AuditTable({ rows, platform, busy }: { rows: AuditEvent[]; platform: boolean; busy: boolean }) {
  return (
    // The previous filters' rows stay while the new ones load (no jump to a spinner), dimmed and
    // marked busy so they are not taken for the answer.
    <Table aria-label="Audit events" verticalSpacing="xs" aria-busy={busy} style={{ opacity: busy ? 0.5 : 1, transition: 'opacity 150ms' }}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>When</Table.Th>
          {platform && <Table.Th>Tenant</Table.Th>}
          <Table.Th>Who</Table.Th>
          <Table.Th>Action</Table.Th>
          <Table.Th>Target</Table.Th>
          <Table.Th>Before → after</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map((a) => (
          <Table.Tr key={a.id} data-audit-action={a.action}>
            <Table.Td>
              <When iso={a.at} />
            </Table.Td>
            {platform && <Table.Td>{a.tenant ?? '—'}</Table.Td>}
            <Table.Td>
              <Text size="sm">{a.actorType}</Text>
              <Text size="xs" c="dimmed">
                {a.actorId} {a.clientAddress ? `from ${a.clientAddress}` : ''}
              </Text>
            </Table.Td>
            <Table.Td>
              {/* The whole action, never cut to "membe…": its label may not shrink below its text. */}
              <Badge variant="light" tt="none" styles={{ label: { overflow: 'visible' } }} data-testid="audit-action">
                {a.action}
              </Badge>
            </Table.Td>
            <Table.Td>
              <Text size="sm">{a.targetType}</Text>
              <Text size="xs" c="dimmed" style={{ wordBreak: 'break-all' }}>
                {a.targetId}
              </Text>
            </Table.Td>
            <Table.Td>
              {changeRows(a.changes).map((c) => (
                <Text size="xs" key={c.field}>
                  <strong>{c.field}</strong>: {c.from && <Code>{c.from}</Code>} {c.from && '→'} <Code>{c.to}</Code>
                </Text>
              ))}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
