/**
 * The dashboard's shell on a phone-sized window (390×844) in a real browser: the header and the
 * navigation fit (no sideways scrolling), the navigation opens and closes behind the burger,
 * and the tenant switcher and account menu still work. Also checks that on a wide window the
 * switcher stays in the header. No badge (a state) is cut to an ellipsis by a tight table, and
 * every list's empty state (nothing yet, or nothing matching a filter) is read without scrolling
 * sideways: an empty table once carried its sentence past the window's right edge.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, signIn } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { PLATFORM_ADMIN as ADMIN, USERS } from './support/web-stack.js';

const NARROW = { width: 390, height: 844 };

// The callbacks given to page.evaluate run in the browser; the e2e programs have no DOM types.
declare const document: any;
declare const window: any;
declare function getComputedStyle(e: any): any;

const web = useWebStack({
  platformAdmin: true,
  seed: async (stack) => {
    // Two tenants to switch between, and a database to list.
    const member = await stack.api.call('POST', '/api/v1/tenants/globex/members', { email: USERS.owner, role: 'member' });
    expect(member.status).toBe(201);
    const created = await stack.api.call('POST', '/api/v1/tenants/acme/databases', { name: 'orders', engine: 'postgres', upstream: { host: '127.0.0.1', port: stack.upstream.port } });
    expect(created.status).toBe(201);
    // A token, so the tokens page has its table (whose visually hidden "Actions" header once
    // widened the whole page).
    await stack.must('POST', '/api/v1/tenants/acme/tokens', { name: 'ci-pipeline', role: 'member' });
    await stack.must('POST', '/api/v1/platform/tokens', { name: 'terraform' });
    // A tenant with nothing in it, for the empty states.
    await stack.must('POST', '/api/v1/tenants', { slug: 'initech', name: 'Initech' });
    await stack.must('POST', '/api/v1/tenants/initech/members', { email: USERS.owner, role: 'owner' });
  },
  page: { as: USERS.owner, context: { viewport: NARROW } },
});
/** The page the helpers below look at: the owner's, and for one test a platform admin's. */
let page: Page;
beforeAll(() => {
  page = web.page;
});

/**
 * Every visible element of the header and of the (open or closed) navigation, and the page as
 * a whole, within the window's width. `pageToo: false` checks only the shell (a wide table may
 * scroll the page sideways on purpose).
 */
async function expectShellFits(what: string, { pageToo = true } = {}) {
  const r = await page.evaluate(() => {
    const sticking = (sel: string) =>
      [...document.querySelectorAll(`${sel}, ${sel} *`)]
        .filter((e) => e.offsetParent !== null || getComputedStyle(e).position === 'fixed')
        .map((e) => ({ e, r: e.getBoundingClientRect() }))
        .filter(({ r }) => r.width > 0 && r.height > 0 && (r.left < -0.5 || r.right > window.innerWidth + 0.5))
        .map(({ e, r }) => `${e.tagName.toLowerCase()}${e.getAttribute('aria-label') ? `[${e.getAttribute('aria-label')}]` : ''} ${Math.round(r.left)}..${Math.round(r.right)}`);
    return {
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      header: sticking('header'),
      navbar: document.querySelector('nav')?.getBoundingClientRect().left === 0 ? sticking('nav') : [],
      // What sticks out, outermost first, to name in a failure.
      wide: [...document.body.querySelectorAll('*')]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
        .filter((e) => { for (let a = e.parentElement; a; a = a.parentElement) if (getComputedStyle(a).overflowX !== 'visible') return false; return true; })
        .slice(0, 6)
        .map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')} right=${Math.round(e.getBoundingClientRect().right)}`),
    };
  });
  expect(r.header, `header elements outside the window on ${what}`).toEqual([]);
  expect(r.navbar, `navigation elements outside the window on ${what}`).toEqual([]);
  if (pageToo) expect(r.scrollWidth, `page wider than the window on ${what}: ${r.wide.join(', ')}`).toBeLessThanOrEqual(r.innerWidth);
}

/**
 * The badges (a user's, token's or proxy's state) cut short on `what`: a tight table once
 * squeezed "active" to "a…" and "up to date" to "up t…".
 */
async function expectBadgesWhole(what: string) {
  const cut = await page.evaluate(() =>
    [...document.querySelectorAll('.mantine-Badge-root, .mantine-Badge-label')].filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => `"${e.textContent}" ${e.clientWidth}/${e.scrollWidth} px`),
  );
  expect(cut, `badges cut to an ellipsis on ${what}`).toEqual([]);
}

/** A filter no name matches, one long word (a pasted id): it must wrap, not widen the page. */
const NO_MATCH = `no-such-${'x'.repeat(110)}`;

/**
 * The empty state that says `title` (the text, or part of it) on `what`: every line of it, the
 * title and what follows, inside the window and inside every box that clips it (a table
 * scrolled sideways inside its region would hide the end of the sentence).
 */
async function expectEmptyStateReadable(what: string, title: string) {
  const message = page.getByText(title).first();
  await message.waitFor();
  const clipped = await message.evaluate((el) => {
    const root = el.closest('[data-empty-state]') ?? el;
    const out: string[] = [];
    const walker = document.createTreeWalker(root, 4 /* NodeFilter.SHOW_TEXT */);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.textContent.trim()) continue;
      // The part of the window this text can be seen in: the window, narrowed by each ancestor
      // that clips or scrolls its overflow.
      let left = 0;
      let right = window.innerWidth;
      for (let a = n.parentElement; a; a = a.parentElement) {
        if (getComputedStyle(a).overflowX === 'visible') continue;
        const b = a.getBoundingClientRect();
        left = Math.max(left, b.left);
        right = Math.min(right, b.right);
      }
      const range = document.createRange();
      range.selectNodeContents(n);
      for (const r of range.getClientRects()) {
        if (r.width > 0 && (r.left < left - 0.5 || r.right > right + 0.5)) out.push(`"${n.textContent.trim().slice(0, 50)}" at ${Math.round(r.left)}..${Math.round(r.right)}, visible ${Math.round(left)}..${Math.round(right)}`);
      }
    }
    return out;
  });
  expect(clipped, `empty state "${title}" cut off on ${what}`).toEqual([]);
}

/** Runs `steps` with `page` a platform admin's, in a profile of its own at 390 px. */
async function asPlatformAdmin(steps: () => Promise<void>) {
  const ctxAdmin = await web.newContext({ viewport: NARROW });
  const own = page;
  try {
    page = await ctxAdmin.newPage();
    await signIn(page, ADMIN);
    await steps();
  } finally {
    page = own;
    await ctxAdmin.close();
  }
}

/** Collapsed, the navigation is slid out of the window to the left. */
async function navigationOpen(): Promise<boolean> {
  const box = await page.getByRole('navigation', { name: 'Sections' }).boundingBox();
  return !!box && box.x + box.width > 0;
}

async function openNavigation() {
  const burger = page.getByRole('button', { name: 'Toggle navigation' });
  if ((await burger.getAttribute('aria-expanded')) !== 'true') await burger.click();
  await page.waitForFunction(() => document.querySelector('nav[aria-label="Sections"]')?.getBoundingClientRect().left === 0);
}

describe('the shell at 390 px', () => {
  it('fits on every main page', async () => {
    const pages: Array<[string, string, boolean]> = [
      ['/t/acme/databases', 'Databases', true],
      ['/t/acme/databases/orders', 'orders', true],
      ['/t/acme/certificates', 'Certificates', true],
      ['/t/acme/tokens', 'API tokens', true],
      // The members table scrolls inside its own container: Leave and Remove stay reachable.
      ['/t/acme/members', 'Members', true],
      ['/t/acme/connections', 'Connections', true],
      ['/t/acme/check', 'Check connection', true],
      ['/t/acme/audit', 'Audit trail', true],
      ['/account', 'Account', true],
    ];
    for (const [path, heading, pageToo] of pages) {
      await page.goto(path);
      await page.getByRole('heading', { level: 1, name: heading }).first().waitFor();
      // The navigation is collapsed (slid out to the left): the page has the whole width.
      expect(await navigationOpen(), `navigation collapsed on ${path}`).toBe(false);
      await expectShellFits(path, { pageToo });
      await expectBadgesWhole(path);
      await openNavigation();
      await expectShellFits(`${path} with the navigation open`, { pageToo });
    }
  });

  it('fits on every platform page, and a table that scrolls sideways can be scrolled from the keyboard', async () => {
    await asPlatformAdmin(async () => {
      for (const [path, heading, content] of [
        ['/admin/connections', 'All connections', { text: 'No connections match these filters' }],
        ['/admin/proxies', 'Proxies', { table: 'Proxies' }],
        ['/admin/audit', 'Audit trail (all tenants)', { table: 'Audit events' }],
        ['/admin/tenants', 'Tenants', { table: 'Tenants' }],
        ['/admin/users', 'Users', { table: 'Users' }],
        ['/admin/tokens', 'Platform tokens', { table: 'Platform tokens' }],
      ] as const) {
        await page.goto(path);
        await page.getByRole('heading', { level: 1, name: heading }).waitFor();
        // The page's content (its table, or the empty state), not just its frame.
        await ('table' in content ? page.getByRole('table', { name: content.table, exact: true }) : page.getByText(content.text, { exact: true })).waitFor();
        await expectShellFits(path);
        await expectBadgesWhole(path);
        // A region wider than the window with nothing in it to tab to (the proxies table) must
        // take focus itself, or keyboard users cannot scroll it (axe: scrollable-region-focusable).
        expect(await axeViolations(page), `axe on ${path} at 390 px`).toEqual([]);
      }

      // The proxies table is wider than the phone: its region takes focus from the keyboard and
      // the arrow keys scroll it.
      await page.goto('/admin/proxies');
      const region = page.getByRole('region', { name: 'Proxies table' });
      await region.getByRole('table', { name: 'Proxies', exact: true }).waitFor();
      expect(await region.evaluate((e) => e.scrollWidth > e.clientWidth)).toBe(true);
      await page.getByRole('heading', { level: 1, name: 'Proxies' }).click();
      await expect
        .poll(async () => {
          await page.keyboard.press('Tab');
          return region.evaluate((e) => e === document.activeElement);
        }, { timeout: 10_000 })
        .toBe(true);
      await page.keyboard.press('ArrowRight');
      await expect.poll(() => region.evaluate((e) => e.scrollLeft), { timeout: 5_000 }).toBeGreaterThan(0);
    });
  });

  it('says every empty list inside the window, on tenant and platform pages', async () => {
    await asPlatformAdmin(async () => {
      // The stack always has a proxy and this file's platform token: the API answers those two
      // lists empty here, as it does on a new platform.
      await page.route('**/api/v1/proxies', (r) => r.fulfill({ json: { currentVersion: 1, livenessMs: 5000, items: [] } }));
      await page.route('**/api/v1/platform/tokens', (r) => (r.request().method() === 'GET' ? r.fulfill({ json: { items: [] } }) : r.continue()));
      for (const [path, heading, title] of [
        ['/admin/tokens', 'Platform tokens', 'No platform tokens yet'],
        ['/admin/proxies', 'Proxies', 'No proxy has reported in the last day'],
        ['/admin/connections', 'All connections', 'No connections match these filters'],
        ['/admin/audit?targetType=nothing', 'Audit trail (all tenants)', 'No changes match these filters'],
        [`/admin/tenants?q=${NO_MATCH}`, 'Tenants', 'No tenants match'],
        [`/admin/users?q=${NO_MATCH}`, 'Users', 'No users match'],
      ] as const) {
        await page.goto(path);
        await page.getByRole('heading', { level: 1, name: heading }).waitFor();
        await expectEmptyStateReadable(path, title);
        await expectShellFits(path);
      }
      await page.unrouteAll();
      // With its real token the platform tokens page filters it, and says when nothing matches.
      await page.goto(`/admin/tokens?q=${NO_MATCH}`);
      await expectEmptyStateReadable(`/admin/tokens?q=${NO_MATCH}`, 'No tokens match');
    });

    // A tenant with nothing yet, and filters nothing matches.
    for (const [path, heading, titles] of [
      ['/t/initech/databases', 'Databases', ['No databases yet']],
      [`/t/acme/databases?q=${NO_MATCH}`, 'Databases', ['No databases match']],
      ['/t/initech/certificates', 'Certificates', ['No certificates yet', 'No ACME certificates']],
      ['/t/initech/tokens', 'API tokens', ['No tokens yet']],
      [`/t/acme/tokens?q=${NO_MATCH}`, 'API tokens', ['No tokens match']],
      [`/t/acme/members?q=${NO_MATCH}`, 'Members', ['No members match']],
      ['/t/initech/connections', 'Connections', ['No connections match these filters']],
      ['/t/initech/check', 'Check connection', ['No databases to check yet']],
      ['/t/initech/audit?targetType=certificate', 'Audit trail', ['No changes match these filters']],
    ] as const) {
      await page.goto(path);
      await page.getByRole('heading', { level: 1, name: heading }).first().waitFor();
      for (const title of titles) await expectEmptyStateReadable(path, title);
      await expectShellFits(path);
    }
  });

  it('navigates from the burger menu, which then closes', async () => {
    await page.goto('/t/acme/databases');
    await openNavigation();
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Members' }).click();
    await page.waitForURL('**/t/acme/members');
    await page.getByRole('heading', { level: 1, name: 'Members' }).waitFor();
    await page.waitForFunction(() => (document.querySelector('nav[aria-label="Sections"]')?.getBoundingClientRect().right ?? 0) <= 0);
    expect(await page.getByRole('button', { name: 'Toggle navigation' }).getAttribute('aria-expanded')).toBe('false');
    // Folded away, its links leave the tab order and the accessibility tree too (inert).
    expect(await page.locator('nav[aria-label="Sections"]').getAttribute('inert')).not.toBeNull();
  });

  it('switches tenants with the switcher in the navigation, inside the window', async () => {
    await page.goto('/t/acme/databases');
    await openNavigation();
    const switcher = page.getByRole('navigation', { name: 'Sections' }).getByRole('combobox', { name: 'Tenant', exact: true });
    await switcher.waitFor();
    const box = (await switcher.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(NARROW.width);
    await switcher.click();
    const option = page.getByRole('option', { name: 'Globex (member)' });
    const optionBox = (await option.boundingBox())!;
    expect(optionBox.x + optionBox.width).toBeLessThanOrEqual(NARROW.width);
    await option.click();
    await page.waitForURL('**/t/globex/databases');
    await page.getByRole('heading', { level: 1, name: 'Databases' }).waitFor();
    await expectShellFits('globex databases', { pageToo: false });
  });

  it('opens the account menu inside the window', async () => {
    await page.goto('/t/acme/members');
    await page.getByRole('heading', { level: 1, name: 'Members' }).waitFor();
    // Until the menu's code has loaded, a stand-in with the same name holds its place (pointing
    // at it loads the menu): wait for the real menu button.
    await page.getByRole('button', { name: 'Olivia Owner: account menu' }).hover();
    const account = page.locator('header button[aria-haspopup="menu"]');
    expect(await account.getAttribute('aria-label')).toBe('Olivia Owner: account menu');
    const accountBox = (await account.boundingBox())!;
    expect(accountBox.x + accountBox.width).toBeLessThanOrEqual(NARROW.width);
    await account.click();
    const item = page.getByRole('menuitem', { name: 'Change password' });
    const box = (await item.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(NARROW.width);
    await item.click();
    await page.waitForURL('**/account');
  });
});

describe('the shell on a wide window', () => {
  it('keeps the switcher in the header and the navigation open', async () => {
    const wide = await web.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const p = await wide.newPage();
      await signIn(p, USERS.owner);
      await p.getByRole('heading', { level: 1, name: 'Databases' }).waitFor();
      expect(await p.getByRole('button', { name: 'Toggle navigation' }).isVisible()).toBe(false);
      await p.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Databases' }).waitFor();
      const switcher = p.getByRole('banner').getByRole('combobox', { name: 'Tenant', exact: true });
      await switcher.click();
      await p.getByRole('option', { name: 'Globex (member)' }).click();
      await p.waitForURL('**/t/globex/databases');
    } finally {
      await wide.close();
    }
  });
});
