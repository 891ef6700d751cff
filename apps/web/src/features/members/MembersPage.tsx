/** People in the tenant: add by email, change role, remove (admins and owners); anyone may leave. */
import { Alert, Badge, Button, Group, Loader, Modal, Select, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useForm } from '@mantine/form';
import { modals } from '@mantine/modals';
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { useState } from 'react';
import { membersRoute } from '../../app/router';
import { Guarded } from '../../components/Guarded';
import { notifyDone, notifyError } from '../../components/notify';
import { FilteredList, useFilterParam } from '../../components/LongList';
import { EmptyState, QueryState } from '../../components/QueryState';
import { api, ApiError, call } from '../../lib/api/client';
import { splitApiError } from '../../lib/api/errors';
import { roleChoices } from '../auth/roles';
import { canManage, meQuery, roleIn, sessionKeys, useMe, type Role } from '../auth/session';

const memberKeys = { list: (tenant: string) => ['tenants', tenant, 'members'] as const };
const membersQuery = (tenant: string) =>
  queryOptions({ queryKey: memberKeys.list(tenant), queryFn: () => call(api.GET('/api/v1/tenants/{tenant}/members', { params: { path: { tenant } } })) });

const OWNERS_ONLY = 'Your role in this tenant is member: read-only. Admins and owners manage members.';
/** The API's rule: nobody grants, changes or removes a role above their own. */
const OWNER_ROLE_REASON = 'Only an owner of this tenant (or a platform admin) can grant, change or remove the owner role.';

function useMemberMutations(tenant: string) {
  const qc = useQueryClient();
  // A change to one's own role changes what the dashboard allows: refresh the session too.
  const refresh = () => Promise.all([qc.invalidateQueries({ queryKey: memberKeys.list(tenant) }), qc.invalidateQueries({ queryKey: sessionKeys.me })]);
  return {
    add: useMutation({
      mutationFn: (body: { email: string; role: Role }) => call(api.POST('/api/v1/tenants/{tenant}/members', { params: { path: { tenant } }, body })),
      onSuccess: refresh,
    }),
    setRole: useMutation({
      mutationFn: ({ userId, role }: { userId: string; role: Role }) =>
        call(api.PATCH('/api/v1/tenants/{tenant}/members/{userId}', { params: { path: { tenant, userId } }, body: { role } })),
      onSuccess: refresh,
    }),
    remove: useMutation({
      mutationFn: (userId: string) => call(api.DELETE('/api/v1/tenants/{tenant}/members/{userId}', { params: { path: { tenant, userId } } })),
      onSuccess: refresh,
    }),
  };
}

/**
 * Leaving: the caller's own membership goes (DELETE …/members/{own id}, which the API allows
 * every member). Afterwards the session is asked again, so the tenant leaves the switcher, and
 * the dashboard goes to the caller's first remaining tenant. A tenant's last owner cannot leave
 * (409 SY_LAST_OWNER): the API's answer is shown, with what to do instead.
 */
function useLeave(tenant: string, tenantName: string, userId: string) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  return useMutation({
    mutationFn: () => call(api.DELETE('/api/v1/tenants/{tenant}/members/{userId}', { params: { path: { tenant, userId } } })),
    // Here, not in mutate()'s options: the page unmounts when the dashboard moves on.
    onSuccess: async () => {
      notifyDone(`You left ${tenantName}.`);
      await qc.fetchQuery({ ...meQuery, staleTime: 0 });
      await navigate({ to: '/' });
    },
  });
}

function LeaveButton({ tenant, tenantName, userId, onlyOwner, platformAdmin }: { tenant: string; tenantName: string; userId: string; onlyOwner: boolean; platformAdmin: boolean }) {
  const leave = useLeave(tenant, tenantName, userId);
  return (
    <Button
      size="xs"
      color="red"
      variant="light"
      loading={leave.isPending}
      onClick={() =>
        modals.openConfirmModal({
          title: `Leave ${tenantName}?`,
          children: (
            <Stack gap="xs">
              <Text size="sm">
                {platformAdmin
                  ? 'Your membership ends at once; as a platform admin you can still open this tenant.'
                  : 'You lose access to this tenant at once: its databases, connections and settings. To come back, an owner or admin has to add you again.'}
              </Text>
              {onlyOwner && (
                <Alert color="yellow" p="xs">
                  You are its only owner, and a tenant keeps at least one: make another member an owner first.
                </Alert>
              )}
            </Stack>
          ),
          labels: { confirm: 'Leave tenant', cancel: 'Stay' },
          confirmProps: { color: 'red' },
          onConfirm: () =>
            leave.mutate(undefined, {
              onError: (e) =>
                notifyError(e, 'Leaving the tenant', e instanceof ApiError && e.code === 'SY_LAST_OWNER' ? [e.message, 'Make another member an owner first, then leave.'] : undefined),
            }),
        })
      }
    >
      Leave
    </Button>
  );
}

function AddMember({ tenant, mine, onDone }: { tenant: string; mine: Role | null; onDone: () => void }) {
  const { add } = useMemberMutations(tenant);
  const form = useForm({
    initialValues: { email: '', role: 'member' as Role },
    validate: { email: (v) => (/^\S+@\S+\.\S+$/.test(v) ? null : 'Enter the person’s email address') },
  });
  const submit = form.onSubmit((v) =>
    add.mutate(v, {
      onSuccess: (m) => {
        notifyDone(`Added ${m.email} as ${m.role}`);
        onDone();
      },
      onError: (err) => {
        const split = splitApiError(err, (p) => p === 'email' || p === 'role', { SY_USER_NOT_FOUND: 'email', SY_MEMBER_EXISTS: 'email' });
        form.setErrors(split.fields);
        if (split.rest.length) notifyError(err, 'Adding the member', split.rest);
      },
    }),
  );
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <TextInput label="Email" type="email" description="Someone with an account on this Switchyard" required data-autofocus {...form.getInputProps('email')} />
        <Select label="Role" data={roleChoices(mine)} description={mine === 'owner' ? undefined : OWNER_ROLE_REASON} allowDeselect={false} {...form.getInputProps('role')} />
        <Group justify="flex-end">
          <Button type="submit" loading={add.isPending}>
            Add member
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

export function MembersPage() {
  const { tenant } = membersRoute.useParams();
  const me = useMe();
  const mine = roleIn(me, tenant);
  const isOwner = canManage(mine);
  // An admin manages members and admins; an owner's row is for owners.
  const mayChange = (m: { role: string }) => isOwner && (mine === 'owner' || m.role !== 'owner');
  const lockedReason = isOwner ? OWNER_ROLE_REASON : OWNERS_ONLY;
  const list = useQuery(membersQuery(tenant));
  const filter = useFilterParam();
  const { setRole, remove } = useMemberMutations(tenant);
  const [adding, setAdding] = useState(false);
  const tenantName = me.tenants.find((t) => t.slug === tenant)?.name ?? tenant;

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Members</Title>
        <Guarded allowed={isOwner} reason={OWNERS_ONLY}>
          <Button disabled={!isOwner} onClick={() => setAdding(true)}>
            Add member
          </Button>
        </Guarded>
      </Group>
      {!isOwner && <Alert color="gray">{OWNERS_ONLY}</Alert>}
      <QueryState query={list} label="Loading members">
        {(data) =>
          data.items.length === 0 ? (
            <EmptyState title="No members" />
          ) : (
            <FilteredList items={data.items} texts={(m) => [m.name, m.email, m.role]} noun={['member', 'members']} label="Filter members" placeholder="Filter by name, email or role" filter={filter}>
              {(rows) => (
                <Table.ScrollContainer minWidth={760}>
                  <Table striped>
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Name</Table.Th>
                        <Table.Th>Email</Table.Th>
                        <Table.Th>Role</Table.Th>
                        <Table.Th>
                          <VisuallyHidden>Actions</VisuallyHidden>
                        </Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {rows.map((m) => (
                        <Table.Tr key={m.userId}>
                          <Table.Td>
                            {m.name} {m.userId === me.user?.id && <Badge variant="light">you</Badge>} {m.disabled && <Badge color="gray">disabled</Badge>}
                          </Table.Td>
                          <Table.Td>{m.email}</Table.Td>
                          <Table.Td>
                            <Guarded allowed={mayChange(m)} reason={lockedReason}>
                              {/* While a change is on its way the select ignores further choices
                                  but stays enabled: disabling it would drop keyboard focus to the
                                  page's start. The row being changed shows the pending state. */}
                              <Select
                                aria-label={`Role of ${m.email}`}
                                data={roleChoices(mine)}
                                value={setRole.isPending && setRole.variables.userId === m.userId ? setRole.variables.role : m.role}
                                allowDeselect={false}
                                disabled={!mayChange(m)}
                                aria-busy={setRole.isPending && setRole.variables.userId === m.userId}
                                rightSection={setRole.isPending && setRole.variables.userId === m.userId ? <Loader size="xs" aria-label="Saving the role" /> : undefined}
                                w={300}
                                onChange={(role) =>
                                  role &&
                                  role !== m.role &&
                                  !setRole.isPending &&
                                  setRole.mutate({ userId: m.userId, role: role as Role }, { onSuccess: () => notifyDone(`${m.email} is now ${role}`), onError: (e) => notifyError(e, 'Changing the role') })
                                }
                              />
                            </Guarded>
                          </Table.Td>
                          <Table.Td>
                            {m.userId === me.user?.id ? (
                              <LeaveButton tenant={tenant} tenantName={tenantName} userId={m.userId} platformAdmin={me.isPlatformAdmin} onlyOwner={m.role === 'owner' && data.items.filter((o) => o.role === 'owner' && !o.disabled).length === 1} />
                            ) : (
                              <Guarded allowed={mayChange(m)} reason={lockedReason}>
                                <Button
                                  size="xs"
                                  color="red"
                                  variant="light"
                                  disabled={!mayChange(m)}
                                  aria-label={`Remove ${m.email}`}
                                  onClick={() =>
                                    modals.openConfirmModal({
                                      title: `Remove ${m.email}?`,
                                      children: <Text size="sm">They lose access to this tenant at once; their account stays.</Text>,
                                      labels: { confirm: 'Remove', cancel: 'Keep' },
                                      confirmProps: { color: 'red' },
                                      onConfirm: () => remove.mutate(m.userId, { onSuccess: () => notifyDone(`Removed ${m.email}`), onError: (e) => notifyError(e, 'Removing the member') }),
                                    })
                                  }
                                >
                                  Remove
                                </Button>
                              </Guarded>
                            )}
                          </Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </Table.ScrollContainer>
              )}
            </FilteredList>
          )
        }
      </QueryState>
      <Modal opened={adding} onClose={() => setAdding(false)} title="Add a member">
        <AddMember tenant={tenant} mine={mine} onDone={() => setAdding(false)} />
      </Modal>
    </Stack>
  );
}
