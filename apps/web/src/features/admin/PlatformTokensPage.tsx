/** Platform admin: platform tokens for automation — create (secret shown once), list, revoke. */
import { Button, CopyButton, Group, Modal, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { modals } from '@mantine/modals';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { QueryState } from '../../components/QueryState';
import { notifyDone, notifyError } from '../../components/notify';
import { api, call } from '../../lib/api/client';
import { splitApiError } from '../../lib/api/errors';

export function PlatformTokensPage() {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['platform-tokens'], queryFn: () => call(api.GET('/api/v1/platform/tokens')) });
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
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
        {(d) => (
          <Paper withBorder>
            <Table aria-label="Platform tokens">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Created</Table.Th>
                  <Table.Th>Last used</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {d.items.map((t) => (
                  <Table.Tr key={t.id}>
                    <Table.Td>{t.name}</Table.Td>
                    <Table.Td>{new Date(t.createdAt).toLocaleString()}</Table.Td>
                    <Table.Td>{t.lastUsedAt ? new Date(t.lastUsedAt).toLocaleString() : 'never'}</Table.Td>
                    <Table.Td ta="right">
                      <Button
                        size="xs"
                        color="red"
                        variant="light"
                        onClick={() =>
                          modals.openConfirmModal({
                            title: `Revoke ${t.name}?`,
                            children: <Text size="sm">It stops working at once.</Text>,
                            labels: { confirm: 'Revoke', cancel: 'Cancel' },
                            confirmProps: { color: 'red' },
                            onConfirm: () => revoke.mutate(t.id, { onSuccess: () => notifyDone(`${t.name} revoked.`), onError: (e) => notifyError(e, 'Revoking the token') }),
                          })
                        }
                      >
                        Revoke
                      </Button>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Paper>
        )}
      </QueryState>
      <Modal
        opened={creating}
        onClose={() => {
          setCreating(false);
          setSecret(null);
          form.reset();
        }}
        title="Create platform token"
      >
        {secret ? (
          <Stack>
            <Text size="sm">Copy the token now: it is shown once.</Text>
            <TextInput readOnly value={secret} label="Token" />
            <CopyButton value={secret}>{({ copied, copy }) => <Button onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton>
          </Stack>
        ) : (
          <form
            noValidate
            onSubmit={form.onSubmit((v) =>
              create.mutate(v.name.trim(), {
                onSuccess: (r) => setSecret(r.token),
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
              <TextInput label="Name" placeholder="terraform" required {...form.getInputProps('name')} />
              <Group justify="end">
                <Button type="submit" loading={create.isPending}>
                  Create
                </Button>
              </Group>
            </Stack>
          </form>
        )}
      </Modal>
    </Stack>
  );
}
