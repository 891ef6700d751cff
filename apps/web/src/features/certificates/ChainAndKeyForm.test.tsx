/**
 * The upload / replace form puts each refusal of the API beside the field that has to change:
 * a chain out of order on the chain, and — replacing — a new chain that does not cover a route
 * using the certificate on the chain too (that PUT has no host names field).
 */
import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api } from '../../lib/api/client';
import { renderUi } from '../../test/render';
import type { Certificate } from './api';
import { ChainAndKeyForm } from './ChainAndKeyForm';

const CHAIN = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
const UPLOADED = { id: 'c1', name: 'ledger-up', kind: 'uploaded', routes: [{ id: 'r1', hostname: 'ledger.acme.db.example.com', tlsMode: 'terminate' }] } as unknown as Certificate;

/** An error answer as openapi-fetch resolves it. */
function refuse(method: 'POST' | 'PUT', status: number, body: Record<string, unknown>) {
  const json = { statusCode: status, error: 'Unprocessable Entity', requestId: 'req-1', ...body };
  return vi.spyOn(api, method).mockImplementation((async () => ({ error: json, response: new Response(JSON.stringify(json), { status }) })) as never);
}

async function fill() {
  await userEvent.click(screen.getByLabelText(/Certificate chain \(PEM\)/));
  await userEvent.paste(CHAIN);
  await userEvent.click(screen.getByLabelText(/Private key \(PEM\)/));
  await userEvent.paste(KEY);
}

// Mantine's autosize textarea listens for web fonts loading; jsdom has no FontFaceSet.
if (!('fonts' in document)) Object.defineProperty(document, 'fonts', { value: { addEventListener() {}, removeEventListener() {} }, configurable: true });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('ChainAndKeyForm', () => {
  it('replacing: a chain that does not cover a route using the certificate is shown beside the chain', async () => {
    const message = 'the certificate’s names (other.acme.db.example.com) do not cover ledger.acme.db.example.com, a host name of a route using this certificate';
    const put = refuse('PUT', 422, { code: 'SY_CERTIFICATE_HOSTNAME_MISMATCH', message, details: [{ field: 'body.certificatePem', message }] });
    renderUi(<ChainAndKeyForm tenant="acme" replacing={UPLOADED} onDone={() => {}} />);
    await fill();
    await userEvent.click(screen.getByRole('button', { name: 'Replace' }));
    expect(put).toHaveBeenCalledOnce();
    expect(await screen.findByText(message)).toBeInTheDocument();
    expect(screen.getByLabelText(/Certificate chain \(PEM\)/)).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText(/Private key \(PEM\)/)).not.toHaveAttribute('aria-invalid', 'true');
  });

  it('a host name mismatch that names no field of the form still lands on the chain, not in a toast', async () => {
    const message = 'the certificate’s names (other.acme.db.example.com) do not cover ledger.acme.db.example.com';
    refuse('PUT', 422, { code: 'SY_CERTIFICATE_HOSTNAME_MISMATCH', message, details: [{ field: 'body.hostnames', message }] });
    renderUi(<ChainAndKeyForm tenant="acme" replacing={UPLOADED} onDone={() => {}} />);
    await fill();
    await userEvent.click(screen.getByRole('button', { name: 'Replace' }));
    expect(await screen.findByText(message)).toBeInTheDocument();
    expect(screen.getByLabelText(/Certificate chain \(PEM\)/)).toHaveAttribute('aria-invalid', 'true');
  });

  it('uploading: a chain whose leaf is not first is shown beside the chain, not the key', async () => {
    const message = 'the private key belongs to certificate 2 of the chain, not the first: order the chain leaf first, then each issuer';
    refuse('POST', 422, { code: 'SY_CERTIFICATE_CHAIN_ORDER', message, details: [{ field: 'body.certificatePem', message, chainIndex: 1 }] });
    renderUi(<ChainAndKeyForm tenant="acme" onDone={() => {}} />);
    await userEvent.type(screen.getByLabelText(/^Name/), 'orders-public');
    await fill();
    await userEvent.click(screen.getByRole('button', { name: 'Upload certificate' }));
    expect(await screen.findByText(message)).toBeInTheDocument();
    expect(screen.getByLabelText(/Certificate chain \(PEM\)/)).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText(/Private key \(PEM\)/)).not.toHaveAttribute('aria-invalid', 'true');
  });
});
