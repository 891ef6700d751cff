/**
 * The worker's failure modes against Debian's real `pebble`, driven step by step (the worker
 * is stopped; each test calls `process` on the due row): what happens when the CA forgets the
 * platform account, and when it accepts connections but never answers. Pebble validates
 * nothing here (`PEBBLE_VA_ALWAYS_VALID`): the challenge path through the proxies is proven in
 * e2e/protocol/acme.test.ts; these tests are about the conversation with the CA.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, requireTool, testCa, testCert, TEST_KEYS } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDomainServices } from '../../app.js';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';
import { AcmeCa } from './acme.ca.js';
import { AcmeWorker } from './acme.worker.js';

let h: Harness;
let token: string;
let pebble: ChildProcess | null = null;
let dir: string;
let acmePort: number;

/** Starts pebble on the same ports each time (a restart is a CA that lost its state). */
function startPebble(): Promise<ChildProcess> {
  const child = spawn(requireTool('pebble'), ['-config', join(dir, 'pebble.json')], {
    // Every validation succeeds at once; every nonce is accepted.
    env: { ...process.env, PEBBLE_VA_ALWAYS_VALID: '1', PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('ACME directory available at')) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`pebble exited (${code}):\n${out}`)));
  });
}

async function stopPebble(): Promise<void> {
  if (pebble && pebble.exitCode === null && pebble.signalCode === null) {
    pebble.kill('SIGTERM');
    await once(pebble, 'exit');
  }
  pebble = null;
}

beforeAll(async () => {
  requireTool('pebble');
  dir = mkdtempSync(join(tmpdir(), 'sy-acme-pebble-'));
  const leaf = testCert(['127.0.0.1']);
  writeFileSync(join(dir, 'pebble.crt'), leaf.certPem);
  writeFileSync(join(dir, 'pebble.key'), leaf.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'test-ca.pem'), testCa().certPem);
  acmePort = await getFreePort();
  writeFileSync(
    join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${await getFreePort()}`,
        certificate: join(dir, 'pebble.crt'),
        privateKey: join(dir, 'pebble.key'),
        httpPort: 80,
        tlsPort: 443,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  pebble = await startPebble();
  h = await createHarness(
    {
      SWITCHYARD_KEYS: TEST_KEYS,
      ACME_DIRECTORY_URL: `https://127.0.0.1:${acmePort}/dir`,
      ACME_CA_FILE: join(dir, 'test-ca.pem'),
      ACME_LIMIT_DUPLICATES_WEEK: '1000',
      ACME_LIMIT_FAILED_PER_HOUR: '1000',
    },
    // Driven by hand: each test processes the row it is about.
    async (app) => app.services.acmeWorker?.stop(),
  );
  ({ token } = await seedTenant(h));
  await standInProxy(true);
});

/**
 * A proxy row that says it is live and has applied every config version: pebble validates
 * nothing here, so no real proxy has to answer. The test about "no live proxy" removes it.
 */
async function standInProxy(live: boolean): Promise<void> {
  if (!live) {
    await h.app.prisma.proxyInstance.deleteMany({ where: { id: 'stand-in' } });
    return;
  }
  const now = new Date();
  await h.app.prisma.proxyInstance.create({
    data: { id: 'stand-in', hostname: 'stand-in', pid: 1, version: 'test', appliedVersion: BigInt(Number.MAX_SAFE_INTEGER), startedAt: now, heartbeatAt: new Date(now.getTime() + 86_400_000) },
  });
}

afterAll(async () => {
  await stopPebble();
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** An enabled terminate-mode route with a pending ACME request; its row as the worker reads it. */
async function pendingRow(name: string) {
  const r = await h.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: `pg.acme.svc.cluster.local`, port: 5432 } }, token);
  expect(r.statusCode, r.body).toBe(201);
  const a = await h.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access`, { enabled: true, tlsMode: 'terminate', acme: {} }, token);
  expect(a.statusCode, a.body).toBe(200);
  return h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { id: a.json().acme.id }, include: { certificate: true } });
}

const view = async (id: string) => (await h.call('GET', `/api/v1/tenants/acme/acme-certificates/${id}`, undefined, token)).json();

/** The worker's service talking to another directory URL (same database and tenant). */
function serviceFor(directoryUrl: string, opts?: ConstructorParameters<typeof AcmeCa>[3]) {
  const config = { ...h.config, acme: { ...h.config.acme!, directoryUrl } };
  const ca = new AcmeCa(config.acme, h.app.prisma, config.keyring!, opts);
  return buildDomainServices(config, h.app.prisma, h.app.log, { ca, poke: () => {} }).acme;
}

describe('no live proxy', () => {
  it('does not ask the CA to validate a challenge nothing would answer (a failed validation it would count)', async () => {
    const row = await pendingRow('noproxy');
    await standInProxy(false);
    try {
      await h.app.services.acme.process(row);
    } finally {
      await standInProxy(true);
    }
    const v = await view(row.id);
    // Pebble validates everything here: had it been asked, the order would have been issued.
    expect(v).toMatchObject({ state: 'failed', certificate: null, problem: { type: 'switchyard:notPropagated' } });
    expect(v.problem.detail).toContain('no live proxy');
    expect(await h.app.prisma.acmeChallenge.count({ where: { hostname: row.hostname } })).toBe(0);
    expect(await h.app.prisma.acmeEvent.count({ where: { hostname: row.hostname, kind: 'failed_validation' } })).toBe(0);
  });
});

describe('a CA that forgot the platform account', () => {
  it('registers the stored key again and issues, instead of failing every order with accountDoesNotExist', async () => {
    const first = await pendingRow('before');
    await h.app.services.acme.process(first);
    expect(await view(first.id)).toMatchObject({ state: 'issued', problem: null });
    const { accountUrl: before } = await h.app.prisma.acmeAccount.findFirstOrThrow();
    expect(before).toBeTruthy();

    // Pebble keeps accounts in memory: restarted, it knows none of them (as a CA whose
    // account was deleted or a staging reset).
    await stopPebble();
    pebble = await startPebble();

    const second = await pendingRow('after');
    await h.app.services.acme.process(second);
    const v = await view(second.id);
    expect(v, JSON.stringify(v.problem)).toMatchObject({ state: 'issued', problem: null, attempts: 0 });
    const account = await h.app.prisma.acmeAccount.findFirstOrThrow();
    // The same sealed key, registered anew: a new account URL is stored.
    expect(account.accountUrl).toBeTruthy();
    expect(account.accountUrl).not.toBe(before);
    // A renewal of the first certificate goes through the new account too.
    await h.app.services.acme.process(await h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { id: first.id }, include: { certificate: true } }));
    const renewed = await view(first.id);
    expect(renewed).toMatchObject({ state: 'issued', problem: null });
    expect(Date.parse(renewed.lastIssuedAt)).toBeGreaterThan(Date.parse((await view(second.id)).lastIssuedAt) - 1);
  });
});

describe('a CA that answers 429 or 503 with Retry-After', () => {
  let front: HttpsServer;
  /** What the front answers to new orders (null: pebble's own answer). */
  let newOrder: { status: number; type: string; detail: string } | null = null;
  let refused = 0;
  const frontUrl = () => `https://127.0.0.1:${(front.address() as AddressInfo).port}/dir`;
  beforeAll(async () => {
    // An HTTPS front to pebble that refuses new orders as Let's Encrypt does under its
    // per-account limit (429) or in maintenance (503); everything else is forwarded (pebble
    // builds its URLs from Host).
    const leaf = testCert(['127.0.0.1']);
    front = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
      if (newOrder && req.method === 'POST' && req.url === '/order-plz') {
        refused++;
        req.resume();
        res.writeHead(newOrder.status, { 'content-type': 'application/problem+json', 'retry-after': '3600', 'replay-nonce': 'x' });
        res.end(JSON.stringify(newOrder));
        return;
      }
      const up = httpsRequest({ host: '127.0.0.1', port: acmePort, method: req.method, path: req.url, headers: req.headers, ca: testCa().certPem }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => (front ? front.close(() => r()) : r())));

  it('keeps "renew now" from asking the CA again before its Retry-After', async () => {
    newOrder = { status: 429, type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new orders recently' };
    refused = 0;
    const acme = serviceFor(frontUrl());
    const row = await pendingRow('limited');
    await acme.process(row);
    expect(refused).toBe(1);
    const v = await view(row.id);
    expect(v).toMatchObject({ state: 'failed', problem: { type: 'urn:ietf:params:acme:error:rateLimited', status: 429 } });
    expect(Date.parse(v.nextAttemptAt)).toBeGreaterThanOrEqual(Date.now() + 3_500_000);

    const r = await h.call('POST', `/api/v1/tenants/acme/acme-certificates/${row.id}/renew`, undefined, token);
    expect(r.statusCode, r.body).toBe(429);
    expect(r.json()).toMatchObject({ code: 'SY_ACME_RATE_LIMITED', details: [{ limit: 'ca_retry_after' }] });
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(3_500);
    // Nothing moved: the worker still waits for the CA's time.
    expect((await view(row.id)).nextAttemptAt).toBe(v.nextAttemptAt);
  });

  it('a CA in maintenance (503) ends the worker pass: the other due rows are not sent to it', async () => {
    newOrder = { status: 503, type: 'urn:ietf:params:acme:error:serverInternal', detail: 'the service is down for maintenance' };
    refused = 0;
    const rows = [await pendingRow('maint1'), await pendingRow('maint2'), await pendingRow('maint3')];
    const worker = new AcmeWorker(h.app.prisma, serviceFor(frontUrl()), 3_600_000, h.app.log);
    await worker.poke();
    await worker.stop();
    expect(refused).toBe(1);
    const views = await Promise.all(rows.map((r) => view(r.id)));
    expect(views.map((v) => [v.state, v.attempts, v.problem?.type ?? null])).toEqual([
      ['failed', 1, 'urn:ietf:params:acme:error:serverInternal'],
      ['pending', 0, null],
      ['pending', 0, null],
    ]);
    newOrder = null;
    // Withdrawn, so the next tests' passes start with their own rows.
    for (const r of rows) expect((await h.call('DELETE', `/api/v1/tenants/acme/acme-certificates/${r.id}`, undefined, token)).statusCode).toBe(204);
  });
});

describe('a CA that accepts connections and never answers', () => {
  let blackhole: Server;
  const held: Socket[] = [];
  const blackholeUrl = () => `https://127.0.0.1:${(blackhole.address() as AddressInfo).port}/dir`;
  beforeAll(async () => {
    // Accepts, reads, never writes a byte: not even the TLS handshake completes.
    blackhole = createServer((s) => void held.push(s));
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => (blackhole ? blackhole.close(() => r()) : r()));
  });

  it('gives up on the request at the deadline and records switchyard:caUnreachable, instead of holding the worker (and its lease) forever', async () => {
    const url = blackholeUrl();
    const acme = serviceFor(url, { requestTimeoutMs: 1_000 });
    const row = await pendingRow('hung');
    const started = Date.now();
    const outcome = await Promise.race([
      acme.process(row).then(() => 'returned'),
      new Promise<string>((r) => setTimeout(() => r('still waiting on the CA after 15 s'), 15_000).unref()),
    ]);
    expect(outcome).toBe('returned');
    expect(held.length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const v = await view(row.id);
    expect(v).toMatchObject({ state: 'failed', attempts: 1, problem: { type: 'switchyard:caUnreachable' } });
    expect(v.problem.detail).toContain(url);
    expect(v.problem.detail).toMatch(/timeout|1000 ms/i);
    expect(Date.parse(v.nextAttemptAt)).toBeGreaterThan(Date.now());
  });

  it('ends the worker pass at the first unreachable CA: the other due rows wait, untouched, for the next pass', async () => {
    const acme = serviceFor(blackholeUrl(), { requestTimeoutMs: 300 });
    const rows = [await pendingRow('down1'), await pendingRow('down2'), await pendingRow('down3')];
    const worker = new AcmeWorker(h.app.prisma, acme, 3_600_000, h.app.log);
    await worker.poke();
    await worker.stop();
    const views = await Promise.all(rows.map((r) => view(r.id)));
    // One attempt says the CA is unreachable; asking it for each of hundreds of due names
    // would only pile up failures, audit events and timeouts while new requests wait.
    expect(views.map((v) => [v.state, v.attempts, v.problem?.type ?? null])).toEqual([
      ['failed', 1, 'switchyard:caUnreachable'],
      ['pending', 0, null],
      ['pending', 0, null],
    ]);
    expect(Date.parse(views[1].nextAttemptAt)).toBeLessThanOrEqual(Date.now());
  });
});
