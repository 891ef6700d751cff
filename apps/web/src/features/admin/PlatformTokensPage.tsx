/**
 * Platform admin: platform tokens for automation — create (secret shown once), list with each
 * one's prefix, state (the API keeps revoked and expired tokens in the list) and creator, revoke.
 */
import { Badge, Button, Code, Group, Modal, Paper, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useForm } from '@mantine/form';
import { modals } from '@mantine/modals';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { FilteredList, useFilterParam } from '../../components/LongList';
import { EmptyState, QueryState } from '../../components/QueryState';
import { SecretOnce } from '../../components/SecretOnce';
import { STATUS } from '../../components/status-colors';
import { When } from '../../components/When';
import { notifyDone, notifyError } from '../../components/notify';
import { api, call } from '../../lib/api/client';
import { splitApiError } from '../../lib/api/errors';
import type { paths } from '../../lib/api/schema';
import { createdByLabel } from '../tokens/created-by';

type PlatformToken = paths['/api/v1/platform/tokens']['get']['responses'][200]['content']['application/json']['items'][number];

/** What a token can still do: a revoked or expired one is refused, and cannot be revoked again. */
export function tokenState(t: Pick<PlatformToken, 'revokedAt' | 'expiresAt'>, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && new Date(t.expiresAt).getTime() <= now) return 'expired';
  return 'active';
}
const STATE_COLOR = { active: STATUS.good, revoked: STATUS.neutral, expired: STATUS.bad } as const;

export function PlatformTokensPage() {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['platform-tokens'], queryFn: () => call(api.GET('/api/v1/platform/tokens')) });
  const filter = useFilterParam();
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ token: string; name: string } | null>(null);
  const form = useForm({ initialValues: { name: '' }, validate: { name: (v) => (v.trim() ? null : 'Name the token after what uses it') } });
  const create = useMutation({
    mutationFn: (name: string) => call(api.POST('/api/v1/platform/tokens', { body: { name } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['platform-tokens'] }),
  });
  const revoke = useMutation({
    mutationFn: (id: string) => call(api.DELETE('/api/v1/platform/tokens/{tokenId}', { params: { path: { tokenId: id } } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['platform-tokens'] }),
  });
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Platform tokens</Title>
        <Button onClick={() => setCreating(true)}>Create token</Button>
      </Group>
      <Text size="sm" c="dimmed">
        A platform token acts as a platform admin: give it to provisioning automation, never to tenants.
      </Text>
      <QueryState query={q} label="Loading tokens">
        {(d) =>
          d.items.length === 0 ? (
            <Paper withBorder>
              <EmptyState title="No platform tokens yet">
                <Text size="sm" c="dimmed">
                  Create one for provisioning automation (Terraform, a tenant onboarding script).
                </Text>
              </EmptyState>
            </Paper>
          ) : (
            <FilteredList items={d.items} texts={(t) => [t.name, t.prefix, tokenState(t), createdByLabel(t.createdBy)]} noun={['token', 'tokens']} label="Filter tokens" placeholder="Filter by name, prefix, state or creator" filter={filter}>
              {(rows) => (
                <Paper withBorder>
                  <Table aria-label="Platform tokens">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Name</Table.Th>
                        <Table.Th>Prefix</Table.Th>
                        <Table.Th>State</Table.Th>
                        <Table.Th>Created</Table.Th>
                        <Table.Th>Last used</Table.Th>
                        <Table.Th>Created by</Table.Th>
                        <Table.Th>
                          <VisuallyHidden>Actions</VisuallyHidden>
                        </Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {rows.map((t) => {
                        const state = tokenState(t);
                        return (
                          <Table.Tr key={t.id} data-token={t.prefix}>
                            <Table.Td>{t.name}</Table.Td>
                            <Table.Td>
                              <Code>{t.prefix}…</Code>
                            </Table.Td>
                            <Table.Td>
                              <Badge color={STATE_COLOR[state]}>{state}</Badge>
                            </Table.Td>
                            <Table.Td>
                              <When iso={t.createdAt} />
                            </Table.Td>
                            <Table.Td>
                              <When iso={t.lastUsedAt} />
                            </Table.Td>
                            <Table.Td>{createdByLabel(t.createdBy)}</Table.Td>
                            <Table.Td ta="right">
                              {state !== 'revoked' && (
                                <Button
                                  size="xs"
                                  color="red"
                                  variant="light"
                                  aria-label={`Revoke ${t.name} (${t.prefix}…)`}
                                  loading={revoke.isPending && revoke.variables === t.id}
                                  onClick={() =>
                                    modals.openConfirmModal({
                                      title: `Revoke ${t.name}?`,
                                      children: (
                                        <Text size="sm">
                                          The token <Code>{t.prefix}…</Code> stops working at once: whatever uses it is refused from its next request. This cannot be undone.
                                        </Text>
                                      ),
                                      labels: { confirm: 'Revoke', cancel: 'Keep it' },
                                      confirmProps: { color: 'red' },
                                      onConfirm: () => revoke.mutate(t.id, { onSuccess: () => notifyDone(`${t.name} revoked.`), onError: (e) => notifyError(e, 'Revoking the token') }),
                                    })
                                  }
                                >
                                  Revoke
                                </Button>
                              )}
                            </Table.Td>
                          </Table.Tr>
                        );
                      })}
                    </Table.Tbody>
                  </Table>
                </Paper>
              )}
            </FilteredList>
          )
        }
      </QueryState>
      <Modal
        opened={creating}
        onClose={() => {
          setCreating(false);
          form.reset();
        }}
        title="Create platform token"
      >
        <form
          noValidate
          onSubmit={form.onSubmit((v) =>
            create.mutate(v.name.trim(), {
              onSuccess: (r) => {
                // The form's dialog closes and the secret's opens: one that only "I have stored it" ends.
                setCreating(false);
                form.reset();
                setSecret({ token: r.token, name: r.name });
              },
              onError: (err) => {
                // A refused name (too long, blank) under the field, as in the other forms.
                const split = splitApiError(err, (p) => p === 'name');
                form.setErrors(split.fields);
                if (split.rest.length) notifyError(err, 'Creating the token', split.rest);
              },
            }),
          )}
        >
          <Stack>
            <TextInput label="Name" placeholder="terraform" required data-autofocus {...form.getInputProps('name')} />
            <Group justify="end">
              <Button type="submit" loading={create.isPending}>
                Create
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
      <SecretOnce title={`Platform token ${secret?.name ?? ''} created`} label="Token" secret={secret?.token ?? null} onDone={() => setSecret(null)} />
    </Stack>
  );
}
