/** Every proxy with its applied config version, lag, heartbeat, workers, load and dropped events; stale ones marked. */
import { Badge, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { STATUS } from '../../components/status-colors';
import { useQuery } from '@tanstack/react-query';
import { EmptyState, QueryState } from '../../components/QueryState';
import { zoned } from '../../components/moment';
import { api, call } from '../../lib/api/client';

export function ProxiesPage() {
  const q = useQuery({ queryKey: ['proxies'], queryFn: () => call(api.GET('/api/v1/proxies')), refetchInterval: 5000 });
  return (
    <Stack>
      <Title order={1}>Proxies</Title>
      <QueryState query={q} label="Loading proxies">
        {(d) => (
          <>
            <Text size="sm" c="dimmed">
              Latest config version {d.currentVersion}. A proxy without a heartbeat for {Math.round(d.livenessMs / 1000)} s is stale: stopped, crashed or cut off from the control database.
            </Text>
            {d.items.length === 0 ? (
              <Paper withBorder>
                <EmptyState title="No proxy has reported in the last day">
                  <Text size="sm" c="dimmed">
                    Start a proxy on the control database; it appears here with its first heartbeat.
                  </Text>
                </EmptyState>
              </Paper>
            ) : (
              /* Narrower than the table (a phone), it scrolls sideways in here. The page has no
                  control to tab to, so the region itself takes focus: keyboard users scroll it
                  with the arrow keys (axe: scrollable-region-focusable). */
              <Paper withBorder style={{ overflowX: 'auto' }} tabIndex={0} role="region" aria-label="Proxies table">
                <Table aria-label="Proxies" miw={860}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Proxy</Table.Th>
                      <Table.Th>State</Table.Th>
                      <Table.Th ta="right">Applied version</Table.Th>
                      <Table.Th ta="right">Behind</Table.Th>
                      <Table.Th>Last heartbeat</Table.Th>
                      <Table.Th ta="right">Workers</Table.Th>
                      <Table.Th ta="right">Open connections</Table.Th>
                      <Table.Th ta="right">Routes</Table.Th>
                      <Table.Th ta="right">Events dropped</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {d.items.map((p) => (
                      <Table.Tr key={p.id} data-proxy={p.id}>
                        <Table.Td>
                          <Text size="sm" fw={500}>
                            {p.id}
                          </Text>
                          <Text size="xs" c="dimmed">
                            {p.hostname} · v{p.version}
                          </Text>
                        </Table.Td>
                        <Table.Td>
                          {p.stale ? (
                            <Badge color={STATUS.bad}>stale</Badge>
                          ) : p.upToDate ? (
                            <Badge color={STATUS.good}>up to date</Badge>
                          ) : (
                            <Badge color={STATUS.warn}>applying</Badge>
                          )}
                        </Table.Td>
                        <Table.Td ta="right">{p.appliedVersion}</Table.Td>
                        <Table.Td ta="right">{p.lag}</Table.Td>
                        <Table.Td>
                          <time dateTime={p.heartbeatAt} title={zoned(p.heartbeatAt)}>
                            {Math.round(p.heartbeatAgeMs / 1000)} s ago
                          </time>
                        </Table.Td>
                        <Table.Td ta="right">{p.workers}</Table.Td>
                        <Table.Td ta="right">{p.openConnections}</Table.Td>
                        <Table.Td ta="right">{p.routes}</Table.Td>
                        <Table.Td ta="right">{p.eventsDropped > 0 ? <Badge color={STATUS.warn}>{p.eventsDropped}</Badge> : 0}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Paper>
            )}
          </>
        )}
      </QueryState>
    </Stack>
  );
}
