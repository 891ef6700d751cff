/**
 * The signed-in frame: header (brand, tenant switcher, account menu), navigation, page.
 *
 * The header's menus (HeaderMenus.tsx: Select, Menu and Floating UI) are a chunk of their own:
 * the first page paints with their plain-text stand-ins, and the menus load when the browser is
 * idle after that, or at once when someone points at, focuses or taps a stand-in.
 *
 * Narrow screens (below Mantine's `sm`, 48em): the navigation collapses behind the burger and
 * the tenant switcher moves from the header into the top of the navigation; the account
 * menu's name is truncated. Nothing in the shell is wider than the window, and a page wider
 * than the window scrolls sideways inside the main area.
 */
import { AppShell, Box, Burger, Group, NavLink, Text, UnstyledButton } from '@mantine/core';
import { useDisclosure, useMediaQuery } from '@mantine/hooks';
import { Link, Outlet, useParams, useRouterState } from '@tanstack/react-router';
import { lazy, Suspense, useEffect, useState, type ReactNode } from 'react';
import { useMe } from '../features/auth/session';
import { whenIdle } from './idle';
import { InShell } from './in-shell';
import { ADMIN_SECTIONS, SECTIONS } from './sections';

const loadMenus = () => import('./HeaderMenus');
const TenantSwitcher = lazy(() => loadMenus().then((m) => ({ default: m.TenantSwitcher })));
const AccountMenu = lazy(() => loadMenus().then((m) => ({ default: m.AccountMenu })));

/** True once the browser is idle after the first paint, or when `now()` is called. */
function useDeferred(): [boolean, () => void] {
  const [ready, setReady] = useState(false);
  useEffect(() => whenIdle(() => setReady(true), 500, 800), []);
  return [ready, () => setReady(true)];
}

/** A stand-in until the real control has loaded: the same text, and reaching for it loads it. */
function StandIn({ label, onWant, children }: { label: string; onWant: () => void; children: ReactNode }) {
  return (
    <UnstyledButton aria-label={label} onPointerEnter={onWant} onFocus={onWant} onClick={onWant} maw="100%">
      {children}
    </UnstyledButton>
  );
}

export function AppLayout() {
  const me = useMe();
  const [opened, { toggle, close }] = useDisclosure();
  // Below `sm` the folded navigation is moved off screen; `inert` also takes it out of the
  // tab order and the accessibility tree until the burger opens it.
  const narrow = useMediaQuery('(max-width: 47.99em)') ?? false;
  const [menusReady, wantMenus] = useDeferred();
  const params = useParams({ strict: false });
  const tenant = params.tenant;
  const pathname = useRouterState({ select: (s) => s.location.pathname });
  const inAdmin = pathname.startsWith('/admin');
  const section = (!inAdmin && SECTIONS.find((s) => pathname.includes(`/${s.segment}`))) || SECTIONS[0];
  const userLabel = me.user?.name || me.user?.email || 'You';
  const tenantName = me.tenants.find((t) => t.slug === tenant)?.name ?? tenant ?? 'Choose a tenant';
  const hasTenants = me.tenants.length > 0 || me.isPlatformAdmin;

  // On a narrow screen the navigation covers the page: close it once a link was followed.
  useEffect(() => close(), [pathname, close]);

  const switcher = (where: 'header' | 'navbar') =>
    hasTenants &&
    (menusReady ? (
      <Suspense fallback={<Text size="sm">{tenantName}</Text>}>
        <TenantSwitcher tenant={tenant} sectionTo={section.to} />
      </Suspense>
    ) : (
      <StandIn label={`Tenant: ${tenantName}`} onWant={wantMenus}>
        <Text size="sm" truncate data-where={where}>
          {tenantName}
        </Text>
      </StandIn>
    ));

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap" gap="sm">
          <Group wrap="nowrap" gap="sm" miw={0}>
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" aria-expanded={opened} />
            <Text component={Link} to="/" fw={700} size="lg">
              Switchyard
            </Text>
            <Group visibleFrom="sm" w={240} wrap="nowrap">
              {switcher('header')}
            </Group>
          </Group>
          <Group miw={0} maw={{ base: 140, sm: 280 }} wrap="nowrap" justify="flex-end">
            {menusReady ? (
              <Suspense fallback={<Text size="sm" truncate>{userLabel}</Text>}>
                <AccountMenu label={userLabel} />
              </Suspense>
            ) : (
              <StandIn label={`${userLabel}: account menu`} onWant={wantMenus}>
                <Text size="sm" truncate>
                  {userLabel}
                </Text>
              </StandIn>
            )}
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Sections" inert={narrow && !opened}>
        <AppShell.Section hiddenFrom="sm" mb="xs">
          {switcher('navbar')}
        </AppShell.Section>
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
        {/* A page wider than the window (a wide table, a long unbroken value) scrolls sideways
            inside this box; the page as a whole, header included, never does. `position:
            relative` makes the box the containing block of absolutely positioned descendants
            too (a table's visually hidden "Actions" header): otherwise they are placed against
            the page, outside the box's clipping, and widen the whole page (the tokens page at
            390 px scrolled sideways by 116 px). */}
        <Box style={{ overflowX: 'auto', position: 'relative' }}>
          <InShell.Provider value={true}>
            <Outlet />
          </InShell.Provider>
        </Box>
      </AppShell.Main>
    </AppShell>
  );
}
