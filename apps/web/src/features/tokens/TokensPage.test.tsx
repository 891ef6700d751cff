/**
 * API tokens and the API's rule that nobody creates or revokes a token above their own role:
 * an admin is not offered what the API would refuse (the owner role, Revoke on an owner's
 * token) — each is disabled with the reason — while an owner is offered everything.
 */
import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api } from '../../lib/api/client';
import { renderUi } from '../../test/render';
import type { Role } from '../auth/session';
import { Tokens } from './TokensPage';

const token = (name: string, role: Role) => ({
  id: `00000000-0000-4000-8000-${name.padStart(12, '0')}`,
  name,
  prefix: 'sy_abcd',
  role,
  lastUsedAt: null,
  expiresAt: null,
  revokedAt: null,
  createdAt: '2026-11-22T08:00:00.000Z',
  createdBy: { kind: 'user', userId: null, email: 'ada@example.com', tokenId: null, tokenName: null },
});

function renderTokens(mine: Role) {
  const data = { items: [token('deploy', 'owner'), token('ci', 'admin')] };
  vi.spyOn(api, 'GET').mockImplementation((async () => ({ data, response: new Response(JSON.stringify(data)) })) as never);
  renderUi(<Tokens tenant="acme" mine={mine} />);
}

/** The new token's role choices, opened; the field. */
async function openRoles() {
  const role = await screen.findByLabelText('Role', { selector: 'input' });
  await userEvent.click(role);
  return role;
}
const option = (name: RegExp) => screen.findByRole('option', { name, hidden: true });

const REASON = 'Only an owner of this tenant (or a platform admin) can create or revoke an owner token.';

afterEach(() => vi.restoreAllMocks());

describe('API tokens and the caller’s role', { timeout: 15_000 }, () => {
  it('an admin cannot revoke an owner’s token: Revoke is disabled and says why; an admin token’s is not', async () => {
    renderTokens('admin');
    const owners = await screen.findByRole('button', { name: 'Revoke deploy' });
    expect(owners).toBeDisabled();
    expect(owners.closest('[data-disabled-reason]')).toHaveAttribute('aria-label', REASON);
    expect(screen.getByRole('button', { name: 'Revoke ci' })).toBeEnabled();
  });

  it('an admin is not offered the owner role for a new token, and is told why', async () => {
    renderTokens('admin');
    await userEvent.click(await screen.findByRole('button', { name: 'Create token' }));
    const role = await openRoles();
    expect(role).toHaveAccessibleDescription(expect.stringContaining(REASON));
    expect(await option(/^owner/)).toHaveAttribute('data-combobox-disabled');
    expect(await option(/^admin/)).not.toHaveAttribute('data-combobox-disabled');
  });

  it('an owner may do both', async () => {
    renderTokens('owner');
    expect(await screen.findByRole('button', { name: 'Revoke deploy' })).toBeEnabled();
    await userEvent.click(screen.getByRole('button', { name: 'Create token' }));
    await openRoles();
    expect(await option(/^owner/)).not.toHaveAttribute('data-combobox-disabled');
  });
});
