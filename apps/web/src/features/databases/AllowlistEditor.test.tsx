import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { renderUi } from '../../test/render';
import { AllowlistEditor, allowlistProblem, type AllowMode } from './AllowlistEditor';

function Harness({ initial = [] as string[], errors = {} as Record<number, string> }) {
  const [state, setState] = useState<{ mode: AllowMode; entries: string[] }>({ mode: initial.length ? 'only' : 'any', entries: initial });
  return (
    <>
      <AllowlistEditor mode={state.mode} entries={state.entries} clientAddress="203.0.113.7" errors={errors} onChange={(mode, entries) => setState({ mode, entries })} />
      <output data-testid="value">{JSON.stringify(state)}</output>
    </>
  );
}

const value = () => JSON.parse(screen.getByTestId('value').textContent) as { mode: AllowMode; entries: string[] };

describe('AllowlistEditor', () => {
  it('starts at "any address" and switches to an explicit list', async () => {
    const user = userEvent.setup();
    renderUi(<Harness />);
    expect(screen.getByLabelText('Any address')).toBeChecked();
    await user.click(screen.getByLabelText('Only these addresses'));
    expect(value().mode).toBe('only');
    expect(screen.getByText(/No entries yet/)).toBeInTheDocument();
  });

  it('validates as typed, offers the network a mistyped entry meant, and counts addresses', async () => {
    const user = userEvent.setup();
    renderUi(<Harness initial={['198.51.100.0/24']} />);
    const add = screen.getByLabelText('Add an address or network');
    await user.type(add, 'not-an-ip{Enter}');
    expect(screen.getByText('"not-an-ip" is not an IPv4 or IPv6 address')).toBeInTheDocument();
    expect(value().entries).toEqual(['198.51.100.0/24']);

    await user.clear(add);
    await user.type(add, '10.1.2.3/16{Enter}');
    expect(screen.getByText('Host bits are set; the network is 10.1.0.0/16')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Add 10.1.0.0/16 instead' }));
    expect(value().entries).toEqual(['198.51.100.0/24', '10.1.0.0/16']);
    expect(screen.getByText('65,536 addresses')).toBeInTheDocument();
    expect(screen.getByText('2 entries, 65,792 addresses in all')).toBeInTheDocument();
  });

  it('adds the caller’s current address once', async () => {
    const user = userEvent.setup();
    renderUi(<Harness initial={['10.0.0.0/8']} />);
    const mine = screen.getByRole('button', { name: 'Add my current address (203.0.113.7)' });
    await user.click(mine);
    expect(value().entries).toEqual(['10.0.0.0/8', '203.0.113.7/32']);
    expect(mine).toBeDisabled();
  });

  it('marks an edited entry invalid inline, removes entries, and shows API errors on theirs', async () => {
    const user = userEvent.setup();
    renderUi(<Harness initial={['10.0.0.0/8', '2001:db8::/32']} errors={{ 1: 'is not allowed by policy' }} />);
    expect(screen.getByLabelText('Allowed network 2')).toHaveAccessibleDescription('is not allowed by policy');
    const first = screen.getByLabelText('Allowed network 1');
    await user.type(first, '0');
    expect(first).toHaveAttribute('aria-invalid', 'true');
    expect(allowlistProblem('only', value().entries)).toBe('Fix the entries marked below');
    await user.click(screen.getByRole('button', { name: 'Remove 10.0.0.0/80' }));
    expect(value().entries).toEqual(['2001:db8::/32']);
  });

  it('refuses "only these" with nothing in it (the API would read it as any)', () => {
    expect(allowlistProblem('only', [])).toMatch(/at least one/);
    expect(allowlistProblem('any', [])).toBeNull();
  });
});
