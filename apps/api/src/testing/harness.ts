/**
 * Test harness: a fresh migrated database per call and an app built on it, driven with
 * `app.inject()` (no sockets).
 */
import { createTestDatabase, type TestDatabase } from '@switchyard/db/testing';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp, type App } from '../app.js';
import { loadConfig, type ApiConfig } from '../config.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef0123456789';

export interface Harness {
  app: App;
  db: TestDatabase;
  config: ApiConfig;
  /** Calls the API as `token` (admin by default) and parses JSON. */
  call(method: string, url: string, body?: unknown, token?: string | null): Promise<LightMyRequestResponse & { json: () => any }>;
  close(): Promise<void>;
}

export async function createHarness(env: Record<string, string> = {}): Promise<Harness> {
  const db = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: db.url,
    SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN,
    SWITCHYARD_BASE_DOMAIN: 'db.example.com',
    PROPAGATION_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const app = await buildApp({ config, logger: false });
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
