/**
 * The databases list as a view (no fetching): a table on wide windows, stacked cards on narrow
 * ones (a phone), so nothing is cut off or scrolled sideways. Both show engine, hostname,
 * access state, open connections now (a link to them in the live connections view) and the
 * Connect action (the database page's Connect tab, where the switch is).
 */
import { Anchor, Badge, Button, Card, Group, Stack, Table, Text, VisuallyHidden } from '@mantine/core';
import { Link } from '@tanstack/react-router';
import type { CSSProperties } from 'react';
import type { Database } from './api';
import { ENGINES } from './DatabaseForm';
import { KubernetesBadge } from './KubernetesOwner';

export type ListLayout = 'table' | 'cards';

/** Cards: long host names wrap anywhere instead of widening the page. */
const WRAP = { overflowWrap: 'anywhere' } as const;
/**
 * Table: break a name only if it cannot fit otherwise (unlike `anywhere`, this does not shrink
 * the column's minimum width, so names stay whole while there is room).
 */
const CELL_WRAP = { overflowWrap: 'break-word' } as const;

export function AccessBadge({ db }: { db: Database }) {
  const a = db.externalAccess;
  if (!a.enabled) return <Badge color="gray" variant="light">off</Badge>;
  return (
    <Badge color="green" variant="light">
      on · {a.tlsMode}
    </Badge>
  );
}

export function openConnectionsText(n: number): string {
  return n === 1 ? '1 open connection' : `${n} open connections`;
}

/** The id of a database's name in the list: what its row's links are described by. */
const nameId = (db: Database) => `database-name-${db.id}`;

/**
 * Open connections now, as a link to the connections page in live mode filtered to this
 * database. `compact`: the number alone (the table's column header says what it counts).
 * Its name is what it shows; in the list, `describedBy` names the database (the row's
 * context), so several rows' links stay told apart without repeating the name in each.
 */
export function OpenConnectionsLink({ tenant, database, count, compact = false, describedBy }: { tenant: string; database: string; count: number; compact?: boolean; describedBy?: string }) {
  return (
    <Anchor
      size="sm"
      data-testid="open-connections"
      title="Show them live"
      aria-label={compact ? openConnectionsText(count) : undefined}
      aria-describedby={describedBy}
      renderRoot={(props) => <Link {...props} to="/t/$tenant/connections" params={{ tenant }} search={{ database, live: true }} />}
    >
      {compact ? count : openConnectionsText(count)}
    </Anchor>
  );
}

function DatabaseLink({ tenant, db, wrap }: { tenant: string; db: Database; wrap: CSSProperties }) {
  return (
    <Anchor id={nameId(db)} fw={600} style={wrap} renderRoot={(props) => <Link {...props} to="/t/$tenant/databases/$database" params={{ tenant, database: db.name }} />}>
      {db.name}
    </Anchor>
  );
}

function ConnectButton({ tenant, db }: { tenant: string; db: Database }) {
  return (
    <Button
      size="xs"
      variant="light"
      aria-describedby={nameId(db)}
      renderRoot={(props) => <Link {...props} to="/t/$tenant/databases/$database" params={{ tenant, database: db.name }} search={{ tab: 'connect' }} />}
    >
      Connect
    </Button>
  );
}

const engineLabel = (db: Database) => ENGINES.find((e) => e.value === db.engine)?.label ?? db.engine;
const upstreamText = (db: Database) => db.endpoints.map((e) => `${e.host}:${e.port}`).join(', ');

function DatabasesTable({ tenant, items }: { tenant: string; items: Database[] }) {
  return (
    // Between md and xl a very long host name may still need more room: the table scrolls
    // inside its box then, never the page.
    <Table.ScrollContainer minWidth={640}>
      <Table striped highlightOnHover aria-label="Databases">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Engine</Table.Th>
            {/* The lowest-priority column: only on wide windows (the database page shows it). */}
            <Table.Th visibleFrom="xl">Upstream</Table.Th>
            <Table.Th>Hostname</Table.Th>
            <Table.Th>External access</Table.Th>
            <Table.Th>Open connections</Table.Th>
            <Table.Th>
              <VisuallyHidden>Actions</VisuallyHidden>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((d) => (
            <Table.Tr key={d.id} data-database={d.name}>
              <Table.Td>
                <Group gap="xs" wrap="nowrap">
                  <DatabaseLink tenant={tenant} db={d} wrap={{ whiteSpace: 'nowrap' }} />
                  <KubernetesBadge owner={d.owner} />
                </Group>
              </Table.Td>
              <Table.Td>{engineLabel(d)}</Table.Td>
              <Table.Td visibleFrom="xl">
                <Text size="sm" ff="monospace" style={CELL_WRAP}>
                  {upstreamText(d)}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm" ff="monospace" style={CELL_WRAP}>
                  {d.externalAccess.hostname}:{d.externalAccess.port}
                </Text>
              </Table.Td>
              <Table.Td style={{ whiteSpace: 'nowrap' }}>
                <AccessBadge db={d} />
              </Table.Td>
              <Table.Td>
                <OpenConnectionsLink tenant={tenant} database={d.name} count={d.openConnections} compact describedBy={nameId(d)} />
              </Table.Td>
              <Table.Td>
                <ConnectButton tenant={tenant} db={d} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function DatabaseCards({ tenant, items }: { tenant: string; items: Database[] }) {
  return (
    <Stack gap="sm" component="ul" aria-label="Databases" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
      {items.map((d) => (
        <Card key={d.id} component="li" withBorder padding="sm" data-database={d.name}>
          <Stack gap={6}>
            <Group justify="space-between" gap="xs" wrap="nowrap" align="flex-start">
              <Group gap="xs" style={{ minWidth: 0 }}>
                <DatabaseLink tenant={tenant} db={d} wrap={WRAP} />
                <KubernetesBadge owner={d.owner} />
              </Group>
              <AccessBadge db={d} />
            </Group>
            <Text size="sm" c="dimmed">
              {engineLabel(d)}
            </Text>
            <Text size="sm" ff="monospace" style={WRAP}>
              {d.externalAccess.hostname}:{d.externalAccess.port}
            </Text>
            <Text size="xs" c="dimmed" ff="monospace" style={WRAP}>
              → {upstreamText(d)}
            </Text>
            <Group justify="space-between" gap="xs">
              <OpenConnectionsLink tenant={tenant} database={d.name} count={d.openConnections} describedBy={nameId(d)} />
              <ConnectButton tenant={tenant} db={d} />
            </Group>
          </Stack>
        </Card>
      ))}
    </Stack>
  );
}

export function DatabasesList({ tenant, items, layout }: { tenant: string; items: Database[]; layout: ListLayout }) {
  return layout === 'table' ? <DatabasesTable tenant={tenant} items={items} /> : <DatabaseCards tenant={tenant} items={items} />;
}
