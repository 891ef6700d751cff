import { fireEvent, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { requestLimits } from '../../lib/api/limits';
import { renderUi } from '../../test/render';
import { DatabaseForm, nameFrom } from './DatabaseForm';

/** The API's own limit, from its OpenAPI document (limits.ts is drift-checked against it). */
const MAX = requestLimits['POST /api/v1/tenants/{tenant}/databases'].name.maxLength;

async function register(name: string) {
  const onSubmit = vi.fn(() => Promise.resolve());
  renderUi(<DatabaseForm submitLabel="Register" pending={false} onSubmit={onSubmit} />);
  // fireEvent: typing 60 characters one by one adds nothing but time.
  fireEvent.change(screen.getByLabelText(/^Name/), { target: { value: name } });
  fireEvent.change(screen.getByLabelText('Host 1'), { target: { value: 'orders-rw.acme.svc.cluster.local' } });
  await userEvent.click(screen.getByRole('button', { name: 'Register' }));
  return onSubmit;
}

describe('the database name', () => {
  it('longer than the API allows is refused on the field, naming the limit, and nothing is sent', async () => {
    const onSubmit = await register('a'.repeat(MAX + 1));
    const name = screen.getByLabelText(/^Name/);
    expect(name).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByText(new RegExp(`at most ${MAX} characters`), { selector: '.mantine-InputWrapper-error' })).toBeInTheDocument();
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it('of exactly the limit is sent', async () => {
    const onSubmit = await register('a'.repeat(MAX));
    expect(onSubmit).toHaveBeenCalledOnce();
    expect(screen.getByLabelText(/^Name/)).not.toHaveAttribute('aria-invalid', 'true');
  });

  it('the field says the limit before anything is typed', () => {
    renderUi(<DatabaseForm submitLabel="Register" pending={false} onSubmit={() => Promise.resolve()} />);
    expect(screen.getByText(new RegExp(`at most ${MAX} characters`))).toBeInTheDocument();
  });

  it('made from a discovered service’s name fits the limit and stays a DNS label', () => {
    const made = nameFrom(`${'Orders_Primary-'.repeat(5)}Replica`);
    expect(made.length).toBeLessThanOrEqual(MAX);
    expect(made).toMatch(new RegExp(requestLimits['POST /api/v1/tenants/{tenant}/databases'].name.pattern));
  });
});
