/**
 * What the API's own logger writes for requests (app.ts loggerOptions): the request line, but
 * never a credential — not the Authorization header or the cookie, and not a token pasted into
 * the URL (`?token=sy_…`), which the API refuses but used to log verbatim — nor a password or
 * private key from a body, on any of the paths a bad body takes (not JSON, not UTF-8, too
 * large, nested too deep, refused by the schema or by the service), even at `trace`.
 */
import { Writable } from 'node:stream';
import { createTestDatabase, type TestDatabase } from '@switchyard/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loggerOptions, redactUrl, type App } from './app.js';
import { loadConfig } from './config.js';
import { ADMIN_TOKEN } from './testing/harness.js';

const lines: string[] = [];
let db: TestDatabase;
let app: App;
let token: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: db.url, SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'info', SWITCHYARD_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}` });
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  app = await buildApp({ config, logger: { ...loggerOptions(config), stream } });
  await app.ready();
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  expect((await app.inject({ method: 'POST', url: '/api/v1/tenants', headers: admin, payload: { slug: 'acme', name: 'Acme' } })).statusCode).toBe(201);
  token = (await app.inject({ method: 'POST', url: '/api/v1/tenants/acme/tokens', headers: admin, payload: { name: 'ci', role: 'owner' } })).json().token;
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

describe('request logging', () => {
  it('never writes a token from the URL, the Authorization header or the cookie', async () => {
    lines.length = 0;
    // Everything after `sy_<prefix>_`: the secret is base64url and may itself hold '_'.
    const secret = token.slice('sy_'.length + 10 + 1);
    expect(secret).toHaveLength(43);
    for (const url of [
      `/api/v1/tenants/acme/databases?token=${token}`,
      `/api/v1/tenants/acme/databases?limit=5&access_token=${encodeURIComponent(token)}`,
      `/api/v1/tenants/acme/databases?q=${token}`,
      `/api/v1/tenants/${token}`,
      `/api/v1/auth/me?password=${secret}`,
    ]) {
      await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}`, cookie: `sy_session=${secret}` } });
    }
    const requests = lines.filter((l) => l.includes('"incoming request"'));
    expect(requests).toHaveLength(5);
    for (const l of lines) expect(l).not.toContain(secret);
    // Still useful: the path and the harmless parameters stay.
    expect(requests[1]).toContain('"url":"/api/v1/tenants/acme/databases?limit=5&access_token=[redacted]"');
  });

  it('never writes a password or a private key from a request body, whatever becomes of the request', async () => {
    const secret = 'correct-horse-battery-staple-0192837465';
    const pem = `-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----\n`;
    const login = `{"email":"ada@example.com","password":"${secret}"}`;
    const json = { 'content-type': 'application/json' };
    const admin = { ...json, authorization: `Bearer ${ADMIN_TOKEN}` };
    const requests: Array<[string, Record<string, string>, string]> = [
      ['/api/v1/auth/login', json, login.slice(0, -1)],
      ['/api/v1/auth/login', { 'content-type': 'text/plain' }, login],
      ['/api/v1/auth/login', { 'content-type': 'application/json; charset=latin1' }, login],
      ['/api/v1/auth/login', json, login.replace('}', `,"x":${'['.repeat(40_000)}${']'.repeat(40_000)}}`)],
      ['/api/v1/auth/login', json, login.replace('}', `,"x":"${'a'.repeat(300_000)}"}`)],
      ['/api/v1/auth/login', json, login],
      ['/api/v1/users', admin, `{"email":"ada@example.com","name":"Ada","password":"${secret}"}`],
      ['/api/v1/users', admin, `{"email":"ada@example.com","name":"Ada","password":"${secret}"}`],
      ['/api/v1/tenants/acme/certificates/upload', admin, JSON.stringify({ name: 'c', certificatePem: 'x', privateKeyPem: pem })],
      ['/api/v1/tenants/acme/certificates/upload', admin, JSON.stringify({ name: 'c', certificatePem: 'x', privateKeyPem: pem }).slice(0, -1)],
    ];
    const level = app.log.level;
    app.log.level = 'trace';
    lines.length = 0;
    try {
      const statuses: number[] = [];
      for (const [url, headers, payload] of requests) statuses.push((await app.inject({ method: 'POST', url, headers, payload })).statusCode);
      expect(statuses).toEqual([400, 415, 415, 400, 413, 401, 201, 409, 422, 400]);
    } finally {
      app.log.level = level;
    }
    expect(lines.length).toBeGreaterThan(requests.length);
    for (const l of lines) expect(l).not.toContain(secret);
  });

  it('redacts secret-named parameters and token-shaped values only', () => {
    expect(redactUrl('/api/v1/tenants/acme/connection-events?limit=5&from=2026-11-22T00:00:00Z')).toBe('/api/v1/tenants/acme/connection-events?limit=5&from=2026-11-22T00:00:00Z');
    expect(redactUrl('/x?Api%4Bey=abc&apiKey=def&x-csrf-token=g&flag')).toBe('/x?Api%4Bey=[redacted]&apiKey=[redacted]&x-csrf-token=[redacted]&flag');
    expect(redactUrl('/x?%E0%A4%A=1')).toBe('/x?%E0%A4%A=1');
  });
});
