/**
 * The platform admin's Tenants page: each tenant's usage against its limits ("3 of 5
 * databases"), and the limits edited in the tenant's form (empty: no limit; 0 allows none);
 * the list a page at a time (*Load more tenants*), searched on the server once typing pauses,
 * with its own empty state and the API's refusal of a search under the search field.
 */
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api } from '../../lib/api/client';
import { renderUi } from '../../test/render';
import { TenantsAdmin } from './TenantsAdminPage';

const ACME = {
  id: '0b8e4d1a-7a53-4a2e-9a57-2f7b0f1d9c11',
  slug: 'acme',
  name: 'Acme Corp',
  upstreamPolicy: { hostSuffixes: ['acme.svc.cluster.local'], cidrs: [] },
  allowedCustomDomains: [],
  maxConnections: null,
  maxDatabases: 5,
  maxExternalAccess: null,
  maxDedicatedPorts: 1,
  usage: { databases: 3, externalAccess: 2, dedicatedPorts: 1 },
  createdAt: '2026-11-22T08:00:00.000Z',
  updatedAt: '2026-11-22T08:00:00.000Z',
};

const json = (data: unknown, status = 200) => new Response(JSON.stringify(data), { status });

/** The page with its search in local state (the URL's, in the app). */
function Page({ initial = '' }: { initial?: string }) {
  const [q, setQ] = useState(initial);
  return <TenantsAdmin q={q} onSearch={setQ} />;
}

function withTenants() {
  vi.spyOn(api, 'GET').mockImplementation((async () => ({ data: { items: [ACME], nextCursor: null }, response: json({ items: [ACME], nextCursor: null }) })) as never);
  const sent: unknown[] = [];
  const patch = vi.spyOn(api, 'PATCH');
  renderUi(<Page />);
  return { sent, patch };
}

const tenant = (i: number) => ({ ...ACME, id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, slug: `t${String(i).padStart(3, '0')}`, name: `Tenant ${i}` });

/**
 * The list API over `count` tenants t000…, `size` per page, searched by slug or name: as the
 * API answers (cursor: the last slug). Records each query it was asked.
 */
function listApi(count: number, size: number) {
  const all = Array.from({ length: count }, (_, i) => tenant(i));
  const asked: Array<{ q?: string; cursor?: string; limit?: number }> = [];
  vi.spyOn(api, 'GET').mockImplementation((async (_path: string, init: { params: { query: { q?: string; cursor?: string; limit?: number } } }) => {
    const query = init.params.query;
    asked.push(query);
    if (query.q && query.q.length > 20) {
      const error = { statusCode: 400, code: 'SY_VALIDATION', error: 'Bad Request', requestId: 'r2', message: 'querystring.q must NOT have more than 20 characters', details: [{ field: 'querystring.q', message: 'must NOT have more than 20 characters' }] };
      return { error, response: json(error, 400) };
    }
    const match = all.filter((t) => !query.q || t.slug.includes(query.q.toLowerCase()) || t.name.toLowerCase().includes(query.q.toLowerCase()));
    const from = query.cursor ? match.findIndex((t) => t.slug > query.cursor!) : 0;
    const items = from < 0 ? [] : match.slice(from, from + size);
    const data = { items, nextCursor: from >= 0 && from + size < match.length ? items.at(-1)!.slug : null };
    return { data, response: json(data) };
  }) as never);
  return asked;
}

afterEach(() => vi.restoreAllMocks());

describe('tenant limits on the Tenants page', { timeout: 15_000 }, () => {
  it('shows each tenant’s usage against its limits, and just the count without one', async () => {
    withTenants();
    const cell = await screen.findByTestId('limits-acme');
    expect(within(cell).getByText('3 of 5 databases')).toBeInTheDocument();
    expect(within(cell).getByText('2 with external access')).toBeInTheDocument();
    expect(within(cell).getByText('1 of 1 dedicated ports')).toBeInTheDocument();
  });

  it('edits the limits with the usage beside each; an emptied limit is sent as null', async () => {
    const { sent, patch } = withTenants();
    patch.mockImplementation((async (_p: string, init: { body: unknown }) => {
      sent.push(init.body);
      const data = { ...ACME, maxDatabases: null, maxDedicatedPorts: 0 };
      return { data, response: json(data) };
    }));
    await userEvent.click(await screen.findByRole('button', { name: 'Edit acme' }));
    const dbs = await screen.findByLabelText('Databases');
    expect(dbs).toHaveValue('5');
    expect(screen.getByText('3 in use')).toBeInTheDocument();
    await userEvent.clear(dbs);
    const ports = screen.getByLabelText('Dedicated ports');
    await userEvent.clear(ports);
    await userEvent.type(ports, '0');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ maxDatabases: null, maxExternalAccess: null, maxDedicatedPorts: 0 });
  });

  it('shows the API’s refusal of a limit beside its field', async () => {
    const { patch } = withTenants();
    patch.mockImplementation((async () => {
      const error = { statusCode: 400, code: 'SY_VALIDATION', error: 'Bad Request', requestId: 'r1', message: 'body.maxExternalAccess must be integer', details: [{ field: 'body.maxExternalAccess', message: 'must be integer or null' }] };
      return { error, response: json(error, 400) };
    }) as never);
    await userEvent.click(await screen.findByRole('button', { name: 'Edit acme' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Save' }));
    const field = screen.getByLabelText('With external access');
    await vi.waitFor(() => expect(field).toHaveAttribute('aria-invalid', 'true'));
    expect(screen.getByText('must be integer or null')).toBeInTheDocument();
  });
});

describe('creating a tenant', { timeout: 15_000 }, () => {
  /** Create tenant with this slug and name, saved: the slug field once it is marked invalid. */
  async function createWithSlug(slugText: string, name: string) {
    await userEvent.click(await screen.findByRole('button', { name: 'Create tenant' }));
    const slug = await screen.findByLabelText(/^Slug/);
    await userEvent.type(slug, slugText);
    await userEvent.type(screen.getByLabelText(/^Name/), name);
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await vi.waitFor(() => expect(slug).toHaveAttribute('aria-invalid', 'true'));
    return slug;
  }

  it('a taken slug is shown on the slug field, which gets focus (the dialog is scrolled to Save), not in a toast', async () => {
    const { sent } = withTenants();
    vi.spyOn(api, 'POST').mockImplementation((async (_p: string, init: { body: unknown }) => {
      sent.push(init.body);
      const error = { statusCode: 409, code: 'SY_TENANT_EXISTS', error: 'Conflict', requestId: 'r3', message: 'A tenant with this slug already exists' };
      return { error, response: json(error, 409) };
    }) as never);
    const slug = await createWithSlug('acme', 'Acme again');
    expect(slug).toHaveAccessibleDescription(expect.stringContaining('A tenant with this slug already exists'));
    expect(slug).toHaveFocus();
    expect(slug).toHaveValue('acme');
    expect(sent).toHaveLength(1);
  });

  it('a slug the API would refuse is named in words before anything is sent', async () => {
    withTenants();
    const post = vi.spyOn(api, 'POST');
    const slug = await createWithSlug('Acme Corp', 'Acme Corp');
    expect(slug).toHaveAccessibleDescription(expect.stringContaining('Lowercase letters, digits and dashes, at most 40 characters'));
    expect(slug).toHaveFocus();
    expect(post).not.toHaveBeenCalled();
  });
});

describe('paging and search', { timeout: 15_000 }, () => {
  it('shows the first page and loads the next one after it on "Load more tenants"', async () => {
    const asked = listApi(5, 2);
    renderUi(<Page />);
    const table = await screen.findByRole('table', { name: 'Tenants' });
    expect(within(table).getAllByRole('button', { name: /^Edit / }).map((b) => b.getAttribute('aria-label'))).toEqual(['Edit t000', 'Edit t001']);
    expect(screen.getByRole('status')).toHaveTextContent('2 tenants, more to load');
    await userEvent.click(screen.getByRole('button', { name: 'Load more tenants' }));
    await screen.findByRole('button', { name: 'Edit t003' });
    expect(asked.at(-1)).toMatchObject({ cursor: 't001' });
    await userEvent.click(screen.getByRole('button', { name: 'Load more tenants' }));
    await screen.findByRole('button', { name: 'Edit t004' });
    // The last page: every tenant once, in order, and nothing more to load.
    expect(within(table).getAllByRole('button', { name: /^Edit / })).toHaveLength(5);
    expect(screen.queryByRole('button', { name: 'Load more tenants' })).toBeNull();
    expect(screen.getByRole('status')).toHaveTextContent(/^5 tenants$/);
  });

  it('searches on the server once typing pauses, not on every key', async () => {
    const asked = listApi(30, 10);
    renderUi(<Page />);
    await screen.findByRole('button', { name: 'Edit t009' });
    await userEvent.type(screen.getByLabelText('Search tenants'), 'tenant 2');
    await screen.findByRole('button', { name: 'Edit t020' });
    expect(screen.queryByRole('button', { name: 'Edit t000' })).toBeNull();
    // One request for the search, with the whole text; none for "t", "te"…
    expect(asked.filter((a) => a.q)).toEqual([{ q: 'tenant 2', limit: 100 }]);
    expect(screen.getByRole('status')).toHaveTextContent('10 tenants matching “tenant 2”');
  });

  it('says when nothing matches, and clearing the search shows every tenant again', async () => {
    listApi(3, 10);
    renderUi(<Page initial="nobody" />);
    await screen.findByText('No tenants match “nobody”');
    expect(screen.queryByRole('table', { name: 'Tenants' })).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Clear the search' }));
    await screen.findByRole('button', { name: 'Edit t002' });
    expect(screen.getByLabelText('Search tenants')).toHaveValue('');
  });

  it('shows the API’s refusal of the search under the search field', async () => {
    listApi(3, 10);
    renderUi(<Page />);
    await screen.findByRole('button', { name: 'Edit t002' });
    const field = screen.getByLabelText('Search tenants');
    await userEvent.type(field, 'a search longer than the API takes');
    await vi.waitFor(() => expect(field).toHaveAttribute('aria-invalid', 'true'));
    expect(screen.getByText('must NOT have more than 20 characters')).toBeInTheDocument();
    expect(screen.getByText('Correct the search marked above.')).toBeInTheDocument();
  });
});
