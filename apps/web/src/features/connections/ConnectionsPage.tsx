/**
 * Connections (tenants: their databases; platform admins: every tenant plus refused and
 * unrouted connections). Filters, the open detail panel and live mode live in the URL.
 * Page: URL state and queries; the views below are pure.
 */
import { Anchor, Badge, Button, Drawer, Group, Paper, SegmentedControl, Select, Stack, Switch, Table, Text, TextInput, Title, Tooltip } from '@mantine/core';
import { STATUS } from '../../components/status-colors';
import { modals } from '@mantine/modals';
import { useNavigate, useParams, useSearch } from '@tanstack/react-router';
import { useEffect, useState } from 'react';
import { ErrorState, EmptyState, LoadingState } from '../../components/QueryState';
import { When } from '../../components/When';
import { zoned } from '../../components/moment';
import { notifyDone, notifyError } from '../../components/notify';
import { canManage, roleIn, useMe } from '../auth/session';
import { ConnectionCharts } from './ConnectionCharts';
import { apiQuery, csvHref, filterErrors, formatBytes, formatDuration, intervalFor, OUTCOMES, parseFilters, QUICK_RANGES, spanOf, type ConnectionFilters, type FilterField } from './filters';
import { useSpanClock } from './span-clock';
import { useConnectionEvents, useConnectionStats, useLiveConnections, useTerminate, type ConnectionEvent, type LiveConnection } from './queries';

/** Shade 9 outlines keep 4.5:1 contrast on white. */
const OUTCOME_COLOR: Record<string, string> = { ok: STATUS.good, rejected: STATUS.bad, error: STATUS.other, aborted: STATUS.neutral };

export function TenantConnectionsPage() {
  const tenant = useParams({ strict: false }).tenant ?? '';
  return <ConnectionsPage tenant={tenant} />;
}

export function PlatformConnectionsPage() {
  return <ConnectionsPage tenant={null} />;
}

function ConnectionsPage({ tenant }: { tenant: string | null }) {
  const me = useMe();
  const raw: Record<string, unknown> = useSearch({ strict: false });
  const filters = parseFilters(raw);
  const navigate = useNavigate();
  const platform = tenant === null;
  const setFilters = (patch: Partial<ConnectionFilters>) =>
    void navigate({ to: '.', search: (prev: Record<string, unknown>) => clean({ ...parseFilters(prev), ...patch }) as never, replace: false });
  // A quick range ends now: re-read when the filters change; live mode slides it forward.
  const now = useSpanClock(JSON.stringify({ ...filters, event: undefined }), filters.live ? 2000 : null);
  const q = apiQuery(filters, platform, now);
  const span = spanOf(filters, now);
  const events = useConnectionEvents(tenant, q, !!filters.live);
  const stats = useConnectionStats(tenant, { ...q, interval: intervalFor(span) }, !!filters.live);
  const live = useLiveConnections(tenant, platform ? { ...(filters.tenant ? { tenant: filters.tenant } : {}), ...(filters.database && filters.tenant ? { database: filters.database } : {}) } : { ...(filters.database ? { database: filters.database } : {}) }, !!filters.live);
  const rows = events.data?.pages.flatMap((p) => p.items) ?? [];
  const open = filters.event ? rows.find((r) => r.id === filters.event) : undefined;
  const canTerminate = (c: LiveConnection) => me.isPlatformAdmin || canManage(roleIn(me, c.tenant));
  // A filter the API refuses (a mistyped CIDR, a span over its limit) is shown on that filter,
  // once, instead of as two pages that could not load.
  const badFilters = filterErrors(events.error ?? stats.error);
  const exportBase = platform ? '/api/v1/connection-events' : `/api/v1/tenants/${encodeURIComponent(tenant)}/connection-events`;

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>{platform ? 'All connections' : 'Connections'}</Title>
        <Group>
          <Switch label="Live" checked={!!filters.live} onChange={(e) => setFilters({ live: e.currentTarget.checked || undefined })} />
          <Anchor href={csvHref(exportBase, filters, platform, now)} download data-testid="csv-export">
            Export CSV
          </Anchor>
        </Group>
      </Group>
      <FilterBar filters={filters} platform={platform} onChange={setFilters} errors={badFilters ?? {}} />
      {filters.live && <LivePanel query={live} canTerminate={canTerminate} />}
      {badFilters ? (
        <Paper withBorder>
          <EmptyState title="No connections to show">
            <Text size="sm" c="dimmed">
              Correct the filter marked above.
            </Text>
          </EmptyState>
        </Paper>
      ) : stats.isError ? (
        <ErrorState error={stats.error} retry={() => void stats.refetch()} />
      ) : stats.data ? (
        <ConnectionCharts stats={stats.data} onSelectSpan={(from, to) => setFilters({ from, to, range: undefined, live: undefined })} />
      ) : (
        <LoadingState label="Loading charts" />
      )}
      {!badFilters && (
        <Paper withBorder>
          {events.isPending ? (
            <LoadingState label="Loading connections" />
          ) : events.isError ? (
            <ErrorState error={events.error} retry={() => void events.refetch()} />
          ) : rows.length === 0 ? (
            <EmptyState title="No connections match these filters">
              <Text size="sm" c="dimmed">
                Widen the time range or clear a filter.
              </Text>
            </EmptyState>
          ) : (
            <EventsTable rows={rows} platform={platform} onOpen={(id) => setFilters({ event: id })} />
          )}
        </Paper>
      )}
      {events.hasNextPage && (
        <Group justify="center">
          <Button variant="light" onClick={() => void events.fetchNextPage()} loading={events.isFetchingNextPage}>
            Load older connections
          </Button>
        </Group>
      )}
      <Drawer opened={!!filters.event} onClose={() => setFilters({ event: undefined })} position="right" size="md" title="Connection">
        {open ? <EventDetail e={open} /> : <Text size="sm">This connection is not in the rows loaded for these filters.</Text>}
      </Drawer>
    </Stack>
  );
}

function clean(f: ConnectionFilters): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) if (v !== undefined && v !== '' && v !== false) out[k] = v;
  return out;
}

export function FilterBar({ filters, platform, onChange, errors = {} }: { filters: ConnectionFilters; platform: boolean; onChange: (p: Partial<ConnectionFilters>) => void; errors?: Partial<Record<FilterField, string>> }) {
  const [text, setText] = useState({ tenant: filters.tenant ?? '', database: filters.database ?? '', reason: filters.reason ?? '', client: filters.client ?? '', sni: filters.sni ?? '' });
  useEffect(() => setText({ tenant: filters.tenant ?? '', database: filters.database ?? '', reason: filters.reason ?? '', client: filters.client ?? '', sni: filters.sni ?? '' }), [filters.tenant, filters.database, filters.reason, filters.client, filters.sni]);
  const apply = () => onChange({ tenant: text.tenant || undefined, database: text.database || undefined, reason: text.reason || undefined, client: text.client || undefined, sni: text.sni || undefined });
  const field = (k: keyof typeof text, label: string, placeholder: string) => (
    <TextInput label={label} placeholder={placeholder} value={text[k]} onChange={(e) => setText({ ...text, [k]: e.currentTarget.value })} onBlur={apply} onKeyDown={(e) => e.key === 'Enter' && apply()} w={170} error={errors[k]} />
  );
  return (
    <Paper withBorder p="sm">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          apply();
        }}
      >
        <Group align="end" gap="sm">
          <div>
            <Text size="sm" fw={500} mb={4} id="range-label">
              Time range
            </Text>
            <SegmentedControl
              aria-labelledby="range-label"
              data={[...Object.keys(QUICK_RANGES), ...(filters.from ? ['custom'] : [])]}
              value={filters.from ? 'custom' : (filters.range ?? '24h')}
              onChange={(v) => v !== 'custom' && onChange({ range: v as keyof typeof QUICK_RANGES, from: undefined, to: undefined })}
            />
          </div>
          {platform && field('tenant', 'Tenant', 'acme')}
          {field('database', 'Database', platform ? 'needs a tenant' : 'orders')}
          <Select label="Outcome" placeholder="any" data={[...OUTCOMES]} value={filters.outcome ?? null} clearable onChange={(v) => onChange({ outcome: (v ?? undefined) })} w={130} error={errors.outcome} />
          {field('reason', 'Close reason', 'unknown_host')}
          {field('client', 'Client address or CIDR', '10.0.0.0/8')}
          {field('sni', 'Host name (SNI)', 'orders.acme…')}
          <Button type="submit" variant="light">
            Apply
          </Button>
        </Group>
        {filters.from && (
          <Text size="xs" c="dimmed" mt="xs">
            {zoned(filters.from)} – {zoned(filters.to!)}
          </Text>
        )}
        {errors.range && (
          <Text size="xs" c="red.8" mt="xs" role="alert">
            {errors.range}
          </Text>
        )}
      </form>
    </Paper>
  );
}

export function EventsTable({ rows, platform, onOpen }: { rows: ConnectionEvent[]; platform: boolean; onOpen: (id: string) => void }) {
  return (
    <Table highlightOnHover stickyHeader aria-label="Connection events">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Started</Table.Th>
          {platform && <Table.Th>Tenant</Table.Th>}
          <Table.Th>Database</Table.Th>
          <Table.Th>Client</Table.Th>
          <Table.Th>Host name</Table.Th>
          <Table.Th>Outcome</Table.Th>
          <Table.Th ta="right">In</Table.Th>
          <Table.Th ta="right">Out</Table.Th>
          <Table.Th ta="right">Duration</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map((e) => (
          <Table.Tr key={e.id} data-event-id={e.id} style={{ cursor: 'pointer' }} onClick={() => onOpen(e.id)}>
            <Table.Td>
              <Anchor
                component="button"
                type="button"
                size="sm"
                onClick={(ev) => {
                  ev.stopPropagation();
                  onOpen(e.id);
                }}
              >
                <When iso={e.startedAt} compact />
              </Anchor>
            </Table.Td>
            {platform && <Table.Td>{e.tenant ?? <Text span c="dimmed" size="sm">unrouted</Text>}</Table.Td>}
            <Table.Td>{e.database ?? '—'}</Table.Td>
            <Table.Td>{e.clientAddress}</Table.Td>
            <Table.Td>{e.sni ?? <Text span c="dimmed" size="sm">no SNI</Text>}</Table.Td>
            <Table.Td>
              <Badge color={OUTCOME_COLOR[e.outcome]} variant="outline" tt="none">
                {e.outcome}
              </Badge>{' '}
              <Text span size="sm">
                {e.reason}
              </Text>
            </Table.Td>
            <Table.Td ta="right" style={{ whiteSpace: 'nowrap' }}>{formatBytes(e.bytesIn)}</Table.Td>
            <Table.Td ta="right" style={{ whiteSpace: 'nowrap' }}>{formatBytes(e.bytesOut)}</Table.Td>
            <Table.Td ta="right" style={{ whiteSpace: 'nowrap' }}>{formatDuration(e.durationMs)}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function EventDetail({ e }: { e: ConnectionEvent }) {
  const fields: Array<[string, string | number | null]> = [
    ['Event id', e.id],
    ['Tenant', e.tenant ?? 'unrouted'],
    ['Database', e.database],
    ['Client address', `${e.clientAddress}:${e.clientPort}`],
    ['Host name (SNI)', e.sni],
    ['ALPN', e.alpn],
    ['TLS version (terminate mode)', e.tlsVersion],
    ['Mode', e.mode],
    ['Listener', e.listener],
    ['Started', zoned(e.startedAt)],
    ['Ended', zoned(e.endedAt)],
    ['Duration', formatDuration(e.durationMs)],
    ['Bytes from the client', `${e.bytesIn} (${formatBytes(e.bytesIn)})`],
    ['Bytes to the client', `${e.bytesOut} (${formatBytes(e.bytesOut)})`],
    ['Outcome', e.outcome],
    ['Reason', e.reason],
    ['Ended by', e.endedBy],
    ['Upstream endpoint', e.upstream],
    ['Proxy', e.proxyId],
    ['Connection id on the proxy', e.connectionId],
    ['Route id', e.routeId],
  ];
  return (
    <Table aria-label="Connection details">
      <Table.Tbody>
        {fields.map(([k, v]) => (
          <Table.Tr key={k}>
            <Table.Th w={200}>{k}</Table.Th>
            <Table.Td data-field={k}>{v === null || v === '' ? <Text span c="dimmed" size="sm">—</Text> : v}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function LivePanel({ query, canTerminate }: { query: ReturnType<typeof useLiveConnections>; canTerminate: (c: LiveConnection) => boolean }) {
  const terminate = useTerminate();
  const confirm = (c: LiveConnection) =>
    modals.openConfirmModal({
      title: 'Terminate this connection?',
      children: (
        <Text size="sm">
          The client {c.clientAddress}:{c.clientPort} connected to {c.sni ?? c.database} loses its session at once; uncommitted work is rolled back by the database. The event will name you.
        </Text>
      ),
      labels: { confirm: 'Terminate', cancel: 'Cancel' },
      confirmProps: { color: 'red' },
      onConfirm: () =>
        terminate.mutate(c, {
          onSuccess: (r) => notifyDone(`Terminate sent to ${r.proxyId}; the connection closes within a second.`),
          onError: (err) => notifyError(err, 'Terminating the connection'),
        }),
    });
  return (
    <Paper withBorder p="sm">
      <Group justify="space-between" mb="xs">
        <Title order={2} size="h4">
          Open now
        </Title>
        <Text size="xs" c="dimmed">
          {query.data?.reportedAt ? `as the proxies reported at ${new Date(query.data.reportedAt).toLocaleTimeString()}` : 'no live proxy'}
          {query.data?.truncated ? ' · showing the newest 500 per proxy' : ''}
        </Text>
      </Group>
      {query.isPending ? (
        <LoadingState label="Asking the proxies" />
      ) : query.isError ? (
        <ErrorState error={query.error} retry={() => void query.refetch()} />
      ) : query.data.items.length === 0 ? (
        <Text size="sm" c="dimmed">
          No open connections.
        </Text>
      ) : (
        <Table aria-label="Open connections">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Since</Table.Th>
              <Table.Th>Tenant / database</Table.Th>
              <Table.Th>Client</Table.Th>
              <Table.Th>Host name</Table.Th>
              <Table.Th ta="right">In</Table.Th>
              <Table.Th ta="right">Out</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {query.data.items.map((c) => (
              <Table.Tr key={`${c.proxyId}/${c.id}`} data-live-id={c.id}>
                <Table.Td>{formatDuration(c.durationMs)}</Table.Td>
                <Table.Td>
                  {c.tenant} / {c.database ?? '—'}
                </Table.Td>
                <Table.Td>
                  {c.clientAddress}:{c.clientPort}
                </Table.Td>
                <Table.Td>{c.sni}</Table.Td>
                <Table.Td ta="right">{formatBytes(c.bytesIn)}</Table.Td>
                <Table.Td ta="right">{formatBytes(c.bytesOut)}</Table.Td>
                <Table.Td ta="right">
                  {canTerminate(c) ? (
                    <Button size="xs" color="red" variant="light" onClick={() => confirm(c)}>
                      Terminate
                    </Button>
                  ) : (
                    <Tooltip label="Terminating needs the admin role in this tenant">
                      <Button size="xs" color="red" variant="light" disabled data-disabled>
                        Terminate
                      </Button>
                    </Tooltip>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Paper>
  );
}
