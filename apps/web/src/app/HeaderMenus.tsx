/**
 * The header's menus: the tenant switcher and the account menu. Their own chunk (Select,
 * Combobox, Menu and Floating UI are most of the shell's code), loaded after the first page is
 * on screen or as soon as someone reaches for them (AppLayout.tsx).
 */
import { Menu, Select, Text, UnstyledButton } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { notifyError } from '../components/notify';
import { useLogout, useMe } from '../features/auth/session';
import { api, call } from '../lib/api/client';
import type { SectionRoute } from './sections';

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

/** Picks a tenant and opens the same section there (`sectionTo` is a /t/$tenant/... route). */
export function TenantSwitcher({ tenant, sectionTo, autoFocus }: { tenant: string | undefined; sectionTo: SectionRoute; autoFocus?: boolean }) {
  const navigate = useNavigate();
  const choices = useTenantChoices();
  if (choices.length === 0) return null;
  return (
    <Select
      aria-label="Tenant"
      placeholder="Choose a tenant"
      data={choices}
      value={tenant ?? null}
      allowDeselect={false}
      searchable={choices.length > 8}
      w="100%"
      autoFocus={autoFocus}
      comboboxProps={{ withinPortal: true }}
      onChange={(slug) => {
        if (slug) void navigate({ to: sectionTo, params: { tenant: slug } });
      }}
    />
  );
}

export function AccountMenu({ label, autoFocus }: { label: string; autoFocus?: boolean }) {
  const me = useMe();
  const navigate = useNavigate();
  const logout = useLogout();
  return (
    <Menu position="bottom-end" withinPortal defaultOpened={autoFocus}>
      <Menu.Target>
        <UnstyledButton aria-label={`${label}: account menu`} maw="100%" data-autofocus={autoFocus || undefined}>
          <Text size="sm" truncate>
            {label}
          </Text>
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
  );
}
