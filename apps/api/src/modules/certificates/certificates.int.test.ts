/**
 * Certificates through the API: issue, upload with specific validation errors, keys sealed
 * at rest and never returned, attach via external access (auto-issue on terminate), replace
 * (one config version per route, NOTIFY last), delete rules, the CA download, rotation.
 */
import { randomBytes } from 'node:crypto';
import { createCertificateAuthority, createSelfSigned, issueCertificate, Keyring } from '@switchyard/pki';
import { mintUnchecked } from '@switchyard/pki/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';
import { CertificatesService } from './certificates.service.js';

const KEYS = `k1:${randomBytes(32).toString('base64')}`;
let h: Harness;
let owner: string;
let otherOwner: string;
const base = '/api/v1/tenants/acme/certificates';
const host = 'orders.acme.db.example.com';
const privateCa = createCertificateAuthority({ commonName: 'Acme Private CA' });

beforeAll(async () => {
  h = await createHarness({ SWITCHYARD_KEYS: KEYS });
  ({ token: owner } = await seedTenant(h, 'acme'));
  ({ token: otherOwner } = await seedTenant(h, 'globex'));
  for (const name of ['orders', 'billing']) {
    const r = await h.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: 5499 } }, owner);
    expect(r.statusCode).toBe(201);
  }
});

afterAll(async () => {
  await h?.close();
});

describe('issuing', () => {
  it('issues from the platform CA, never returns or stores the key in clear', async () => {
    const r = await h.call('POST', base, { name: 'orders', type: 'platform-ca', hostnames: [host, '*.acme.db.example.com'] }, owner);
    expect(r.statusCode).toBe(201);
    const c = r.json();
    expect(c).toMatchObject({ kind: 'issued', hostnames: [host, '*.acme.db.example.com'], caUrl: '/api/v1/pki/ca.pem', publiclyTrusted: false, auto: false });
    expect(c.expiresInDays).toBeGreaterThanOrEqual(396);
    expect(r.body).not.toMatch(/PRIVATE KEY/);
    const row = await h.app.prisma.certificate.findUniqueOrThrow({ where: { id: c.id } });
    expect(row.keyCiphertext!.startsWith('k1:')).toBe(true);
    expect(row.keyCiphertext).not.toMatch(/PRIVATE/);
    expect(Keyring.parse(KEYS).decrypt(row.keyCiphertext!, row.id)).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    // The CA download verifies it.
    const ca = await h.call('GET', '/api/v1/pki/ca.pem', undefined, null);
    expect(ca.statusCode).toBe(200);
    expect(ca.headers['content-type']).toContain('application/x-pem-file');
    const { X509Certificate } = await import('node:crypto');
    expect(new X509Certificate(c.certificatePem).verify(new X509Certificate(ca.body).publicKey)).toBe(true);
    const audit = await h.app.prisma.auditEvent.findFirstOrThrow({ where: { targetId: c.id } });
    expect(audit.action).toBe('certificate.issue');
    expect(JSON.stringify(audit.changes)).not.toMatch(/PRIVATE/);
  });

  it('issues self-signed; refuses names outside the tenant and duplicate names', async () => {
    const r = await h.call('POST', base, { name: 'self', type: 'self-signed', hostnames: ['billing.acme.db.example.com'] }, owner);
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ kind: 'self-signed', caUrl: null });
    const foreign = await h.call('POST', base, { name: 'evil', type: 'platform-ca', hostnames: ['orders.globex.db.example.com'] }, owner);
    expect(foreign.statusCode).toBe(422);
    expect(foreign.json()).toMatchObject({ code: 'SY_HOSTNAME_NOT_ALLOWED', details: [{ field: 'body.hostnames.0' }] });
    const dup = await h.call('POST', base, { name: 'self', type: 'self-signed', hostnames: ['billing.acme.db.example.com'] }, owner);
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('SY_CERTIFICATE_EXISTS');
  });

  it('lists each host name once in the certificate, however often (and in whatever case) it was sent', async () => {
    const r = await h.call('POST', base, { name: 'dup-names', type: 'platform-ca', hostnames: [host, host.toUpperCase(), `${host}.`] }, owner);
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().hostnames).toEqual([host]);
    const { X509Certificate } = await import('node:crypto');
    expect(new X509Certificate(r.json().certificatePem).subjectAltName).toBe(`DNS:${host}`);
    expect((await h.call('DELETE', `${base}/${r.json().id}`, undefined, owner)).statusCode).toBe(204);
  });

  it('validates bodies: unknown fields, bad types, bad host names', async () => {
    const unknown = await h.call('POST', base, { name: 'x', type: 'self-signed', hostnames: [host], extra: 1 }, owner);
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().details[0].field).toBe('body.extra');
    const wrongType = await h.call('POST', base, { name: 'x', type: 'acme', hostnames: [host] }, owner);
    expect(wrongType.statusCode).toBe(400);
    const badHost = await h.call('POST', base, { name: 'x', type: 'self-signed', hostnames: ['not a host'] }, owner);
    expect(badHost.statusCode).toBe(400);
    expect(badHost.json().details[0].field).toBe('body.hostnames.0');
    const long = await h.call('POST', base, { name: 'x'.repeat(101), type: 'self-signed', hostnames: [host] }, owner);
    expect(long.statusCode).toBe(400);
    expect(long.json().details[0].field).toBe('body.name');
  });
});

describe('uploading', () => {
  const leaf = issueCertificate(privateCa, { hostnames: [host] });
  const upload = (body: Record<string, unknown>) => h.call('POST', `${base}/upload`, { name: `up-${randomBytes(4).toString('hex')}`, ...body }, owner);

  it('accepts a valid chain and key', async () => {
    const r = await upload({ certificatePem: leaf.certPem + privateCa.certPem, privateKeyPem: leaf.keyPem, hostnames: [host] });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ kind: 'uploaded', hostnames: [host], publiclyTrusted: false });
    expect(r.body).not.toMatch(/PRIVATE KEY/);
  });

  it('answers each problem with its own code and field', async () => {
    const other = createSelfSigned({ hostnames: ['x.example.com'] });
    const day = 86_400_000;
    const expired = issueCertificate(privateCa, { hostnames: [host], notBefore: new Date(Date.now() - 5 * day), notAfter: new Date(Date.now() - day) });
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ certificatePem: 'garbage', privateKeyPem: leaf.keyPem }, 'SY_CERTIFICATE_PEM_INVALID', 'body.certificatePem'],
      [{ certificatePem: leaf.certPem, privateKeyPem: 'garbage' }, 'SY_CERTIFICATE_KEY_INVALID', 'body.privateKeyPem'],
      [{ certificatePem: leaf.certPem, privateKeyPem: other.keyPem }, 'SY_CERTIFICATE_KEY_MISMATCH', 'body.privateKeyPem'],
      [{ certificatePem: leaf.certPem + other.certPem, privateKeyPem: leaf.keyPem }, 'SY_CERTIFICATE_CHAIN_ORDER', 'body.certificatePem'],
      [{ certificatePem: expired.certPem, privateKeyPem: expired.keyPem }, 'SY_CERTIFICATE_EXPIRED', 'body.certificatePem'],
      [{ certificatePem: leaf.certPem, privateKeyPem: leaf.keyPem, hostnames: ['billing.acme.db.example.com'] }, 'SY_CERTIFICATE_HOSTNAME_MISMATCH', 'body.hostnames'],
    ];
    for (const [body, code, field] of cases) {
      const r = await upload(body);
      expect(r.statusCode, code).toBe(422);
      expect(r.json().code, code).toBe(code);
      expect(r.json().details[0].field, code).toBe(field);
      expect(r.body).not.toContain(leaf.keyPem.slice(40, 80));
    }
  });
});

describe('uploading what cannot serve a route', () => {
  it('refuses a CA certificate and a leaf without DNS or IP subjectAltNames on the chain, and stores neither', async () => {
    const before = await h.app.prisma.certificate.count();
    const noSan = mintUnchecked({ issuer: privateCa, commonName: host });
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ certificatePem: privateCa.certPem, privateKeyPem: privateCa.keyPem }, 'SY_CERTIFICATE_NOT_LEAF', 'CA:TRUE'],
      [{ certificatePem: noSan.certPem + privateCa.certPem, privateKeyPem: noSan.keyPem }, 'SY_CERTIFICATE_NO_HOSTNAMES', 'no DNS or IP subjectAltName'],
    ];
    for (const [body, code, says] of cases) {
      const r = await h.call('POST', `${base}/upload`, { name: `leafless-${code}`, ...body }, owner);
      expect(r.statusCode, code).toBe(422);
      expect(r.json(), code).toMatchObject({ code, details: [{ field: 'body.certificatePem', chainIndex: 0 }] });
      expect(r.json().message, code).toContain(says);
    }
    expect(await h.app.prisma.certificate.count()).toBe(before);
  });
});

describe('uploading a chain out of order', () => {
  it('answers SY_CERTIFICATE_CHAIN_ORDER on the chain, not a key mismatch, when the leaf is not first', async () => {
    const intermediate = createCertificateAuthority({ commonName: 'Acme Intermediate', issuer: privateCa });
    const leaf = issueCertificate(intermediate, { hostnames: [host] });
    const r = await h.call('POST', `${base}/upload`, { name: 'out-of-order', certificatePem: intermediate.certPem + leaf.certPem, privateKeyPem: leaf.keyPem }, owner);
    expect(r.statusCode).toBe(422);
    expect(r.json()).toMatchObject({ code: 'SY_CERTIFICATE_CHAIN_ORDER', details: [{ field: 'body.certificatePem', chainIndex: 1 }] });
    expect(r.json().message).toContain('certificate 2 of the chain');
    // A key of no certificate in the bundle is still a mismatch, on the key.
    const stranger = createSelfSigned({ hostnames: ['x.example.com'] });
    const mismatch = await h.call('POST', `${base}/upload`, { name: 'out-of-order', certificatePem: intermediate.certPem + leaf.certPem, privateKeyPem: stranger.keyPem }, owner);
    expect(mismatch.json()).toMatchObject({ code: 'SY_CERTIFICATE_KEY_MISMATCH', details: [{ field: 'body.privateKeyPem' }] });
  });
});

describe('attaching through external access', () => {
  const access = (db: string, body: unknown) => h.call('PUT', `/api/v1/tenants/acme/databases/${db}/external-access`, body, owner);

  it('issues a certificate automatically when terminate is enabled without one', async () => {
    const r = await access('orders', { enabled: true, tlsMode: 'terminate', upstreamTls: false });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ tlsMode: 'terminate', upstreamTls: false, certificate: { kind: 'issued', auto: true }, ca: { fileName: 'switchyard-ca.pem', url: '/api/v1/pki/ca.pem' } });
    expect(body.ca.pem).toMatch(/BEGIN CERTIFICATE/);
    expect(body.connection.psql).toContain('sslmode=verify-full sslrootcert=switchyard-ca.pem');
    expect(body.connection.jdbc).toContain('sslrootcert=switchyard-ca.pem');
    expect(body.connection.nodePostgres).toContain(`servername: '${host}'`);
    const route = await h.app.prisma.route.findFirstOrThrow({ where: { hostname: host }, include: { certificate: true } });
    expect(route.certificate!.hostnames).toEqual([host]);
  });

  it('attaches a chosen certificate that covers the host, refuses one that does not or is another tenant’s', async () => {
    const list = (await h.call('GET', base, undefined, owner)).json().items as Array<{ id: string; name: string; auto: boolean; routes: unknown[] }>;
    const chosen = list.find((c) => c.name === 'orders')!;
    const self = list.find((c) => c.name === 'self')!;
    const autoId = list.find((c) => c.auto)!.id;
    const r = await access('orders', { enabled: true, certificateId: chosen.id });
    expect(r.statusCode).toBe(200);
    expect(r.json().certificate.id).toBe(chosen.id);
    // The automatic certificate went with its route's change.
    expect(await h.app.prisma.certificate.findUnique({ where: { id: autoId } })).toBeNull();
    const mismatch = await access('orders', { enabled: true, certificateId: self.id });
    expect(mismatch.statusCode).toBe(422);
    expect(mismatch.json()).toMatchObject({ code: 'SY_CERTIFICATE_HOSTNAME_MISMATCH', details: [{ field: 'body.certificateId' }] });
    const g = await h.call('POST', '/api/v1/tenants/globex/certificates', { name: 'g', type: 'self-signed', hostnames: ['x.globex.db.example.com'] }, otherOwner);
    const foreign = await access('orders', { enabled: true, certificateId: g.json().id });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toMatchObject({ code: 'SY_CERTIFICATE_NOT_FOUND', details: [{ field: 'body.certificateId' }] });
    const badCa = await access('orders', { enabled: true, upstreamCa: 'not pem' });
    expect(badCa.statusCode).toBe(422);
    expect(badCa.json()).toMatchObject({ code: 'SY_UPSTREAM_CA_INVALID', details: [{ field: 'body.upstreamCa', message: expect.stringMatching(/^is not PEM/) }] });
    // A whole Secret pasted (the CA and its key): refused, the key neither stored nor echoed.
    const withKey = await access('orders', { enabled: true, upstreamCa: `${privateCa.certPem}${privateCa.keyPem}` });
    expect(withKey.statusCode).toBe(422);
    expect(withKey.json()).toMatchObject({ code: 'SY_UPSTREAM_CA_INVALID', details: [{ field: 'body.upstreamCa', message: expect.stringMatching(/^holds a private key/) }] });
    expect(withKey.body).not.toContain(privateCa.keyPem.split('\n')[1]);
  });

  it('lists certificates with expiry and the routes using them; refuses deleting one in use', async () => {
    const items = (await h.call('GET', base, undefined, owner)).json().items as Array<{ id: string; name: string; routes: Array<{ hostname: string }>; notAfter: string; expiresInDays: number }>;
    const used = items.find((c) => c.name === 'orders')!;
    expect(used.routes.map((r) => r.hostname)).toEqual([host]);
    expect(typeof used.expiresInDays).toBe('number');
    const del = await h.call('DELETE', `${base}/${used.id}`, undefined, owner);
    expect(del.statusCode).toBe(409);
    expect(del.json().code).toBe('SY_CERTIFICATE_IN_USE');
    const unused = items.find((c) => c.name === 'self')!;
    expect((await h.call('DELETE', `${base}/${unused.id}`, undefined, owner)).statusCode).toBe(204);
    expect((await h.call('GET', `${base}/${unused.id}`, undefined, owner)).statusCode).toBe(404);
  });

  it('replacing a certificate bumps one config version per route in its transaction', async () => {
    const ca = (await h.call('GET', base, undefined, owner)).json().items.find((c: { name: string }) => c.name === 'orders');
    // Attach the same certificate to a second route (it covers *.acme.db.example.com).
    expect((await access('billing', { enabled: true, tlsMode: 'terminate', certificateId: ca.id })).statusCode).toBe(200);
    const before = await h.app.prisma.configState.findUniqueOrThrow({ where: { id: 1 } });
    const r = await h.call('PUT', `${base}/${ca.id}`, {}, owner);
    expect(r.statusCode).toBe(200);
    expect(r.json().certificate.fingerprint).not.toBe(ca.fingerprint);
    expect(r.json().propagation.version).toBe(Number(before.version) + 2);
    const changes = await h.app.prisma.configChange.findMany({ where: { version: { gt: before.version } }, orderBy: { version: 'asc' } });
    expect(changes.map((c) => c.hostname).sort()).toEqual(['billing.acme.db.example.com', host]);
    expect(changes.map((c) => Number(c.version))).toEqual([Number(before.version) + 1, Number(before.version) + 2]);
    // An uploaded certificate must be replaced by an upload; issued ones by re-issuing.
    const wrong = await h.call('PUT', `${base}/${ca.id}`, { certificatePem: 'x', privateKeyPem: 'y' }, owner);
    expect(wrong.statusCode).toBe(400);
  });

  it('refuses replacing an uploaded certificate with one that does not cover its routes, on body.certificatePem, and keeps the old one', async () => {
    const ledger = 'ledger.acme.db.example.com';
    expect((await h.call('POST', '/api/v1/tenants/acme/databases', { name: 'ledger', engine: 'postgres', upstream: { host: '127.0.0.1', port: 5499 } }, owner)).statusCode).toBe(201);
    const first = issueCertificate(privateCa, { hostnames: [ledger] });
    const up = await h.call('POST', `${base}/upload`, { name: 'ledger-up', certificatePem: first.certPem, privateKeyPem: first.keyPem }, owner);
    expect(up.statusCode, up.body).toBe(201);
    expect((await access('ledger', { enabled: true, tlsMode: 'terminate', certificateId: up.json().id })).statusCode).toBe(200);
    const wrong = issueCertificate(privateCa, { hostnames: ['other.acme.db.example.com'] });
    const r = await h.call('PUT', `${base}/${up.json().id}`, { certificatePem: wrong.certPem, privateKeyPem: wrong.keyPem }, owner);
    expect(r.statusCode).toBe(422);
    // The PUT has no `hostnames`: the error names the field that has to change.
    expect(r.json()).toMatchObject({ code: 'SY_CERTIFICATE_HOSTNAME_MISMATCH', details: [{ field: 'body.certificatePem' }] });
    expect(r.json().details[0].message).toContain(`do not cover ${ledger}, a host name of a route using this certificate`);
    const after = (await h.call('GET', `${base}/${up.json().id}`, undefined, owner)).json();
    expect(after.fingerprint).toBe(up.json().fingerprint);
  });

  it('refuses validDays when replacing an uploaded certificate, on body.validDays, and keeps the old one', async () => {
    const first = issueCertificate(privateCa, { hostnames: [host] });
    const up = await h.call('POST', `${base}/upload`, { name: 'valid-days-up', certificatePem: first.certPem, privateKeyPem: first.keyPem }, owner);
    expect(up.statusCode, up.body).toBe(201);
    const next = issueCertificate(privateCa, { hostnames: [host] });
    const r = await h.call('PUT', `${base}/${up.json().id}`, { certificatePem: next.certPem, privateKeyPem: next.keyPem, validDays: 90 }, owner);
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: 'body.validDays' }] });
    // validDays alone: both the stray field and the missing chain and key are named.
    const alone = await h.call('PUT', `${base}/${up.json().id}`, { validDays: 90 }, owner);
    expect(alone.statusCode).toBe(400);
    expect(alone.json().details.map((d: { field: string }) => d.field)).toEqual(['body.validDays', 'body.certificatePem', 'body.privateKeyPem']);
    expect((await h.call('GET', `${base}/${up.json().id}`, undefined, owner)).json().fingerprint).toBe(up.json().fingerprint);
    // Without it, the same replacement goes through.
    const ok = await h.call('PUT', `${base}/${up.json().id}`, { certificatePem: next.certPem, privateKeyPem: next.keyPem }, owner);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().certificate.fingerprint).not.toBe(up.json().fingerprint);
  });

  it('isolates tenants', async () => {
    const mine = (await h.call('GET', base, undefined, owner)).json().items[0];
    expect((await h.call('GET', `/api/v1/tenants/acme/certificates/${mine.id}`, undefined, otherOwner)).statusCode).toBe(404);
    expect((await h.call('GET', `/api/v1/tenants/globex/certificates/${mine.id}`, undefined, otherOwner)).statusCode).toBe(404);
    expect((await h.call('GET', base, undefined, null)).statusCode).toBe(401);
    expect((await h.call('DELETE', `${base}/${mine.id}`, undefined, otherOwner)).statusCode).toBe(404);
  });
});

describe('key rotation', () => {
  it('re-encrypts every key under the new active key; the old key can then go', async () => {
    const rotated = Keyring.parse(`${KEYS},k2:${randomBytes(32).toString('base64')}`);
    const result = await CertificatesService.reencryptAll(h.app.prisma, rotated);
    expect(result.reencrypted).toBe(result.total);
    expect(result.total).toBeGreaterThan(2);
    const rows = await h.app.prisma.certificate.findMany();
    for (const r of rows) expect(r.keyCiphertext!.startsWith('k2:')).toBe(true);
    const again = await CertificatesService.reencryptAll(h.app.prisma, rotated);
    expect(again.reencrypted).toBe(0);
  });
});
