/**
 * One database: the switch with its propagation, then tabs (in the URL) for connecting,
 * access settings and the database's own settings.
 */
import { Anchor, Badge, Button, Group, List, Modal, Paper, Stack, Tabs, Text, Title } from '@mantine/core';
import { useQuery, type UseQueryResult } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { useEffect, useState, type ReactNode } from 'react';
import { Guarded } from '../../components/Guarded';
import { notifyDone, notifyError } from '../../components/notify';
import { ErrorState, LoadingState } from '../../components/QueryState';
import { databaseRoute, type DatabaseTab } from '../../app/router';
import { ApiError } from '../../lib/api/client';
import type { Fill } from '../../lib/connect';
import { canManage, READ_ONLY_REASON, roleIn, useMe } from '../auth/session';
import { AccessSettings } from './AccessSettings';
import { AccessSwitch } from './AccessSwitch';
import { accessQuery, databaseQuery, metaQuery, tenantQuery, useDeleteDatabase, useUpdateDatabase, type Database, type ExternalAccess, type Meta } from './api';
import { ConnectPanel } from './ConnectPanel';
import { DatabaseForm, ENGINES, upstreamBody } from './DatabaseForm';
import { OpenConnectionsLink } from './DatabasesList';
import { changeLock, KubernetesBadge } from './KubernetesOwner';
import { PropagationIndicator } from './PropagationIndicator';

/**
 * A tab that needs the route's state and the platform's (`/meta`): its content once both are
 * here; if either fails, its error with a retry — a spinner would turn forever (the failed
 * query is not asked again by itself).
 */
function WithAccessAndMeta({ access, meta, children }: { access: UseQueryResult<ExternalAccess>; meta: UseQueryResult<Meta>; children: (access: ExternalAccess, meta: Meta) => ReactNode }) {
  if (access.data && meta.data) return <>{children(access.data, meta.data)}</>;
  const failed = [access, meta].find((q) => q.isError);
  if (failed) return <ErrorState error={failed.error} retry={() => void failed.refetch()} />;
  return <LoadingState />;
}

/** When the current change started waiting for the proxies: set on send, or when first seen pending. */
function usePendingSince(access: ExternalAccess | undefined): [number | null, () => void] {
  const [since, setSince] = useState<number | null>(null);
  const pending = access?.propagation?.state === 'pending';
  useEffect(() => {
    if (!pending) setSince(null);
    else setSince((s) => s ?? Date.now());
  }, [pending]);
  return [since, () => setSince(Date.now())];
}

function DeleteDatabase({ tenant, db, access }: { tenant: string; db: Database; access: ExternalAccess | undefined }) {
  const [open, setOpen] = useState(false);
  const del = useDeleteDatabase(tenant);
  const navigate = useNavigate();
  return (
    <>
      <Button color="red" variant="light" onClick={() => setOpen(true)}>
        Delete database
      </Button>
      <Modal opened={open} onClose={() => setOpen(false)} title={`Delete ${db.name}?`}>
        <Stack>
          <Text size="sm">This removes from Switchyard (your database itself is not touched):</Text>
          <List size="sm">
            <List.Item>the registration of {db.name} ({db.endpoints.map((e) => `${e.host}:${e.port}`).join(', ')})</List.Item>
            {access && (
              <List.Item>
                its route {access.hostname}:{access.port}
                {access.enabled ? ' — external access is ON: clients will be refused from now on' : ''}
              </List.Item>
            )}
            {access?.dedicatedPort != null && <List.Item>its dedicated port {access.dedicatedPort}</List.Item>}
          </List>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setOpen(false)}>
              Keep it
            </Button>
            <Button
              color="red"
              loading={del.isPending}
              onClick={() =>
                del.mutate(db.name, {
                  onSuccess: () => {
                    notifyDone(`Deleted ${db.name}`);
                    void navigate({ to: '/t/$tenant/databases', params: { tenant }, search: {} });
                  },
                  onError: (e) => notifyError(e, 'Deleting the database'),
                })
              }
            >
              Delete {db.name}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}

export function DatabasePage() {
  const { tenant, database } = databaseRoute.useParams();
  const search = databaseRoute.useSearch();
  const navigate = useNavigate({ from: databaseRoute.fullPath });
  const me = useMe();
  const manage = canManage(roleIn(me, tenant));
  // Refreshed at the pace of the access poll below, so the open-connection count stays current.
  const db = useQuery({ ...databaseQuery(tenant, database), refetchInterval: 5_000 });
  const access = useQuery(accessQuery(tenant, database));
  const meta = useQuery(metaQuery);
  const tenantInfo = useQuery(tenantQuery(tenant));
  const update = useUpdateDatabase(tenant, database);
  const [pendingSince, markSent] = usePendingSince(access.data);
  // The Connect tab's user and database outlive a visit to another tab (per database: the page
  // stays mounted when the link goes to another one).
  const [fills, setFills] = useState<Record<string, Fill>>({});
  const fill = fills[`${tenant}/${database}`] ?? { user: '', database: '' };
  const setFill = (f: Fill) => setFills((all) => ({ ...all, [`${tenant}/${database}`]: f }));
  const tab: DatabaseTab = search.tab ?? 'connect';
  const setSearch = (s: { tab?: DatabaseTab; client?: string }) => void navigate({ search: (prev) => ({ ...prev, ...s }), replace: true });

  if (db.isPending) return <LoadingState label="Loading the database" />;
  // No such database (a mistyped or old link, or deleted in another tab while this was open):
  // a page that says so and leads back, not an error to retry.
  if (db.error instanceof ApiError && db.error.code === 'SY_DATABASE_NOT_FOUND')
    return (
      <Stack>
        <Title order={1}>Database not found</Title>
        <Text role="alert">
          This tenant has no database named <strong>{database}</strong>; it may have been deleted.
        </Text>
        <Anchor renderRoot={(props) => <Link {...props} to="/t/$tenant/databases" params={{ tenant }} />}>Back to the databases</Anchor>
      </Stack>
    );
  if (db.isError) return <ErrorState error={db.error} retry={() => void db.refetch()} />;
  const d = db.data;
  // Kubernetes-owned: read-only here for everyone (the API answers SY_KUBERNETES_OWNED).
  const lock = changeLock(manage, READ_ONLY_REASON, access.data?.owner ?? d.owner);

  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={1}>{d.name}</Title>
          <Group gap="xs" mt={4}>
            <Badge variant="light">{ENGINES.find((e) => e.value === d.engine)?.label ?? d.engine}</Badge>
            <KubernetesBadge owner={d.owner} />
            <Text size="sm" c="dimmed" ff="monospace" style={{ overflowWrap: 'anywhere' }}>
              → {d.endpoints.map((e) => `${e.host}:${e.port}`).join(', ')}
            </Text>
            <OpenConnectionsLink tenant={tenant} database={d.name} count={d.openConnections} />
          </Group>
        </div>
      </Group>
      <Paper withBorder p="md" aria-label="External access">
        {access.isPending ? (
          <LoadingState label="Loading external access" />
        ) : access.isError ? (
          // Never a stale switch: without a fresh answer, no switch at all.
          <ErrorState error={access.error} retry={() => void access.refetch()} />
        ) : (
          <Stack gap="sm">
            <AccessSwitch tenant={tenant} database={database} access={access.data} canManage={lock.allowed} readOnlyReason={lock.reason} onChange={markSent} />
            <PropagationIndicator
              enabled={access.data.enabled}
              report={access.data.propagation}
              pendingSinceMs={pendingSince}
              boundMs={meta.data?.propagationTimeoutMs ?? 10_000}
            />
          </Stack>
        )}
      </Paper>
      <Tabs value={tab} onChange={(v) => v && setSearch({ tab: v as DatabaseTab })} keepMounted={false}>
        <Tabs.List aria-label="Database views">
          <Tabs.Tab value="connect">Connect</Tabs.Tab>
          <Tabs.Tab value="access">Access settings</Tabs.Tab>
          <Tabs.Tab value="settings">Settings</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="connect" pt="md">
          <WithAccessAndMeta access={access} meta={meta}>
            {(a, m) => <ConnectPanel engine={d.engine} access={a} baseDomain={m.baseDomain} client={search.client} onClientChange={(client) => setSearch({ client })} fill={fill} onFillChange={setFill} />}
          </WithAccessAndMeta>
        </Tabs.Panel>
        <Tabs.Panel value="access" pt="md">
          <WithAccessAndMeta access={access} meta={meta}>
            {(a, m) => (
              <AccessSettings
                // Not keyed by version: a new version (the switch above, another tab) keeps unsaved edits.
                tenant={tenant}
                database={database}
                access={a}
                meta={m}
                tenantInfo={tenantInfo.data}
                clientAddress={me.clientAddress}
                canManage={lock.allowed}
                readOnlyReason={lock.reason}
              />
            )}
          </WithAccessAndMeta>
        </Tabs.Panel>
        <Tabs.Panel value="settings" pt="md">
          <Stack maw={640}>
            {lock.allowed ? (
              <DatabaseForm
                initial={d}
                submitLabel="Save"
                pending={update.isPending}
                onSubmit={async (v) => {
                  await update.mutateAsync({ engine: v.engine, ...upstreamBody(v) });
                  notifyDone('Saved');
                }}
              />
            ) : (
              <Text size="sm" c="dimmed">
                {manage ? lock.reason : 'Read-only: your role in this tenant is member.'}
              </Text>
            )}
            <Group>
              <Guarded allowed={lock.allowed} reason={lock.reason}>
                {lock.allowed ? <DeleteDatabase tenant={tenant} db={d} access={access.data} /> : <Button color="red" variant="light" disabled>Delete database</Button>}
              </Guarded>
            </Group>
          </Stack>
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
