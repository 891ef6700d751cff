/**
 * How an API refusal reads on the object: its condition reason, and a message that starts with
 * the ExternalAccess field at fault (`spec.upstreamCa`), not the API body's (`body.upstreamCa`).
 */
import { AppError } from '@switchyard/api';
import { describe, expect, it } from 'vitest';
import { refusalMessage, refusalReason, specFieldOf } from './apply.js';
import { keepsRoute, NEVER_KEPT, UPSTREAM_CA_INVALID } from './translate/translate.js';

const named = { customHostname: true };
const defaulted = { customHostname: false };

describe('refusalMessage', () => {
  it('names the spec field of the upstream TLS leg the API refused', () => {
    const ca = new AppError('SY_UPSTREAM_CA_INVALID', 'upstreamCa must hold one or more PEM certificates', [{ field: 'body.upstreamCa', message: 'is not a PEM certificate' }]);
    expect(refusalMessage(ca, named)).toBe('spec.upstreamCa: must hold one or more PEM certificates');
    // The reason the translator gives a CA it refuses itself.
    expect(refusalReason(ca)).toBe(UPSTREAM_CA_INVALID);
    expect(UPSTREAM_CA_INVALID).toBe('UpstreamCaInvalid');
    const name = new AppError('SY_VALIDATION', 'body.upstreamServerName "10.0.0.1" is not a DNS name (the name in the upstream\'s certificate, e.g. pg.tenant.svc)', [
      { field: 'body.upstreamServerName', message: 'is not a DNS name (no IP addresses, ports or wildcards)' },
    ]);
    expect(refusalReason(name)).toBe('Invalid');
    expect(refusalMessage(name, named)).toBe('spec.upstreamServerName: "10.0.0.1" is not a DNS name (the name in the upstream\'s certificate, e.g. pg.tenant.svc)');
  });

  it('maps list items and the certificate, and leaves the hostname alone when the object names none', () => {
    const cidr = new AppError('SY_VALIDATION', 'body.sourceCidrs.2 "10.0.0.1/8" is not a CIDR with zero host bits', [{ field: 'body.sourceCidrs.2', message: 'is not a CIDR' }]);
    expect(refusalMessage(cidr, named)).toBe('spec.sourceCidrs[2]: "10.0.0.1/8" is not a CIDR with zero host bits');
    const cert = new AppError('SY_CERTIFICATE_HOSTNAME_MISMATCH', 'Certificate acme-wildcard does not cover x.acme.example.test', [{ field: 'body.certificateId', message: 'is not covered' }]);
    expect(refusalMessage(cert, named)).toBe('spec.certificate.name: Certificate acme-wildcard does not cover x.acme.example.test');
    const taken = new AppError('SY_HOSTNAME_TAKEN', undefined, [{ field: 'body.hostname', message: 'is taken' }]);
    expect(refusalMessage(taken, named)).toBe('spec.hostname: This hostname is already used by another route');
    // The default hostname is the controller's choice: no field of the object to blame.
    expect(specFieldOf(taken, defaulted)).toBeNull();
    expect(refusalMessage(taken, defaulted)).toBe('This hostname is already used by another route');
    // Fields the object does not set are left as the API said them.
    expect(refusalMessage(new AppError('SY_UPSTREAM_NOT_ALLOWED', 'refused by policy', [{ field: 'body.endpoints.0.host', message: 'x' }]), named)).toBe('refused by policy');
    expect(refusalMessage(new AppError('SY_CONFLICT', 'no details'), named)).toBe('no details');
  });

  it('names spec.enabled when the tenant’s external-access limit refuses a route, with the API’s message', () => {
    const message = 'The tenant may have at most 2 databases with external access (maxExternalAccess) and has 2; disable external access of another, or ask a platform admin to raise the limit';
    const limit = new AppError('SY_TENANT_LIMIT', message, [{ field: 'body.enabled', message, limit: 'maxExternalAccess', max: 2, usage: 2 }]);
    expect(refusalReason(limit)).toBe('TenantLimitReached');
    expect(refusalMessage(limit, defaulted)).toBe(`spec.enabled: ${message}`);
    // The database count: the object has no name field (the controller names the database), so the API's message stands.
    const dbs = new AppError('SY_TENANT_LIMIT', 'The tenant may have at most 1 database (maxDatabases) and has 1; delete one, or ask a platform admin to raise the limit', [{ field: 'body.name', message: 'x' }]);
    expect(refusalMessage(dbs, named)).toBe(dbs.message);
  });
});

describe('which refusals keep the route an object already has (bad input loses nothing)', () => {
  it.each([
    // The object's own spec: the route of its last accepted generation keeps serving.
    ['SY_HOSTNAME_NOT_ALLOWED', 'HostnameNotAllowed', true],
    ['SY_HOSTNAME_TAKEN', 'HostnameConflict', true], // the new name is taken; the route keeps its own
    ['SY_CERTIFICATE_NOT_FOUND', 'CertificateNotFound', true],
    ['SY_CERTIFICATE_HOSTNAME_MISMATCH', 'CertificateMismatch', true],
    ['SY_UPSTREAM_CA_INVALID', 'UpstreamCaInvalid', true],
    ['SY_VALIDATION', 'Invalid', true],
    ['SY_LISTENER_MISMATCH', 'Invalid', true],
    ['SY_EGRESS_SOURCE_NOT_ALLOWED', 'Invalid', true], // any other content refusal
    ['SY_TENANT_LIMIT', 'TenantLimitReached', true], // only enabling it again can meet a limit: it stays as it is
    // The world: the tenant's boundary wins, the route goes.
    ['SY_UPSTREAM_NOT_ALLOWED', 'UpstreamNotAllowed', false],
  ])('%s → %s, kept: %s', (code, reason, kept) => {
    const e = new AppError(code as never, 'x');
    expect(refusalReason(e)).toBe(reason);
    expect(keepsRoute(refusalReason(e))).toBe(kept);
  });

  it('never keeps a route for the refusals the world causes', () => {
    expect([...NEVER_KEPT].sort()).toEqual(['NamespaceNotMapped', 'ServiceNotFound', 'TenantNotFound', 'UpstreamNotAllowed']);
    for (const reason of ['Invalid', 'EngineUnknown', 'UpstreamCaInvalid', 'HostnameConflict', 'DatabaseNameConflict']) expect(keepsRoute(reason)).toBe(true);
  });
});
