/**
 * Test harness: a fresh migrated database per call and an app built on it, driven with
 * `app.inject()` (no sockets).
 */
import { createTestDatabase, type TestDatabase } from '@switchyard/db/testing';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp, type App } from '../app.js';
import { loadConfig, type ApiConfig } from '../config.js';
import { hashPassword } from '../lib/passwords.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef0123456789';

export interface Harness {
  app: App;
  db: TestDatabase;
  config: ApiConfig;
  /** Calls the API as `token` (admin by default) and parses JSON. */
  call(method: string, url: string, body?: unknown, token?: string | null): Promise<LightMyRequestResponse & { json: () => any }>;
  close(): Promise<void>;
}

/** `beforeReady` may register extra routes or plugins (tests of the app's own machinery). */
export async function createHarness(env: Record<string, string> = {}, beforeReady?: (app: App) => Promise<void>): Promise<Harness> {
  const db = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: db.url,
    SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN,
    SWITCHYARD_BASE_DOMAIN: 'db.example.com',
    PROPAGATION_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'silent',
    // Test upstreams live on loopback (the tenant policy still has to allow them).
    SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true',
    ...env,
  });
  const app = await buildApp({ config, logger: false });
  await beforeReady?.(app);
  await app.ready();
  return {
    app,
    db,
    config,
    call: async (method, url, body, token = ADMIN_TOKEN) => {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await app.inject({ method: method as never, url, payload: body as never, headers });
      return res;
    },
    close: async () => {
      await app.close();
      await db.drop();
    },
  };
}

/** Creates a tenant with a loopback-friendly upstream policy and an owner token. */
export async function seedTenant(h: Harness, slug = 'acme'): Promise<{ token: string }> {
  const t = await h.call('POST', '/api/v1/tenants', {
    slug,
    name: `${slug} Inc`,
    upstreamPolicy: { hostSuffixes: [`${slug}.svc.cluster.local`], cidrs: ['127.0.0.0/8'] },
  });
  if (t.statusCode !== 201) throw new Error(`tenant: ${t.body}`);
  const tok = await h.call('POST', `/api/v1/tenants/${slug}/tokens`, { name: 'owner', role: 'owner' });
  if (tok.statusCode !== 201) throw new Error(`token: ${tok.body}`);
  return { token: tok.json().token };
}

export type Reply = LightMyRequestResponse & { json: () => any };

/** A signed-in browser: sends the session cookie, and X-CSRF-Token on changes unless told not to. */
export interface SessionClient {
  cookie: string;
  csrfToken: string;
  userId: string;
  call(method: string, url: string, body?: unknown, opts?: { csrf?: string | null; headers?: Record<string, string> }): Promise<Reply>;
}

/** Creates a user directly in the database (fast path for tests that are not about users). */
export async function createUser(
  h: Harness,
  email: string,
  password: string,
  opts: { isPlatformAdmin?: boolean; name?: string; memberships?: Array<{ tenant: string; role: 'owner' | 'admin' | 'member' }> } = {},
): Promise<{ id: string }> {
  const user = await h.app.prisma.user.create({
    data: { email, name: opts.name ?? email.split('@')[0]!, passwordHash: await hashPassword(password), isPlatformAdmin: opts.isPlatformAdmin ?? false },
  });
  for (const m of opts.memberships ?? []) {
    const t = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: m.tenant } });
    await h.app.prisma.membership.create({ data: { userId: user.id, tenantId: t.id, role: m.role } });
  }
  return { id: user.id };
}

/** Reads the session cookie (name=value) from a login reply. */
export function sessionCookieFrom(res: LightMyRequestResponse): string {
  const raw = res.headers['set-cookie'];
  const first = (Array.isArray(raw) ? raw[0] : raw) ?? '';
  return first.split(';')[0]!;
}

let loginAddress = 0;

/**
 * Signs in through the API. Each call comes from its own loopback address so tests that are
 * not about throttling never meet the per-address login limit.
 */
export async function login(h: Harness, email: string, password: string, headers: Record<string, string> = {}): Promise<SessionClient> {
  loginAddress += 1;
  const remoteAddress = `127.1.${(loginAddress >> 8) & 255}.${loginAddress & 255}`;
  const res = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, headers, remoteAddress });
  if (res.statusCode !== 200) throw new Error(`login ${email}: ${res.statusCode} ${res.body}`);
  const cookie = sessionCookieFrom(res);
  const { csrfToken, user } = res.json();
  return {
    cookie,
    csrfToken,
    userId: user.id,
    call: async (method, url, body, opts = {}) => {
      const hs: Record<string, string> = { cookie, ...headers, ...opts.headers };
      const csrf = opts.csrf === undefined ? csrfToken : opts.csrf;
      if (csrf !== null && !['GET', 'HEAD'].includes(method)) hs['x-csrf-token'] = csrf;
      return h.app.inject({ method: method as never, url, payload: body as never, headers: hs });
    },
  };
}
