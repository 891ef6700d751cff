/** The tenant's databases: engine, upstream, hostname and access state; register one. */
import { Anchor, Badge, Button, Group, Modal, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { Guarded } from '../../components/Guarded';
import { notifyDone } from '../../components/notify';
import { EmptyState, QueryState } from '../../components/QueryState';
import { databasesRoute } from '../../app/router';
import { canManage, READ_ONLY_REASON, roleIn, useMe } from '../auth/session';
import { databasesQuery, useCreateDatabase, type Database } from './api';
import { DatabaseForm, ENGINES, upstreamBody } from './DatabaseForm';

function AccessBadge({ db }: { db: Database }) {
  const a = db.externalAccess;
  if (!a.enabled) return <Badge color="gray" variant="light">off</Badge>;
  return (
    <Badge color="green" variant="light">
      on · {a.tlsMode}
    </Badge>
  );
}

export function DatabasesPage() {
  const { tenant } = databasesRoute.useParams();
  const search = databasesRoute.useSearch();
  const navigate = useNavigate({ from: databasesRoute.fullPath });
  const me = useMe();
  const manage = canManage(roleIn(me, tenant));
  const list = useQuery(databasesQuery(tenant));
  const create = useCreateDatabase(tenant);
  const q = (search.q ?? '').toLowerCase();
  const setSearch = (s: { q?: string; register?: boolean }) => void navigate({ search: (prev) => ({ ...prev, ...s }), replace: true });

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Databases</Title>
        <Guarded allowed={manage} reason={READ_ONLY_REASON}>
          <Button disabled={!manage} onClick={() => setSearch({ register: true })}>
            Register a database
          </Button>
        </Guarded>
      </Group>
      <QueryState query={list} label="Loading databases">
        {(data) =>
          data.items.length === 0 ? (
            <EmptyState title="No databases yet">
              <Text size="sm" c="dimmed">
                Register a database running in your cluster, then switch on external access to reach it from outside.
              </Text>
            </EmptyState>
          ) : (
            <>
              <TextInput
                aria-label="Filter databases"
                placeholder="Filter by name, engine or host"
                value={search.q ?? ''}
                onChange={(e) => setSearch({ q: e.currentTarget.value || undefined })}
                maw={360}
              />
              <Table.ScrollContainer minWidth={720}>
                <Table striped highlightOnHover>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Name</Table.Th>
                      <Table.Th>Engine</Table.Th>
                      <Table.Th>Upstream</Table.Th>
                      <Table.Th>Hostname</Table.Th>
                      <Table.Th>External access</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {data.items
                      .filter((d) => !q || [d.name, d.engine, d.externalAccess.hostname, ...d.endpoints.map((e) => e.host)].some((s) => s.toLowerCase().includes(q)))
                      .map((d) => (
                        <Table.Tr key={d.id}>
                          <Table.Td>
                            <Anchor fw={600} renderRoot={(props) => <Link {...props} to="/t/$tenant/databases/$database" params={{ tenant, database: d.name }} />}>
                              {d.name}
                            </Anchor>
                          </Table.Td>
                          <Table.Td>{ENGINES.find((e) => e.value === d.engine)?.label ?? d.engine}</Table.Td>
                          <Table.Td>
                            <Text size="sm" ff="monospace">
                              {d.endpoints.map((e) => `${e.host}:${e.port}`).join(', ')}
                            </Text>
                          </Table.Td>
                          <Table.Td>
                            <Text size="sm" ff="monospace">
                              {d.externalAccess.hostname}:{d.externalAccess.port}
                            </Text>
                          </Table.Td>
                          <Table.Td>
                            <AccessBadge db={d} />
                          </Table.Td>
                        </Table.Tr>
                      ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </>
          )
        }
      </QueryState>
      <Modal opened={!!search.register && manage} onClose={() => setSearch({ register: undefined })} title="Register a database" size="lg">
        <DatabaseForm
          submitLabel="Register"
          pending={create.isPending}
          onCancel={() => setSearch({ register: undefined })}
          onSubmit={async (v) => {
            const db = await create.mutateAsync({ name: v.name.trim(), engine: v.engine, ...upstreamBody(v) });
            notifyDone(`Registered ${db.name}`);
            await navigate({ to: '/t/$tenant/databases/$database', params: { tenant, database: db.name }, search: {} });
          }}
        />
      </Modal>
    </Stack>
  );
}
