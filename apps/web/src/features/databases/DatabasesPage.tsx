/**
 * The tenant's databases: engine, upstream, hostname and access state, Kubernetes-owned ones
 * marked; register one (by hand or from a discovered service).
 */
import { Anchor, Badge, Button, Code, Group, Modal, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { Guarded } from '../../components/Guarded';
import { notifyDone } from '../../components/notify';
import { EmptyState, QueryState } from '../../components/QueryState';
import { databasesRoute } from '../../app/router';
import { canManage, READ_ONLY_REASON, roleIn, useMe } from '../auth/session';
import { databasesQuery, discoveredServicesQuery, useCreateDatabase, type Database } from './api';
import { createBody, DatabaseForm, ENGINES } from './DatabaseForm';
import { KubernetesBadge } from './KubernetesOwner';

function AccessBadge({ db }: { db: Database }) {
  const a = db.externalAccess;
  if (!a.enabled) return <Badge color="gray" variant="light">off</Badge>;
  return (
    <Badge color="green" variant="light">
      on · {a.tlsMode}
    </Badge>
  );
}

/** The empty state's second way in: an ExternalAccess object, applied with kubectl. */
export function KubernetesHint({ tenant }: { tenant: string }) {
  return (
    <Stack gap={4} maw={560} mt="sm">
      <Text size="sm" c="dimmed">
        Or declare it in Kubernetes: in a namespace labelled <Code>switchyard.io/tenant: {tenant}</Code>, apply an <Code>ExternalAccess</Code> naming the
        Service; it appears here, managed by that object (change it with kubectl).
      </Text>
      <Code block>{`apiVersion: switchyard.io/v1alpha1
kind: ExternalAccess
metadata:
  name: orders
  namespace: ${tenant}-prod
spec:
  service:
    name: orders-rw
    port: 5432`}</Code>
    </Stack>
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
  const discovered = useQuery({ ...discoveredServicesQuery(tenant), enabled: !!search.register && manage });
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
              <KubernetesHint tenant={tenant} />
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
                            <Group gap="xs" wrap="nowrap">
                              <Anchor fw={600} renderRoot={(props) => <Link {...props} to="/t/$tenant/databases/$database" params={{ tenant, database: d.name }} />}>
                                {d.name}
                              </Anchor>
                              <KubernetesBadge owner={d.owner} />
                            </Group>
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
          discovered={discovered.data}
          onSubmit={async (v) => {
            const db = await create.mutateAsync(createBody(v, discovered.data));
            notifyDone(`Registered ${db.name}`);
            await navigate({ to: '/t/$tenant/databases/$database', params: { tenant, database: db.name }, search: {} });
          }}
        />
      </Modal>
    </Stack>
  );
}
