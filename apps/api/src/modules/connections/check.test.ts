import { buildBackendMessage, buildErrorResponse } from '@switchyard/wire';
import { describe, expect, it } from 'vitest';
import {
  alertOf,
  certificateStep,
  explainProxyReason,
  explainSocketError,
  explainSslAnswer,
  explainTlsFailure,
  parseFirstBackendMessage,
  skipped,
  summarize,
  upstreamStepFromMessage,
  type CheckStep,
  type PresentedCertificate,
} from './check.js';

const host = 'orders.acme.db.example.com';
const cert: PresentedCertificate = {
  subject: `CN=${host}`,
  issuer: 'CN=Switchyard CA',
  subjectAltNames: [host],
  notBefore: '2026-01-01T00:00:00.000Z',
  notAfter: '2027-01-01T00:00:00.000Z',
  expiresInDays: 200,
  fingerprint256: 'AA:BB',
};
const now = Date.parse('2026-06-01T00:00:00Z');

describe('check connection steps', () => {
  it('names the first failing step, ignoring the ones that did not run', () => {
    const ok = (step: CheckStep['step']): CheckStep => ({ step, ok: true, ms: 1, message: 'fine' });
    expect(summarize([ok('reach'), ok('tls'), ok('certificate'), ok('upstream')])).toMatchObject({ ok: true, failedStep: null });
    const s = summarize([ok('reach'), ok('tls'), skipped('certificate'), { step: 'upstream', ok: false, ms: 3, message: 'database down' }]);
    expect(s).toMatchObject({ ok: false, failedStep: 'upstream' });
    expect(s.message).toContain('database down');
    expect(summarize([{ step: 'reach', ok: false, ms: 0, message: 'refused' }, skipped('tls'), skipped('certificate'), skipped('upstream')]).failedStep).toBe('reach');
    // The dedicated port fails the check; the optional endpoint path is only reported.
    const shared = [ok('reach'), ok('tls'), ok('certificate'), ok('upstream')];
    expect(summarize([...shared, { step: 'dedicated', ok: false, ms: 1, message: 'Dedicated port 20000: refused' }])).toMatchObject({ ok: false, failedStep: 'dedicated' });
    const opt = summarize([...shared, ok('dedicated'), { step: 'endpoint', ok: false, optional: true, ms: 1, message: 'no default certificate' }]);
    expect(opt).toMatchObject({ ok: true, failedStep: null });
    expect(opt.message).toContain('Not available: no default certificate');
  });

  it('explains socket errors reaching the proxy', () => {
    expect(explainSocketError({ code: 'ECONNREFUSED', message: 'x' }, '127.0.0.1:5432')).toMatch(/Nothing accepts connections at 127.0.0.1:5432/);
    expect(explainSocketError({ code: 'CHECK_TIMEOUT', message: 'x' }, 'p:1')).toMatch(/No answer from p:1/);
    expect(explainSocketError({ code: 'EWHATEVER', message: 'odd' }, 'p:1')).toContain('odd');
  });

  it('reads the answer to the SSLRequest', () => {
    expect(explainSslAnswer(0x53).ok).toBe(true);
    expect(explainSslAnswer(0x4e)).toMatchObject({ ok: false, message: expect.stringContaining('answered N') });
    expect(explainSslAnswer(null).ok).toBe(false);
    expect(explainSslAnswer(0x45).message).toContain('0x45');
  });

  it('prefers the reason the proxy recorded over the TLS alert', () => {
    const alert = { code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME', message: 'tlsv1 unrecognized name' };
    expect(alertOf(alert)).toBe('unrecognized_name');
    expect(alertOf({ code: 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR', message: 'x' })).toBe('internal_error');
    expect(explainTlsFailure(alert, { hostname: host, proxyReason: null })).toContain('does not serve');
    expect(explainTlsFailure(alert, { hostname: host, proxyReason: 'route_disabled' })).toMatch(/disabled/);
    expect(explainProxyReason('upstream_unreachable', { hostname: host, upstream: '10.0.0.7:5432' })).toContain('10.0.0.7:5432');
    expect(explainProxyReason('something_new', { hostname: host })).toContain('something_new');
  });

  it('tells a passthrough database refusing TLS apart from a terminate-mode one', () => {
    const up = { hostname: host, upstream: '10.0.0.7:5432' };
    expect(explainProxyReason('upstream_tls_refused_passthrough', up)).toMatch(/passthrough mode .* database must have SSL on/);
    expect(explainProxyReason('upstream_tls_refused', up)).toContain('Enable SSL on the database');
    expect(explainProxyReason('terminated', up)).toContain('terminate order');
  });

  it('reports whether the certificate verifies with the CA the connect panel offers', () => {
    expect(certificateStep(cert, { caSource: 'platform', authorizationError: null, hostnameError: null, now }, 0)).toMatchObject({ ok: true, message: expect.stringContaining('platform CA') });
    expect(certificateStep(cert, { caSource: 'platform', authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', hostnameError: null, now }, 0)).toMatchObject({ ok: false, message: expect.stringContaining('does NOT verify') });
    expect(certificateStep(cert, { caSource: 'route', authorizationError: null, hostnameError: "Host: x. is not in the cert's altnames", now }, 0).ok).toBe(false);
    expect(certificateStep(cert, { caSource: 'system', authorizationError: null, hostnameError: null, now: Date.parse('2027-02-01T00:00:00Z') }, 0).message).toContain('EXPIRED');
    // Passthrough: the database's own certificate; the platform has no CA to judge it by.
    const pass = certificateStep(cert, { caSource: 'database', authorizationError: 'SELF_SIGNED', hostnameError: null, now }, 0);
    expect(pass).toMatchObject({ ok: true, message: expect.stringContaining('database’s own certificate') });
  });

  it('tells the database’s first answer from a refusal by the proxy', () => {
    const auth = Buffer.alloc(4);
    auth.writeInt32BE(10);
    const sasl = parseFirstBackendMessage(buildBackendMessage('R', auth));
    expect(sasl).toEqual({ kind: 'auth', method: 'SASL (SCRAM)' });
    expect(upstreamStepFromMessage(sasl as never, 4)).toMatchObject({ ok: true, message: expect.stringContaining('SCRAM') });
    const noRole = parseFirstBackendMessage(buildErrorResponse({ sqlstate: '28000', message: 'role "switchyard_check" does not exist' }));
    expect(noRole).toMatchObject({ kind: 'error', fromProxy: false });
    expect(upstreamStepFromMessage(noRole as never, 1).ok).toBe(true);
    const refused = parseFirstBackendMessage(buildErrorResponse({ sqlstate: '08006', message: 'Switchyard: the database is unreachable' }));
    expect(refused).toMatchObject({ kind: 'error', fromProxy: true });
    expect(upstreamStepFromMessage(refused as never, 1)).toMatchObject({ ok: false, message: 'The proxy: the database is unreachable' });
    // Split anywhere: needs more; garbage: invalid.
    const whole = buildBackendMessage('R', auth);
    for (let i = 0; i < whole.length; i++) expect(parseFirstBackendMessage(whole.subarray(0, i)).kind).toBe('need-more');
    expect(parseFirstBackendMessage(Buffer.from([0x52, 0xff, 0xff, 0xff, 0xff])).kind).toBe('invalid');
  });
});
