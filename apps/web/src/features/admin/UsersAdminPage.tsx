/** Platform admin: users — create, disable/enable, reset the password. */
import { Badge, Button, Checkbox, Group, Modal, Paper, PasswordInput, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { STATUS } from '../../components/status-colors';
import { useForm } from '@mantine/form';
import { modals } from '@mantine/modals';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { FilteredList, useFilterParam } from '../../components/LongList';
import { QueryState } from '../../components/QueryState';
import { SecretOnce } from '../../components/SecretOnce';
import { When } from '../../components/When';
import { notifyDone, notifyError } from '../../components/notify';
import { api, call } from '../../lib/api/client';
import { splitApiError } from '../../lib/api/errors';
import type { paths } from '../../lib/api/schema';

type User = paths['/api/v1/users']['get']['responses'][200]['content']['application/json']['items'][number];
type UserPatch = NonNullable<paths['/api/v1/users/{userId}']['patch']['requestBody']>['content']['application/json'];

export function UsersAdminPage() {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['users'], queryFn: () => call(api.GET('/api/v1/users')) });
  const filter = useFilterParam();
  const [creating, setCreating] = useState(false);
  const [resetting, setResetting] = useState<User | null>(null);
  const [initial, setInitial] = useState<{ email: string; password: string } | null>(null);
  const patch = useMutation({
    mutationFn: ({ id, body }: { id: string; body: UserPatch }) => call(api.PATCH('/api/v1/users/{userId}', { params: { path: { userId: id } }, body })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['users'] }),
  });
  const toggle = (u: User) =>
    modals.openConfirmModal({
      title: u.disabled ? `Enable ${u.email}?` : `Disable ${u.email}?`,
      children: <Text size="sm">{u.disabled ? 'They can sign in again.' : 'They cannot sign in, and their open sessions end at once.'}</Text>,
      labels: { confirm: u.disabled ? 'Enable' : 'Disable', cancel: 'Cancel' },
      confirmProps: { color: u.disabled ? 'blue' : 'red' },
      onConfirm: () => patch.mutate({ id: u.id, body: { disabled: !u.disabled } }, { onSuccess: () => notifyDone(`${u.email} ${u.disabled ? 'enabled' : 'disabled'}.`), onError: (e) => notifyError(e, 'Changing the user') }),
    });
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Users</Title>
        <Button onClick={() => setCreating(true)}>Create user</Button>
      </Group>
      <QueryState query={q} label="Loading users">
        {(d) => (
          <FilteredList
            items={d.items}
            texts={(u) => [u.name, u.email, ...u.memberships.map((m) => m.tenant)]}
            noun={['user', 'users']}
            label="Filter users"
            placeholder="Filter by name, email or tenant"
            filter={filter}
          >
            {(rows) => (
              <Paper withBorder>
                <Table aria-label="Users">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>User</Table.Th>
                      <Table.Th>Tenants</Table.Th>
                      <Table.Th>State</Table.Th>
                      <Table.Th>Last sign-in</Table.Th>
                      <Table.Th>
                        <VisuallyHidden>Actions</VisuallyHidden>
                      </Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {rows.map((u) => (
                      <Table.Tr key={u.id}>
                        <Table.Td>
                          <Text fw={500}>{u.name}</Text>
                          <Text size="xs" c="dimmed">
                            {u.email}
                          </Text>
                        </Table.Td>
                        <Table.Td>
                          <Text size="xs">{u.memberships.map((m) => `${m.tenant} (${m.role})`).join(', ') || '—'}</Text>
                        </Table.Td>
                        <Table.Td>
                          {u.disabled ? <Badge color={STATUS.neutral}>disabled</Badge> : <Badge color={STATUS.good}>active</Badge>} {u.isPlatformAdmin && <Badge color={STATUS.other}>platform admin</Badge>}
                        </Table.Td>
                        <Table.Td>
                          <When iso={u.lastLoginAt} />
                        </Table.Td>
                        <Table.Td ta="right">
                          <Group gap="xs" justify="end">
                            <Button size="xs" variant="light" onClick={() => setResetting(u)}>
                              Reset password
                            </Button>
                            <Button size="xs" variant="light" color={u.disabled ? 'blue' : 'red'} onClick={() => toggle(u)}>
                              {u.disabled ? 'Enable' : 'Disable'}
                            </Button>
                          </Group>
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Paper>
            )}
          </FilteredList>
        )}
      </QueryState>
      <Modal opened={creating} onClose={() => setCreating(false)} title="Create user">
        {creating && (
          <CreateUser
            onDone={(created) => {
              setCreating(false);
              if (created) setInitial(created);
            }}
          />
        )}
      </Modal>
      <SecretOnce title={`Initial password of ${initial?.email ?? ''}`} label="Password" secret={initial?.password ?? null} onDone={() => setInitial(null)} />
      <Modal opened={resetting !== null} onClose={() => setResetting(null)} title={`Reset the password of ${resetting?.email ?? ''}`}>
        {resetting && (
          <ResetPassword
            onSubmit={(password) =>
              patch.mutateAsync({ id: resetting.id, body: { password } }).then(() => {
                notifyDone(`Password of ${resetting.email} reset; their sessions ended.`);
                setResetting(null);
              })
            }
            pending={patch.isPending}
          />
        )}
      </Modal>
    </Stack>
  );
}

/** `onDone` gets the generated password when the API made one (shown once, by the page). */
function CreateUser({ onDone }: { onDone: (generated?: { email: string; password: string }) => void }) {
  const qc = useQueryClient();
  const form = useForm({ initialValues: { email: '', name: '', password: '', isPlatformAdmin: false } });
  const create = useMutation({
    mutationFn: (v: typeof form.values) => call(api.POST('/api/v1/users', { body: { email: v.email, name: v.name, isPlatformAdmin: v.isPlatformAdmin, ...(v.password ? { password: v.password } : {}) } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['users'] }),
  });
  return (
    <form
      noValidate
      onSubmit={form.onSubmit((v) =>
        create.mutate(v, {
          onSuccess: (r) => {
            notifyDone(`User ${r.email} created.`);
            onDone('initialPassword' in r && r.initialPassword ? { email: r.email, password: String(r.initialPassword) } : undefined);
          },
          onError: (err) => {
            const split = splitApiError(err, (p) => ['email', 'name', 'password'].includes(p), { SY_USER_EXISTS: 'email' });
            form.setErrors(split.fields);
            if (split.rest.length) notifyError(err, 'Creating the user', split.rest);
          },
        }),
      )}
    >
      <Stack>
        <TextInput label="Email address" type="email" required {...form.getInputProps('email')} />
        <TextInput label="Name" required {...form.getInputProps('name')} />
        <PasswordInput label="Password" description="Leave empty to generate one" autoComplete="new-password" aria-invalid={form.errors.password ? true : undefined} {...form.getInputProps('password')} />
        <Checkbox label="Platform admin" {...form.getInputProps('isPlatformAdmin', { type: 'checkbox' })} />
        <Group justify="end">
          <Button type="submit" loading={create.isPending}>
            Create
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** The API's refusal of the password (its `details` name `body.password`) goes under the field; anything else to a toast. */
function ResetPassword({ onSubmit, pending }: { onSubmit: (password: string) => Promise<unknown>; pending: boolean }) {
  const form = useForm({ initialValues: { password: '' }, validate: { password: (v) => (v.length >= 12 ? null : 'At least 12 characters') } });
  const submit = form.onSubmit(async (v) => {
    try {
      await onSubmit(v.password);
    } catch (err) {
      const split = splitApiError(err, (p) => p === 'password');
      form.setErrors(split.fields);
      if (split.rest.length) notifyError(err, 'Resetting the password', split.rest);
    }
  });
  return (
    <form noValidate onSubmit={submit}>
      <Stack>
        {/* Mantine marks a PasswordInput's error with data-invalid only: say it to assistive technology too. */}
        <PasswordInput label="New password" autoComplete="new-password" required aria-invalid={form.errors.password ? true : undefined} {...form.getInputProps('password')} />
        <Group justify="end">
          <Button type="submit" loading={pending}>
            Reset password
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
