/**
 * The header's menus: the tenant switcher and the account menu. Their own chunk (Select,
 * Combobox, Menu and Floating UI are most of the shell's code), loaded after the first page is
 * on screen or as soon as someone reaches for them (AppLayout.tsx).
 */
import { Menu, Select, Text, UnstyledButton, type ComboboxItem, type OptionsFilter } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { useRef, useState } from 'react';
import { notifyError } from '../components/notify';
import { useLogout, useMe } from '../features/auth/session';
import { api, call } from '../lib/api/client';
import type { SectionRoute } from './sections';

/** Other tenants a platform admin is offered at once: the API pages its tenant list, and searches it. */
const OTHERS = 50;

/**
 * Tenants to switch between: the caller's; a platform admin also sees the others — the first
 * OTHERS of them, and as they type, those whose slug or name holds the text (searched by the
 * API, GET /api/v1/tenants?q=, not among a few loaded here: there may be thousands).
 */
function useTenantChoices(tenant: string | undefined, search: string): ComboboxItem[] {
  const me = useMe();
  // Labels shown last time: the field holds the chosen tenant's label when nobody is typing in
  // it, and that is no search.
  const shown = useRef(new Set<string>());
  const seen = useRef(new Map<string, string>());
  const [typed] = useDebouncedValue(search.trim(), 300);
  const q = shown.current.has(typed) ? '' : typed;
  const all = useQuery({
    queryKey: ['tenants', 'choices', q],
    queryFn: () => call(api.GET('/api/v1/tenants', { params: { query: { limit: OTHERS, ...(q ? { q } : {}) } } })),
    enabled: me.isPlatformAdmin,
    placeholderData: keepPreviousData,
  });
  const mine = me.tenants.map((t) => ({ value: t.slug, label: `${t.name} (${t.role})` }));
  const others = (all.data?.items ?? []).filter((t) => !me.tenants.some((m) => m.slug === t.slug)).map((t) => ({ value: t.slug, label: `${t.name} (platform admin)` }));
  const choices = [...mine, ...others];
  for (const c of others) seen.current.set(c.value, c.label);
  // The tenant open now stays shown and chosen when it is not among the others loaded (a search
  // for another), under the label it had: a new label would replace the search being typed.
  if (me.isPlatformAdmin && tenant && !choices.some((c) => c.value === tenant)) choices.push({ value: tenant, label: seen.current.get(tenant) ?? `${tenant} (platform admin)` });
  shown.current = new Set(choices.map((c) => c.label));
  return choices;
}

/** By name (the label) or slug (the value), ignoring case: what the API's search matches too. */
const bySlugOrName: OptionsFilter = ({ options, search }) => {
  const s = search.trim().toLowerCase();
  return options.filter((o) => !('value' in o) || o.label.toLowerCase().includes(s) || o.value.includes(s));
};

/** Picks a tenant and opens the same section there (`sectionTo` is a /t/$tenant/... route). */
export function TenantSwitcher({ tenant, sectionTo, autoFocus }: { tenant: string | undefined; sectionTo: SectionRoute; autoFocus?: boolean }) {
  const navigate = useNavigate();
  const me = useMe();
  const [search, setSearch] = useState('');
  const choices = useTenantChoices(tenant, search);
  if (choices.length === 0) return null;
  return (
    <Select
      aria-label="Tenant"
      placeholder="Choose a tenant"
      data={choices}
      value={tenant ?? null}
      allowDeselect={false}
      searchable={me.isPlatformAdmin || choices.length > 8}
      onSearchChange={setSearch}
      filter={bySlugOrName}
      nothingFoundMessage="No tenant matches"
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
