/**
 * The tenant's databases: engine, upstream, hostname, access state and open connections now,
 * Kubernetes-owned ones marked; register one (by hand or from a discovered service). A table
 * from the md breakpoint up, stacked cards below it (a phone: no sideways scrolling).
 */
import { Button, Code, Group, Modal, Stack, Text, Title, useMatches } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { Guarded } from '../../components/Guarded';
import { notifyDone } from '../../components/notify';
import { FilteredList, useFilterParam } from '../../components/LongList';
import { EmptyState, QueryState } from '../../components/QueryState';
import { databasesRoute } from '../../app/router';
import { canManage, READ_ONLY_REASON, roleIn, useMe } from '../auth/session';
import { databasesQuery, discoveredServicesQuery, tenantQuery, useCreateDatabase } from './api';
import { createBody, DatabaseForm } from './DatabaseForm';
import { DatabasesList, type ListLayout } from './DatabasesList';
import { LimitsSummary } from './LimitsSummary';

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
  const filter = useFilterParam();
  // Its limits and usage (a member may read them); the summary waits for them silently.
  const tenantInfo = useQuery(tenantQuery(tenant));
  const create = useCreateDatabase(tenant);
  const discovered = useQuery({ ...discoveredServicesQuery(tenant), enabled: !!search.register && manage });
  // Read at first render (no server rendering here), so a desktop never flashes the cards.
  const layout = useMatches<ListLayout>({ base: 'cards', md: 'table' }, { getInitialValueInEffect: false });
  const setSearch = (s: { register?: boolean }) => void navigate({ search: (prev) => ({ ...prev, ...s }), replace: true });

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
      {tenantInfo.data && <LimitsSummary tenant={tenantInfo.data} />}
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
            <FilteredList
              items={data.items}
              texts={(d) => [d.name, d.engine, d.externalAccess.hostname, ...d.endpoints.map((e) => e.host)]}
              noun={['database', 'databases']}
              label="Filter databases"
              placeholder="Filter by name, engine or host"
              filter={filter}
            >
              {(rows) => <DatabasesList tenant={tenant} layout={layout} items={rows} />}
            </FilteredList>
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
