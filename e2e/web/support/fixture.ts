/**
 * The setup every dashboard test file shares: `useWebStack(options)` registers the file's
 * beforeAll and afterAll — check the programs it drives, start Chromium, a test database and
 * the web stack (web-stack.ts), seed, sign a shared page in — and returns a handle whose
 * fields are filled once beforeAll has run. Teardown in reverse, whatever part of the setup
 * got done. A file's own afterAll, registered after this, runs before it (vitest runs after-
 * hooks as a stack), so the stack is still up while the file cleans up its own things.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, requireTool, type TestDatabase } from '@switchyard/testkit';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launchBrowser, newContext, signedIn, signIn } from './browser.js';
import { addPlatformAdmin, ensureWebBuild, startWebStack, WEB_DIST, type WebStack } from './web-stack.js';

export interface WebStackOptions {
  /** The API's environment (startWebStack's `env`). */
  env?: Record<string, string>;
  /** The proxy process's environment (startWebStack's `proxyEnv`). */
  proxyEnv?: Record<string, string>;
  /**
   * Programs the file drives besides Chromium (`psql`…): checked before anything starts, so a
   * missing one fails at once naming its Debian package.
   */
  tools?: string[];
  /**
   * An ACME CA nobody answers (nothing listens on port 9) and the ACME worker stopped: requests
   * are accepted and stay `pending` unless a test processes one itself.
   */
  unansweredAcme?: boolean;
  /**
   * Serve the dashboard from a copy of its build (`dashboardDir`), so a test can break one of its
   * files without touching the build that other runs serve.
   */
  dashboardCopy?: boolean;
  /** Create the platform admin PLATFORM_ADMIN (addPlatformAdmin) to sign in with. */
  platformAdmin?: boolean;
  /** Databases of tenant `acme` to register, each on the stack's PostgreSQL (stack.upstream), access off. */
  databases?: string[];
  /** The file's own data (access, tokens, members…), made after `databases` and before the shared page signs in. */
  seed?: (stack: WebStack) => Promise<void>;
  /**
   * A page the file's tests share, in a fresh profile (newContext; `context` overrides its
   * options, e.g. a phone's viewport): signed in as `as`, or left blank without it.
   */
  page?: { as?: string; context?: BrowserContextOptions };
}

export interface WebTest {
  readonly db: TestDatabase;
  readonly stack: WebStack;
  readonly browser: Browser;
  /** The shared page (`options.page`) and its profile. */
  readonly page: Page;
  readonly ctx: BrowserContext;
  /** The copy of the dashboard's build the API serves (`options.dashboardCopy`). */
  readonly dashboardDir: string;
  /** A fresh profile on the dashboard (its own cookies; may read the clipboard). */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  /** A fresh profile with one page, signed in as `email`. */
  signedIn(email: string, options?: BrowserContextOptions): Promise<{ ctx: BrowserContext; page: Page }>;
}

export function useWebStack(options: WebStackOptions = {}): WebTest {
  let db: TestDatabase | undefined;
  let stack: WebStack | undefined;
  let browser: Browser | undefined;
  let shared: { ctx: BrowserContext; page: Page } | undefined;
  let dashboardDir: string | undefined;
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useWebStack: ${what} is there once beforeAll has run`);
    return value;
  };

  const web: WebTest = {
    get db() {
      return ready(db, 'db');
    },
    get stack() {
      return ready(stack, 'stack');
    },
    get browser() {
      return ready(browser, 'browser');
    },
    get page() {
      return ready(shared, 'page (options.page)').page;
    },
    get ctx() {
      return ready(shared, 'ctx (options.page)').ctx;
    },
    get dashboardDir() {
      return ready(dashboardDir, 'dashboardDir (options.dashboardCopy)');
    },
    newContext: (contextOptions) => newContext(web.browser, web.stack.url, contextOptions),
    signedIn: (email, contextOptions) => signedIn(web.browser, web.stack.url, email, contextOptions),
  };

  beforeAll(async () => {
    for (const tool of options.tools ?? []) requireTool(tool);
    browser = await launchBrowser();
    db = await createTestDatabase();
    const env = { ...options.env };
    if (options.unansweredAcme) env.ACME_DIRECTORY_URL = 'https://127.0.0.1:9/directory';
    if (options.dashboardCopy) {
      ensureWebBuild();
      dashboardDir = mkdtempSync(join(tmpdir(), 'sy-web-dist-'));
      cpSync(WEB_DIST, dashboardDir, { recursive: true });
      env.WEB_DIST_DIR = dashboardDir;
    }
    stack = await startWebStack(db.url, env, options.proxyEnv);
    if (options.unansweredAcme) await stack.api.app.services.acmeWorker?.stop();
    if (options.platformAdmin) await addPlatformAdmin(stack);
    for (const name of options.databases ?? []) {
      await stack.must('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: stack.upstream.port } });
    }
    await options.seed?.(stack);
    if (options.page) {
      const ctx = await web.newContext(options.page.context);
      const page = await ctx.newPage();
      if (options.page.as) await signIn(page, options.page.as);
      shared = { ctx, page };
    }
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await db?.drop();
    if (dashboardDir) rmSync(dashboardDir, { recursive: true, force: true });
  });

  return web;
}
