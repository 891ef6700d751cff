/**
 * API tokens of the tenant: create (role, expiry; the secret shown once), last use, who created
 * each, revoke. Nobody creates or revokes a token above their own role (the API's rule): an
 * admin sees the owner role and owner tokens' Revoke disabled, with the reason.
 */
import { Alert, Badge, Button, Code, Group, Modal, Select, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useForm } from '@mantine/form';
import { modals } from '@mantine/modals';
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { tokensRoute } from '../../app/router';
import { Guarded } from '../../components/Guarded';
import { notifyDone, notifyError } from '../../components/notify';
import { FilteredList, useFilterParam } from '../../components/LongList';
import { EmptyState, QueryState } from '../../components/QueryState';
import { SecretOnce } from '../../components/SecretOnce';
import { When } from '../../components/When';
import { zoned } from '../../components/moment';
import { api, call } from '../../lib/api/client';
import { splitApiError } from '../../lib/api/errors';
import { roleChoices } from '../auth/roles';
import { canManage, READ_ONLY_REASON, roleIn, useMe, type Role } from '../auth/session';
import { createdByLabel } from './created-by';

const tokenKeys = { list: (tenant: string) => ['tenants', tenant, 'tokens'] as const };
const tokensQuery = (tenant: string) =>
  queryOptions({ queryKey: tokenKeys.list(tenant), queryFn: () => call(api.GET('/api/v1/tenants/{tenant}/tokens', { params: { path: { tenant } } })) });

const OWNER_TOKEN_REASON = 'Only an owner of this tenant (or a platform admin) can create or revoke an owner token.';

const EXPIRY = [
  { value: 'never', label: 'Never' },
  { value: '7', label: 'In 7 days' },
  { value: '30', label: 'In 30 days' },
  { value: '90', label: 'In 90 days' },
  { value: '365', label: 'In a year' },
];

function CreateToken({ tenant, mine, onCreated }: { tenant: string; mine: Role | null; onCreated: (secret: string, name: string) => void }) {
  const qc = useQueryClient();
  const create = useMutation({
    mutationFn: (body: { name: string; role: 'owner' | 'admin' | 'member'; expiresAt?: string }) =>
      call(api.POST('/api/v1/tenants/{tenant}/tokens', { params: { path: { tenant } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: tokenKeys.list(tenant) }),
  });
  const form = useForm({
    initialValues: { name: '', role: 'member' as 'owner' | 'admin' | 'member', expiry: '90' },
    validate: { name: (v) => (v.trim() ? null : 'Name the token after what uses it, e.g. ci-pipeline') },
  });
  const submit = form.onSubmit((v) =>
    create.mutate(
      { name: v.name.trim(), role: v.role, ...(v.expiry !== 'never' ? { expiresAt: new Date(Date.now() + Number(v.expiry) * 86_400_000).toISOString() } : {}) },
      {
        onSuccess: (t) => {
          form.reset();
          onCreated(t.token, t.name);
        },
        onError: (err) => {
          const split = splitApiError(err, (p) => p === 'name' || p === 'role' || p === 'expiresAt');
          form.setErrors({ ...split.fields, ...(split.fields.expiresAt ? { expiry: split.fields.expiresAt } : {}) });
          if (split.rest.length) notifyError(err, 'Creating the token', split.rest);
        },
      },
    ),
  );
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <TextInput label="Name" required data-autofocus {...form.getInputProps('name')} />
        <Select
          label="Role"
          description={mine === 'owner' ? 'What the token may do in this tenant' : `What the token may do in this tenant. ${OWNER_TOKEN_REASON}`}
          data={roleChoices(mine)}
          allowDeselect={false}
          {...form.getInputProps('role')}
        />
        <Select label="Expires" data={EXPIRY} allowDeselect={false} {...form.getInputProps('expiry')} />
        <Group justify="flex-end">
          <Button type="submit" loading={create.isPending}>
            Create token
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

export function TokensPage() {
  const { tenant } = tokensRoute.useParams();
  return <Tokens tenant={tenant} mine={roleIn(useMe(), tenant)} filter={useFilterParam()} />;
}

/** The page without the router: `mine` is the caller's role in the tenant; `filter` the list's (in the URL on the page). */
export function Tokens({ tenant, mine, filter }: { tenant: string; mine: Role | null; filter?: readonly [string, (q: string) => void] }) {
  const ownFilter = useState('');
  const manage = canManage(mine);
  // The API's rule: nobody creates or revokes a token above their own role.
  const mayRevoke = (role: string) => role !== 'owner' || mine === 'owner';
  const list = useQuery({ ...tokensQuery(tenant), enabled: manage });
  const qc = useQueryClient();
  const revoke = useMutation({
    mutationFn: (id: string) => call(api.DELETE('/api/v1/tenants/{tenant}/tokens/{tokenId}', { params: { path: { tenant, tokenId: id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: tokenKeys.list(tenant) }),
  });
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ token: string; name: string } | null>(null);

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>API tokens</Title>
        <Guarded allowed={manage} reason={READ_ONLY_REASON}>
          <Button disabled={!manage} onClick={() => setCreating(true)}>
            Create token
          </Button>
        </Guarded>
      </Group>
      <Text size="sm" c="dimmed">
        Automation uses tokens with <Code>Authorization: Bearer &lt;token&gt;</Code>; everything this dashboard does is in the API (<a href="/docs">reference</a>).
      </Text>
      {!manage ? (
        <Alert color="gray" title="Read-only">
          Members cannot see or create tokens. An admin or owner of this tenant can.
        </Alert>
      ) : (
        <QueryState query={list} label="Loading tokens">
          {(data) =>
            data.items.length === 0 ? (
              <EmptyState title="No tokens yet">
                <Text size="sm" c="dimmed">
                  Create one for CI, Terraform or a script.
                </Text>
              </EmptyState>
            ) : (
              <FilteredList items={data.items} texts={(t) => [t.name, t.prefix, t.role]} noun={['token', 'tokens']} label="Filter tokens" placeholder="Filter by name, prefix or role" filter={filter ?? ownFilter}>
                {(rows) => (
                  <Table striped>
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Name</Table.Th>
                        <Table.Th>Prefix</Table.Th>
                        <Table.Th>Role</Table.Th>
                        <Table.Th>Last used</Table.Th>
                        <Table.Th>Expires</Table.Th>
                        <Table.Th>State</Table.Th>
                        <Table.Th>Created by</Table.Th>
                        <Table.Th>
                          <VisuallyHidden>Actions</VisuallyHidden>
                        </Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {rows.map((t) => (
                        <Table.Tr key={t.id}>
                          <Table.Td fw={600}>{t.name}</Table.Td>
                          <Table.Td>
                            <Code>{t.prefix}…</Code>
                          </Table.Td>
                          <Table.Td>{t.role}</Table.Td>
                          <Table.Td>
                            <When iso={t.lastUsedAt} />
                          </Table.Td>
                          <Table.Td>
                            <When iso={t.expiresAt} />
                          </Table.Td>
                          <Table.Td>
                            {t.revokedAt ? <Badge color="gray">revoked</Badge> : t.expiresAt && new Date(t.expiresAt) < new Date() ? <Badge color="red">expired</Badge> : <Badge color="green">active</Badge>}
                          </Table.Td>
                          <Table.Td>
                            <Text size="sm" title={`Created ${zoned(t.createdAt)}`}>
                              {createdByLabel(t.createdBy)}
                            </Text>
                          </Table.Td>
                          <Table.Td>
                            {!t.revokedAt && (
                              <Guarded allowed={mayRevoke(t.role)} reason={OWNER_TOKEN_REASON}>
                                <Button
                                  size="xs"
                                  color="red"
                                  variant="light"
                                  disabled={!mayRevoke(t.role)}
                                  aria-label={`Revoke ${t.name}`}
                                  onClick={() =>
                                    modals.openConfirmModal({
                                      title: `Revoke ${t.name}?`,
                                      children: <Text size="sm">Whatever uses this token is refused from its next request.</Text>,
                                      labels: { confirm: 'Revoke', cancel: 'Keep it' },
                                      confirmProps: { color: 'red' },
                                      onConfirm: () => revoke.mutate(t.id, { onSuccess: () => notifyDone(`Revoked ${t.name}`), onError: (e) => notifyError(e, 'Revoking the token') }),
                                    })
                                  }
                                >
                                  Revoke
                                </Button>
                              </Guarded>
                            )}
                          </Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                )}
              </FilteredList>
            )
          }
        </QueryState>
      )}
      <Modal opened={creating} onClose={() => setCreating(false)} title="Create an API token">
        <CreateToken
          tenant={tenant}
          mine={mine}
          onCreated={(token, name) => {
            setCreating(false);
            setSecret({ token, name });
          }}
        />
      </Modal>
      <SecretOnce title={`Token ${secret?.name ?? ''} created`} label="Token" secret={secret?.token ?? null} onDone={() => setSecret(null)} />
    </Stack>
  );
}
