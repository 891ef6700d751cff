/**
 * The databases list on a phone-width window (390×844, an iPhone 12–15) in real Chromium
 * against the real stack (web-stack.ts): nothing scrolls sideways on the list or on the
 * database page; a database's Connect action and the access switch are on screen and work
 * (the switch goes live, a real psql session connects through the proxy); the list shows that
 * session as an open connection, its count links to it in the live connections view, and the
 * database page's count falls back to 0 when psql quits, without a reload.
 */
import type { Locator, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { libpq, psqlSession, type PsqlSession } from '../support/tools.js';
import { axeViolations } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { BASE_DOMAIN, USERS } from './support/web-stack.js';

const WIDTH = 390;
const HEIGHT = 844;
const orders = `orders.acme.${BASE_DOMAIN}`;
/** A custom host name longer than the screen is wide in a monospace font. */
const LONG_HOST = 'a-rather-long-custom-hostname-for-billing.acme.example.test';

const web = useWebStack({
  tools: ['psql'],
  env: { PROXY_LIVENESS_MS: '5000' },
  databases: ['orders', 'billing'],
  seed: async (stack) => {
    await stack.must('PUT', '/api/v1/tenants/acme/databases/billing/external-access?wait=true', { enabled: false, hostname: LONG_HOST });
  },
  page: { as: USERS.owner, context: { viewport: { width: WIDTH, height: HEIGHT }, hasTouch: true } },
});
let session: PsqlSession | null = null;

afterAll(async () => {
  await session?.quit();
});

/**
 * How wide the page is against the window (wider: a horizontal scrollbar), and the innermost
 * elements sticking out past its right edge, to name in a failure.
 */
async function overflow(p: Page): Promise<{ scrollWidth: number; innerWidth: number; culprits: string[] }> {
  return p.evaluate(() => {
    // The page's globals, not Node's.
    type El = { tagName: string; className: unknown; children: { length: number }; getAttribute(n: string): string | null; getBoundingClientRect(): { right: number } };
    const w = globalThis as unknown as { innerWidth: number; document: { documentElement: { scrollWidth: number }; querySelectorAll(s: string): Iterable<El> } };
    const out = [...w.document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w.innerWidth + 0.5);
    const culprits = out
      .filter((e) => e.children.length === 0 || !out.some((o) => o !== e && (o as unknown as { parentElement: unknown }).parentElement === e))
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}.${String(e.className).split(' ').slice(0, 3).join('.')} (right ${Math.round(e.getBoundingClientRect().right)}) ${(e as unknown as { outerHTML: string }).outerHTML.slice(0, 120)}`);
    return { scrollWidth: w.document.documentElement.scrollWidth, innerWidth: w.innerWidth, culprits };
  });
}

async function expectNoSidewaysScroll(p: Page, what: string) {
  const o = await overflow(p);
  expect(o.scrollWidth, `${what}: document ${o.scrollWidth} px wide in a ${o.innerWidth} px window; past the edge: ${o.culprits.join(', ')}`).toBeLessThanOrEqual(o.innerWidth);
}

/** Visible and entirely inside the window horizontally (reachable without scrolling sideways). */
async function expectOnScreen(l: Locator, what: string) {
  await l.waitFor();
  await l.scrollIntoViewIfNeeded();
  const box = await l.boundingBox();
  expect(box, `${what} has a box`).not.toBeNull();
  expect(box!.x, `${what} starts inside the window`).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width, `${what} ends inside the window`).toBeLessThanOrEqual(WIDTH);
}

/** One database's card in the list. */
const card = (name: string) => web.page.getByRole('list', { name: 'Databases' }).getByRole('listitem').filter({ has: web.page.getByRole('link', { name, exact: true }) });

async function openConnectionsOf(name: string): Promise<number> {
  return (await web.stack.must('GET', `/api/v1/tenants/acme/databases/${name}`)).openConnections;
}

describe(`the databases list at ${WIDTH}×${HEIGHT}`, () => {
  it('fits the window: cards, no sideways scrolling, every count and Connect action on screen; axe passes', async () => {
    await web.page.goto('/t/acme/databases');
    const list = web.page.getByRole('list', { name: 'Databases' });
    await list.waitFor();
    // Cards, not a table cut off at the edge.
    expect(await web.page.getByRole('table').count()).toBe(0);
    await expect.poll(() => list.getByRole('listitem').count()).toBe(2);
    await web.page.getByText(LONG_HOST, { exact: false }).waitFor();
    await expectNoSidewaysScroll(web.page, 'the databases list');
    for (const name of ['orders', 'billing']) {
      await expectOnScreen(card(name).getByRole('link', { name: '0 open connections' }), `the open-connection count of ${name}`);
      await expectOnScreen(card(name).getByRole('link', { name: 'Connect', exact: true }), `Connect for ${name}`);
    }
    expect(await axeViolations(web.page)).toEqual([]);
  });

  it('Connect opens the database page, where the switch is on screen and goes live; psql then connects through the proxy', async () => {
    await card('orders').getByRole('link', { name: 'Connect', exact: true }).click();
    await web.page.waitForURL('**/t/acme/databases/orders?tab=connect');
    const toggle = web.page.getByRole('switch', { name: /External access/ });
    await expectOnScreen(toggle, 'the access switch');
    expect(await toggle.isChecked()).toBe(false);
    // The switch shows what the API stores: it turns on when the PUT has answered, which
    // Playwright's check() (it reads the state right after its click) does not wait for.
    await toggle.click();
    await expect.poll(() => toggle.isChecked(), { timeout: 20_000 }).toBe(true);
    const live = web.page.locator('[data-testid="propagation"][data-phase="live"]');
    await live.waitFor({ timeout: 20_000 });
    expect(await live.innerText()).toContain('Live on 1 of 1 proxy');
    await expectOnScreen(web.page.getByRole('button', { name: 'Copy psql connection string' }), 'the copy button of the psql string');
    expect(await web.page.getByTestId('conn-psql connection string').innerText()).toContain(`host=${orders}`);
    await expectNoSidewaysScroll(web.page, 'the database page (connect tab)');

    session = psqlSession(libpq(orders, web.stack.proxy.ports.postgres, { sslmode: 'require', application_name: 'narrow-e2e' }));
    expect(await session.query('select 6 * 7')).toBe('42');
  });

  it('shows the open session in the list; its count leads to it in the live connections view', async () => {
    // The proxy reports it within about a second; then the list shows what the API says.
    await expect.poll(() => openConnectionsOf('orders'), { timeout: 15_000 }).toBe(1);
    await web.page.goto('/t/acme/databases');
    const count = card('orders').getByRole('link', { name: '1 open connection' });
    await expectOnScreen(count, 'the open-connection count of orders');
    expect(await count.innerText()).toBe('1 open connection');
    await expectNoSidewaysScroll(web.page, 'the databases list with an open connection');

    await count.click();
    await web.page.waitForURL((u) => u.pathname === '/t/acme/connections' && u.searchParams.get('database') === 'orders' && u.searchParams.get('live') === 'true');
    const row = web.page.getByRole('table', { name: 'Open connections' }).getByRole('row').filter({ hasText: orders });
    await row.waitFor({ timeout: 15_000 });
  });

  it('the database page counts it too, and falls to 0 once psql quits, without a reload', async () => {
    await web.page.goto('/t/acme/databases/orders');
    await web.page.getByRole('link', { name: '1 open connection' }).waitFor();
    await expectNoSidewaysScroll(web.page, 'the database page');
    await session!.quit();
    session = null;
    await web.page.getByRole('link', { name: '0 open connections' }).waitFor({ timeout: 20_000 });
  });
});
