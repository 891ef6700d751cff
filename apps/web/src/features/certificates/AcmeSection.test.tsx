import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../lib/api/client';
import { renderUi } from '../../test/render';
import { AcmeNotice } from '../databases/ConnectPanel';
import { ACME_UNAVAILABLE_REASON, AcmeRequestForm, AcmeTable } from './AcmeSection';
import type { AcmeCertificate } from './api';

function acme(over: Partial<AcmeCertificate>): AcmeCertificate {
  return {
    id: crypto.randomUUID(),
    hostname: 'orders.acme.db.example.com',
    challenge: 'tls-alpn-01',
    state: 'pending',
    problem: null,
    attempts: 0,
    nextAttemptAt: '2026-12-06T04:00:00.000Z',
    renewAt: null,
    lastIssuedAt: null,
    certificate: null,
    servedWith: { certificateId: 'c0', kind: 'issued' },
    createdAt: '2026-12-06T03:59:00.000Z',
    updatedAt: '2026-12-06T03:59:00.000Z',
    ...over,
  };
}

const ISSUED = acme({
  hostname: 'billing.acme.db.example.com',
  state: 'issued',
  nextAttemptAt: '2027-01-30T08:00:00.000Z',
  renewAt: '2027-01-30T08:00:00.000Z',
  lastIssuedAt: '2026-12-01T08:00:00.000Z',
  certificate: { id: 'c1', fingerprint: 'AB', issuer: 'CN=R11', notBefore: '2026-12-01T07:00:00.000Z', notAfter: '2027-03-01T07:00:00.000Z', expiresInDays: 85, publiclyTrusted: true },
  servedWith: { certificateId: 'c1', kind: 'acme' },
});
const FAILED = acme({
  hostname: 'cache.acme.db.example.com',
  state: 'failed',
  attempts: 2,
  nextAttemptAt: '2026-12-06T06:00:00.000Z',
  problem: { type: 'urn:ietf:params:acme:error:connection', detail: 'Connection refused by 203.0.113.7:443', status: 400, at: '2026-12-06T04:00:00.000Z', renewal: false },
});

function row(hostname: string) {
  return screen.getByTestId(`acme-${hostname}`);
}

describe('ACME certificates table', () => {
  it('marks an ACME certificate whose renewals failed until it expired', () => {
    const expired = {
      ...ISSUED,
      certificate: { ...ISSUED.certificate!, notAfter: '2020-03-01T07:00:00.000Z', expiresInDays: -5 },
      problem: { type: 'urn:ietf:params:acme:error:connection', detail: 'Connection refused', at: '2020-03-01T06:00:00.000Z', renewal: true },
    };
    renderUi(<AcmeTable items={[expired, { ...ISSUED, id: 'y', hostname: 'ok.acme.db.example.com', certificate: { ...ISSUED.certificate!, notAfter: '2999-01-01T00:00:00.000Z' } }]} manage available readOnlyReason="read-only" onRenew={() => {}} onDelete={() => {}} />);
    expect(within(row('billing.acme.db.example.com')).getByText('expired')).toBeInTheDocument();
    expect(within(row('ok.acme.db.example.com')).queryByText('expired')).toBeNull();
  });

  it('says which certificate the route really serves: another one attached after issuance is not “the ACME certificate”, nor a platform-CA one', () => {
    renderUi(
      <AcmeTable
        items={[
          { ...ISSUED, servedWith: { certificateId: 'u1', kind: 'uploaded' } },
          { ...ISSUED, id: 'x', hostname: 'ledger.acme.db.example.com', servedWith: { certificateId: 'p1', kind: 'issued' } },
          acme({ hostname: 'cache.acme.db.example.com', servedWith: { certificateId: 's1', kind: 'self-signed' } }),
        ]}
        manage
        available
        readOnlyReason="read-only"
        onRenew={() => {}}
        onDelete={() => {}}
      />,
    );
    const uploaded = within(row('billing.acme.db.example.com'));
    expect(uploaded.getByText('an uploaded certificate, not the ACME one (attach it to the route to serve it)')).toBeInTheDocument();
    expect(uploaded.queryByText('the ACME certificate')).toBeNull();
    expect(within(row('ledger.acme.db.example.com')).getByText('a platform-CA certificate, not the ACME one (attach it to the route to serve it)')).toBeInTheDocument();
    expect(within(row('cache.acme.db.example.com')).getByText('a self-signed certificate until the ACME one is issued')).toBeInTheDocument();
  });

  it('shows each state, the CA’s failure reason, renewal date, next attempt and what the route serves meanwhile', () => {
    renderUi(
      <AcmeTable
        items={[acme({}), acme({ hostname: 'reports.acme.db.example.com', state: 'validating' }), ISSUED, FAILED]}
        manage
        available
        readOnlyReason="read-only"
        onRenew={() => {}}
        onDelete={() => {}}
      />,
    );
    const pending = within(row('orders.acme.db.example.com'));
    expect(pending.getByText('pending')).toBeInTheDocument();
    expect(pending.getByText('not issued yet')).toBeInTheDocument();
    expect(pending.getByText('2026-12-06 04:00 UTC')).toBeInTheDocument();
    expect(pending.getByText('a platform-CA certificate until the ACME one is issued')).toBeInTheDocument();

    expect(within(row('reports.acme.db.example.com')).getByText('validating')).toBeInTheDocument();

    const issued = within(row('billing.acme.db.example.com'));
    expect(issued.getByText('issued')).toBeInTheDocument();
    expect(issued.getByText('2027-03-01')).toBeInTheDocument(); // expires
    expect(issued.getByText('2027-01-30')).toBeInTheDocument(); // renews
    expect(issued.getByText('the ACME certificate')).toBeInTheDocument();
    expect(issued.getByRole('button', { name: 'Renew now: billing.acme.db.example.com' })).toBeEnabled();

    const failed = within(row('cache.acme.db.example.com'));
    expect(failed.getByText('failed')).toBeInTheDocument();
    expect(failed.getByRole('note')).toHaveTextContent('Failed: Connection refused by 203.0.113.7:443 (urn:ietf:params:acme:error:connection, 400)');
    expect(failed.getByText('after 2 failed attempts')).toBeInTheDocument();
    expect(failed.getByRole('button', { name: 'Retry now: cache.acme.db.example.com' })).toBeEnabled();
  });

  it('offers “Renew now” for an issued certificate and “Retry now” for a failed order, nothing while an order is pending or validating', () => {
    const onRenew = vi.fn();
    renderUi(
      <AcmeTable
        items={[acme({}), acme({ hostname: 'reports.acme.db.example.com', state: 'validating' }), ISSUED, FAILED]}
        manage
        available
        readOnlyReason="read-only"
        onRenew={onRenew}
        onDelete={() => {}}
      />,
    );
    for (const waiting of ['orders.acme.db.example.com', 'reports.acme.db.example.com']) {
      expect(within(row(waiting)).queryByRole('button', { name: /^(Renew|Retry) now/ })).toBeNull();
      // Stopping it is still possible.
      expect(within(row(waiting)).getByRole('button', { name: `Delete ACME certificate of ${waiting}` })).toBeEnabled();
    }
    expect(within(row('billing.acme.db.example.com')).getAllByRole('button', { name: /^(Renew|Retry) now/ }).map((b) => b.textContent)).toEqual(['Renew now']);
    expect(within(row('cache.acme.db.example.com')).getAllByRole('button', { name: /^(Renew|Retry) now/ }).map((b) => b.textContent)).toEqual(['Retry now']);
  });

  it('a failed renewal says the current certificate is still served', () => {
    renderUi(
      <AcmeTable
        items={[{ ...ISSUED, problem: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates', at: '2027-01-30T08:00:00.000Z', renewal: true } }]}
        manage
        available
        readOnlyReason="read-only"
        onRenew={() => {}}
        onDelete={() => {}}
      />,
    );
    expect(screen.getByRole('note')).toHaveTextContent('Renewal failed (the current certificate is still served): too many certificates');
    expect(screen.getByText('issued')).toBeInTheDocument();
  });

  it('renew now and delete call back with the certificate', async () => {
    const onRenew = vi.fn();
    const onDelete = vi.fn();
    renderUi(<AcmeTable items={[ISSUED]} manage available readOnlyReason="read-only" onRenew={onRenew} onDelete={onDelete} />);
    await userEvent.click(screen.getByRole('button', { name: 'Renew now: billing.acme.db.example.com' }));
    await userEvent.click(screen.getByRole('button', { name: 'Delete ACME certificate of billing.acme.db.example.com' }));
    expect(onRenew).toHaveBeenCalledWith(ISSUED);
    expect(onDelete).toHaveBeenCalledWith(ISSUED);
  });

  it('without ACME on the platform, renewing is disabled with the reason', () => {
    renderUi(<AcmeTable items={[ISSUED]} manage available={false} readOnlyReason="read-only" onRenew={() => {}} onDelete={() => {}} />);
    expect(screen.getByRole('button', { name: 'Renew now: billing.acme.db.example.com' })).toBeDisabled();
    expect(screen.getByLabelText(ACME_UNAVAILABLE_REASON)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /^Delete ACME/ })).toBeEnabled();
  });

  it('a member sees every control disabled with the role as the reason', () => {
    renderUi(<AcmeTable items={[ISSUED]} manage={false} available readOnlyReason="Your role is member" onRenew={() => {}} onDelete={() => {}} />);
    expect(screen.getByRole('button', { name: /^Renew/ })).toBeDisabled();
    expect(screen.getByRole('button', { name: /^Delete ACME/ })).toBeDisabled();
    expect(screen.getAllByLabelText('Your role is member')).toHaveLength(2);
  });
});

describe('requesting an ACME certificate', () => {
  it('sends the chosen route host name and challenge', async () => {
    const submit = vi.fn().mockResolvedValue({});
    const onDone = vi.fn();
    renderUi(<AcmeRequestForm hostnames={['orders.acme.db.example.com']} httpListener pending={false} submit={submit} onDone={onDone} />);
    await userEvent.click(screen.getByRole('radio', { name: /HTTP-01/ }));
    await userEvent.click(screen.getByRole('button', { name: 'Request certificate' }));
    expect(submit).toHaveBeenCalledWith({ hostname: 'orders.acme.db.example.com', challenge: 'http-01' });
    expect(onDone).toHaveBeenCalled();
  });

  it('shows the API’s refusal beside the host name field', async () => {
    const submit = vi.fn().mockRejectedValue(
      new ApiError(422, 'SY_ACME_ROUTE_REQUIRED', 'orders.acme.db.example.com is in passthrough mode', [{ field: 'body.hostname', message: 'is not a terminate-mode route' }], 'req-1'),
    );
    const onDone = vi.fn();
    renderUi(<AcmeRequestForm hostnames={['orders.acme.db.example.com']} httpListener pending={false} submit={submit} onDone={onDone} />);
    await userEvent.click(screen.getByRole('button', { name: 'Request certificate' }));
    expect(await screen.findByText('is not a terminate-mode route')).toBeInTheDocument();
    expect(screen.getByLabelText(/Host name/, { selector: 'input' })).toHaveAttribute('aria-invalid', 'true');
    expect(onDone).not.toHaveBeenCalled();
  });

  it('HTTP-01 is disabled without an http listener, and nothing can be requested without a terminate-mode route', () => {
    renderUi(<AcmeRequestForm hostnames={[]} httpListener={false} pending={false} submit={vi.fn()} onDone={vi.fn()} />);
    expect(screen.getByRole('radio', { name: /HTTP-01/ })).toBeDisabled();
    expect(screen.getByText(/no http listener/)).toBeInTheDocument();
    expect(screen.getByText('No route to order for')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Request certificate' })).toBeDisabled();
  });
});

describe('the connect view', () => {
  const base = { hostname: 'orders.acme.db.example.com' };
  it('says the route serves a platform-CA certificate until the ACME one is issued', () => {
    renderUi(
      <AcmeNotice
        access={{
          ...base,
          acme: { id: 'a1', state: 'pending', challenge: 'tls-alpn-01', renewAt: null, problem: null },
          certificate: { id: 'c0', name: 'auto', kind: 'issued', fingerprint: 'AB', notAfter: '2027-12-01T00:00:00.000Z', expiresInDays: 360, auto: true },
        }}
      />,
    );
    expect(screen.getByTestId('acme-notice')).toHaveTextContent('ACME certificate pending');
    expect(screen.getByTestId('acme-notice')).toHaveTextContent('Until the ACME certificate is issued, orders.acme.db.example.com is served with a platform-CA certificate');
  });

  it('once issued, says clients use the system roots and when it renews', () => {
    renderUi(
      <AcmeNotice
        access={{
          ...base,
          acme: { id: 'a1', state: 'issued', challenge: 'tls-alpn-01', renewAt: '2027-01-30T08:00:00.000Z', problem: null },
          certificate: { id: 'c1', name: 'acme', kind: 'acme', fingerprint: 'AB', notAfter: '2027-03-01T07:00:00.000Z', expiresInDays: 85, auto: true },
        }}
      />,
    );
    expect(screen.getByTestId('acme-notice')).toHaveTextContent('publicly trusted ACME certificate');
    expect(screen.getByTestId('acme-notice')).toHaveTextContent('Renews on 2027-01-30.');
  });

  it('says nothing without an ACME certificate', () => {
    const { container } = renderUi(<AcmeNotice access={{ ...base, acme: null, certificate: null }} />);
    expect(container.querySelector('[data-testid="acme-notice"]')).toBeNull();
  });
});
