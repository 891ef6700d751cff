/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser), sign-in, field
 * errors as a screen reader finds them, and the axe check every page must pass.
 */
import { existsSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';
import { PASSWORD } from './web-stack.js';

export const CHROMIUM = '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; install the Debian package chromium (.ci/run does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/**
 * A fresh browser profile (own cookies) that may read what the page copies; `options` override
 * the desktop viewport (a phone's, a time zone…).
 */
export async function newContext(browser: Browser, baseURL: string, options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const ctx = await browser.newContext({ baseURL, viewport: { width: 1280, height: 900 }, ...options });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL });
  return ctx;
}

/** A fresh profile (`newContext`) with one page, signed in as `email`. */
export async function signedIn(browser: Browser, baseURL: string, email: string, options: BrowserContextOptions = {}): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await newContext(browser, baseURL, options);
  const page = await ctx.newPage();
  await signIn(page, email);
  return { ctx, page };
}

export async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.goto('/login');
  await page.getByLabel(/^Email/).fill(email);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/**
 * The error shown for a field, as assistive technology gets it: the field is marked invalid
 * and its description (aria-describedby) holds the message. Waits until it appears.
 */
export async function fieldError(field: Locator): Promise<string> {
  await field.and(field.page().locator('[aria-invalid="true"]')).waitFor({ timeout: 15_000 });
  const ids = ((await field.getAttribute('aria-describedby')) ?? '').split(/\s+/).filter((id) => id.endsWith('-error'));
  const texts = await Promise.all(ids.map((id) => field.page().locator(`[id="${id}"]`).innerText()));
  return texts.join(' ');
}

/** axe on the page as it is now: serious and critical violations, one line each. */
export async function axeViolations(page: Page): Promise<string[]> {
  // A dialog, toast or tooltip still fading in or out has the contrast of its current opacity:
  // let CSS transitions (Mantine's Transition) finish first, so axe judges the page as it
  // settles. Calm for three animation frames in a row, not one look: a Transition mounts its
  // element first and starts the fade a frame later (a tooltip opened by the click just before
  // was judged mid-fade, CI run of d4936e0). (A string: this file is type-checked without the
  // DOM library.)
  const settled = await page.evaluate(`new Promise((resolve) => {
    const start = performance.now();
    let calm = 0;
    const tick = () => {
      const busy = document.getAnimations().some((a) => a instanceof CSSTransition && a.playState === 'running');
      calm = busy ? 0 : calm + 1;
      if (calm >= 3) resolve(true);
      else if (performance.now() - start > 10000) resolve(false);
      else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })`);
  if (settled !== true) throw new Error('the page kept animating for 10 s; axe would judge it mid-transition');
  const r = await new AxeBuilder({ page }).analyze();
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
}
