/** The signed-in frame: header with the tenant switcher and account menu, navigation, page. */
import { AppShell, Burger, Group, Menu, NavLink, Select, Text, UnstyledButton } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useQuery } from '@tanstack/react-query';
import { Link, Outlet, useNavigate, useParams, useRouterState } from '@tanstack/react-router';
import { notifyError } from '../components/notify';
import { useLogout, useMe } from '../features/auth/session';
import { api, call } from '../lib/api/client';

const SECTIONS = [
  { to: '/t/$tenant/databases', label: 'Databases', segment: 'databases' },
  { to: '/t/$tenant/certificates', label: 'Certificates', segment: 'certificates' },
  { to: '/t/$tenant/tokens', label: 'API tokens', segment: 'tokens' },
  { to: '/t/$tenant/members', label: 'Members', segment: 'members' },
  { to: '/t/$tenant/connections', label: 'Connections', segment: 'connections' },
  { to: '/t/$tenant/check', label: 'Check connection', segment: 'check' },
  { to: '/t/$tenant/audit', label: 'Audit trail', segment: 'audit' },
] as const;

/** Platform administration, for platform admins. */
const ADMIN_SECTIONS = [
  { to: '/admin/connections', label: 'All connections' },
  { to: '/admin/proxies', label: 'Proxies' },
  { to: '/admin/audit', label: 'Audit trail' },
  { to: '/admin/tenants', label: 'Tenants' },
  { to: '/admin/users', label: 'Users' },
  { to: '/admin/tokens', label: 'Platform tokens' },
] as const;

/** Tenants to switch between: the caller's; a platform admin also sees every other tenant. */
function useTenantChoices() {
  const me = useMe();
  const all = useQuery({
    queryKey: ['tenants'],
    queryFn: () => call(api.GET('/api/v1/tenants')),
    enabled: me.isPlatformAdmin,
  });
  const mine = me.tenants.map((t) => ({ value: t.slug, label: `${t.name} (${t.role})` }));
  const others = (all.data?.items ?? []).filter((t) => !me.tenants.some((m) => m.slug === t.slug)).map((t) => ({ value: t.slug, label: `${t.name} (platform admin)` }));
  return [...mine, ...others];
}

export function AppLayout() {
  const me = useMe();
  const [opened, { toggle }] = useDisclosure();
  const params = useParams({ strict: false });
  const tenant = params.tenant;
  const pathname = useRouterState({ select: (s) => s.location.pathname });
  const navigate = useNavigate();
  const logout = useLogout();
  const choices = useTenantChoices();
  const inAdmin = pathname.startsWith('/admin');
  const section = (!inAdmin && SECTIONS.find((s) => pathname.includes(`/${s.segment}`))) || SECTIONS[0];

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <Text component={Link} to="/" fw={700} size="lg">
              Switchyard
            </Text>
            {choices.length > 0 && (
              <Select
                aria-label="Tenant"
                placeholder="Choose a tenant"
                data={choices}
                value={tenant ?? null}
                allowDeselect={false}
                searchable={choices.length > 8}
                w={240}
                onChange={(slug) => {
                  if (slug) void navigate({ to: section.to, params: { tenant: slug } });
                }}
              />
            )}
          </Group>
          <Menu position="bottom-end" withinPortal>
            <Menu.Target>
              <UnstyledButton aria-label={`${me.user?.name || me.user?.email || 'You'}: account menu`}>
                <Text size="sm">{me.user?.name || me.user?.email}</Text>
              </UnstyledButton>
            </Menu.Target>
            <Menu.Dropdown>
              <Menu.Label>{me.user?.email}</Menu.Label>
              <Menu.Item component={Link} to="/account">
                Change password
              </Menu.Item>
              <Menu.Item
                onClick={() =>
                  logout.mutate(undefined, {
                    onSuccess: () => void navigate({ to: '/login', search: {} }),
                    onError: (e) => notifyError(e, 'Sign out'),
                  })
                }
              >
                Sign out
              </Menu.Item>
            </Menu.Dropdown>
          </Menu>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Sections">
        {tenant ? (
          SECTIONS.map((s) => (
            <NavLink
              key={s.to}
              label={s.label}
              active={!inAdmin && pathname.includes(`/${s.segment}`)}
              renderRoot={(props) => <Link {...props} to={s.to} params={{ tenant }} />}
            />
          ))
        ) : (
          <Text size="sm" c="dimmed" p="xs">
            Choose a tenant to see its databases.
          </Text>
        )}
        <NavLink component={Link} to="/account" label="Account" active={pathname === '/account'} />
        {me.isPlatformAdmin && (
          <>
            <Text size="xs" fw={700} c="dimmed" tt="uppercase" px="xs" mt="md" mb={4}>
              Platform
            </Text>
            {ADMIN_SECTIONS.map((s) => (
              <NavLink key={s.to} label={s.label} active={pathname === s.to} renderRoot={(props) => <Link {...props} to={s.to} />} />
            ))}
          </>
        )}
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
