/**
 * Platform admin: tenants — create, upstream policy, allowed custom domains, connection limit,
 * and the quotas (databases, external access, dedicated ports) with each tenant's usage.
 *
 * The list is the API's, a page at a time in slug order (*Load more tenants*), searched on the
 * server by slug or name: at thousands of tenants neither the API nor the page handles them all
 * at once. The search lives in the URL (`/admin/tenants?q=acme`). Page: URL state; TenantsAdmin:
 * the queries and the view, tested without a router.
 */
import { Button, CloseButton, Fieldset, Group, Modal, NumberInput, Paper, SimpleGrid, Stack, Table, Text, Textarea, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useDebouncedValue } from '@mantine/hooks';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useEffect, useRef, useState } from 'react';
import { EmptyState, ErrorState, LoadingState } from '../../components/QueryState';
import { STATUS } from '../../components/status-colors';
import { atLimit, limitLines, usageText } from '../../components/usage';
import { notifyDone, notifyError } from '../../components/notify';
import { api, call } from '../../lib/api/client';
import { filterFieldErrors, splitApiError } from '../../lib/api/errors';
import { requestLimits } from '../../lib/api/limits';
import { splitLines } from './lines';
import { searchTerm, tenantKeys, useTenantPages, type Tenant } from './tenants-queries';

/** How long typing may pause before the search is sent: one request per pause, not per key. */
export const SEARCH_DEBOUNCE_MS = 300;

export function TenantsAdminPage() {
  const search: Record<string, unknown> = useSearch({ strict: false });
  const navigate = useNavigate();
  const q = typeof search.q === 'string' ? searchTerm(search.q) : '';
  // replace: each pause in typing is not a step back in the history.
  return <TenantsAdmin q={q} onSearch={(next) => void navigate({ to: '.', search: (next ? { q: next } : {}) as never, replace: true })} />;
}

/** `q`: the search the list shows (the URL's); `onSearch`: a new one, typed or cleared. */
export function TenantsAdmin({ q, onSearch }: { q: string; onSearch: (q: string) => void }) {
  const pages = useTenantPages(q);
  const [editing, setEditing] = useState<Tenant | 'new' | null>(null);
  const [text, setText] = useState(q);
  const [typed] = useDebouncedValue(text, SEARCH_DEBOUNCE_MS);
  // The search this field last sent: a `q` that differs came from elsewhere (back, a link) and
  // replaces the text; our own coming back must not overwrite what was typed since.
  const sent = useRef(q);
  const send = (next: string) => {
    sent.current = next;
    if (next !== q) onSearch(next);
  };
  useEffect(() => send(searchTerm(typed)), [typed]);
  useEffect(() => {
    if (q !== sent.current) {
      sent.current = q;
      setText(q);
    }
  }, [q]);
  const rows = pages.data?.pages.flatMap((p) => p.items) ?? [];
  // The API's refusal of the search (longer than it takes, say) goes under the search field.
  const badSearch = filterFieldErrors(pages.error, { q: 'q' } as const)?.q;
  const clear = () => {
    setText('');
    send('');
  };
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Tenants</Title>
        <Button onClick={() => setEditing('new')}>Create tenant</Button>
      </Group>
      <form
        role="search"
        aria-label="Tenant search"
        onSubmit={(e) => {
          e.preventDefault();
          // Enter searches at once (the same search again: asks anew).
          if (searchTerm(text) !== q) send(searchTerm(text));
          else void pages.refetch();
        }}
      >
        <TextInput
          label="Search tenants"
          placeholder="Slug or name"
          value={text}
          onChange={(e) => setText(e.currentTarget.value)}
          error={badSearch}
          maw={360}
          rightSectionPointerEvents="all"
          rightSection={text ? <CloseButton aria-label="Clear search" size="sm" onClick={clear} /> : null}
        />
      </form>
      <Paper withBorder>
        {pages.isPending ? (
          <LoadingState label="Loading tenants" />
        ) : badSearch ? (
          <EmptyState title="No tenants to show">
            <Text size="sm" c="dimmed">
              Correct the search marked above.
            </Text>
          </EmptyState>
        ) : pages.isError && rows.length === 0 ? (
          <ErrorState error={pages.error} retry={() => void pages.refetch()} />
        ) : rows.length === 0 ? (
          q ? (
            <EmptyState title={`No tenants match “${q}”`}>
              <Text size="sm" c="dimmed">
                The search matches part of a tenant’s slug or name, ignoring case.
              </Text>
              <Button variant="light" size="xs" onClick={clear}>
                Clear the search
              </Button>
            </EmptyState>
          ) : (
            <EmptyState title="No tenants yet">
              <Text size="sm" c="dimmed">
                Create one; its owners then register its databases.
              </Text>
            </EmptyState>
          )
        ) : (
          <TenantsTable rows={rows} busy={pages.isPlaceholderData} onEdit={setEditing} />
        )}
      </Paper>
      {pages.isError && rows.length > 0 && <ErrorState error={pages.error} retry={() => void (pages.isFetchNextPageError ? pages.fetchNextPage() : pages.refetch())} />}
      {rows.length > 0 && !badSearch && (
        <Group justify="space-between">
          <Text size="sm" c="dimmed" role="status">
            {pages.isPlaceholderData
              ? 'Searching…'
              : `${rows.length} ${rows.length === 1 ? 'tenant' : 'tenants'}${q ? ` matching “${q}”` : ''}${pages.hasNextPage ? ', more to load' : ''}`}
          </Text>
          {pages.hasNextPage && (
            <Button variant="light" onClick={() => void pages.fetchNextPage()} loading={pages.isFetchingNextPage}>
              Load more tenants
            </Button>
          )}
        </Group>
      )}
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={editing === 'new' ? 'Create tenant' : `Edit ${editing?.slug ?? ''}`} size="lg">
        {editing !== null && <TenantForm tenant={editing === 'new' ? null : editing} onDone={() => setEditing(null)} />}
      </Modal>
    </Stack>
  );
}

function TenantsTable({ rows, busy, onEdit }: { rows: Tenant[]; busy: boolean; onEdit: (t: Tenant) => void }) {
  return (
    // The previous search's rows stay while the new ones load, dimmed and marked busy so they
    // are not taken for the answer.
    <Table aria-label="Tenants" aria-busy={busy} style={{ opacity: busy ? 0.5 : 1, transition: 'opacity 150ms' }}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Tenant</Table.Th>
          <Table.Th>Upstream policy</Table.Th>
          <Table.Th>Custom domains</Table.Th>
          <Table.Th ta="right">Connection limit</Table.Th>
          <Table.Th>Limits</Table.Th>
          <Table.Th>
            <VisuallyHidden>Actions</VisuallyHidden>
          </Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map((t) => (
          <Table.Tr key={t.id} data-tenant={t.slug}>
            <Table.Td>
              <Text fw={500}>{t.name}</Text>
              <Text size="xs" c="dimmed">
                {t.slug}
              </Text>
            </Table.Td>
            <Table.Td>
              <Text size="xs">{[...t.upstreamPolicy.hostSuffixes, ...t.upstreamPolicy.cidrs].join(', ') || '—'}</Text>
            </Table.Td>
            <Table.Td>
              <Text size="xs">{t.allowedCustomDomains.join(', ') || '—'}</Text>
            </Table.Td>
            <Table.Td ta="right">{t.maxConnections ?? 'none'}</Table.Td>
            <Table.Td data-testid={`limits-${t.slug}`}>
              {limitLines(t).map((l) => (
                // STATUS.warn, not orange.8: that measured below 4.5:1 on white (axe, e2e/web/tenant-limits.test.ts).
                <Text key={l.what} size="xs" c={atLimit(l) ? STATUS.warn : undefined}>
                  {usageText(l)}
                </Text>
              ))}
            </Table.Td>
            <Table.Td ta="right">
              <Button size="xs" variant="light" onClick={() => onEdit(t)} aria-label={`Edit ${t.slug}`}>
                Edit
              </Button>
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

const LIMIT_FIELDS = [
  { field: 'maxDatabases', label: 'Databases', used: 'databases' },
  { field: 'maxExternalAccess', label: 'With external access', used: 'externalAccess' },
  { field: 'maxDedicatedPorts', label: 'Dedicated ports', used: 'dedicatedPorts' },
] as const;

/** The API's rule for a slug (its OpenAPI schema), said in words instead of its pattern. */
const SLUG_LIMITS = requestLimits['POST /api/v1/tenants'].slug;
const SLUG_PATTERN = new RegExp(SLUG_LIMITS.pattern);
const SLUG_RULE = `Lowercase letters, digits and dashes, at most ${SLUG_LIMITS.maxLength} characters, starting and ending with a letter or digit (it becomes a label of route host names)`;

function TenantForm({ tenant, onDone }: { tenant: Tenant | null; onDone: () => void }) {
  const qc = useQueryClient();
  const form = useForm({
    initialValues: {
      slug: tenant?.slug ?? '',
      name: tenant?.name ?? '',
      hostSuffixes: tenant?.upstreamPolicy.hostSuffixes.join('\n') ?? '',
      cidrs: tenant?.upstreamPolicy.cidrs.join('\n') ?? '',
      allowedCustomDomains: tenant?.allowedCustomDomains.join('\n') ?? '',
      maxConnections: (tenant?.maxConnections ?? '') as number | string,
      maxDatabases: (tenant?.maxDatabases ?? '') as number | string,
      maxExternalAccess: (tenant?.maxExternalAccess ?? '') as number | string,
      maxDedicatedPorts: (tenant?.maxDedicatedPorts ?? '') as number | string,
    },
    // Checked here as the API checks it, so a typo is named in words, not as the API's regex.
    validate: { slug: (v) => (tenant || SLUG_PATTERN.test(v) ? null : SLUG_RULE) },
  });
  // Empty is no limit (null); 0 allows none.
  const limit = (v: number | string) => (v === '' ? null : Number(v));
  const save = useMutation({
    mutationFn: (v: typeof form.values) => {
      const body = {
        name: v.name,
        upstreamPolicy: { hostSuffixes: splitLines(v.hostSuffixes), cidrs: splitLines(v.cidrs) },
        allowedCustomDomains: splitLines(v.allowedCustomDomains),
        maxConnections: limit(v.maxConnections),
        maxDatabases: limit(v.maxDatabases),
        maxExternalAccess: limit(v.maxExternalAccess),
        maxDedicatedPorts: limit(v.maxDedicatedPorts),
      };
      return tenant
        ? call(api.PATCH('/api/v1/tenants/{tenant}', { params: { path: { tenant: tenant.slug } }, body }))
        : call(api.POST('/api/v1/tenants', { body: { ...body, slug: v.slug } }));
    },
    onSuccess: () => void qc.invalidateQueries({ queryKey: tenantKeys.all }),
  });
  const fields = ['slug', 'name', 'maxConnections', 'maxDatabases', 'maxExternalAccess', 'maxDedicatedPorts', 'allowedCustomDomains'];
  // The form is taller than the dialog, which is scrolled to Save: the first field in error
  // (top to bottom) gets focus, which brings it and its message into view.
  const showFirst = (errors: Record<string, unknown>) => {
    const first = ['slug', 'name', 'hostSuffixes', 'cidrs', 'allowedCustomDomains', 'maxConnections', ...LIMIT_FIELDS.map((l) => l.field)].find((f) => errors[f]);
    if (first) form.getInputNode(first)?.focus();
  };
  const submit = form.onSubmit((v) =>
    save.mutate(v, {
      onSuccess: (t) => {
        notifyDone(`Tenant ${t.slug} saved.`);
        onDone();
      },
      onError: (err) => {
        // A taken slug has no details: its code names the field.
        const split = splitApiError(err, (p) => fields.includes(p.split('.')[0]!) || p.startsWith('upstreamPolicy'), { SY_TENANT_EXISTS: 'slug' });
        const mapped: Record<string, string> = {};
        for (const [k, m] of Object.entries(split.fields)) mapped[k.startsWith('upstreamPolicy.hostSuffixes') ? 'hostSuffixes' : k.startsWith('upstreamPolicy.cidrs') ? 'cidrs' : k.split('.')[0]!] = m;
        form.setErrors(mapped);
        showFirst(mapped);
        if (split.rest.length) notifyError(err, 'Saving the tenant', split.rest);
      },
    }),
  showFirst);
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        {!tenant && <TextInput label="Slug" description={`Lower-case; part of route host names; at most ${SLUG_LIMITS.maxLength} characters`} required data-autofocus {...form.getInputProps('slug')} />}
        <TextInput label="Name" required {...form.getInputProps('name')} />
        <Textarea label="Allowed upstream host suffixes" description="One per line; databases may only point under these" autosize minRows={2} {...form.getInputProps('hostSuffixes')} />
        <Textarea label="Allowed upstream networks (CIDR)" autosize minRows={2} {...form.getInputProps('cidrs')} />
        <Textarea label="Allowed custom domains" description="Host names tenants may use for their routes, one per line" autosize minRows={2} {...form.getInputProps('allowedCustomDomains')} />
        <NumberInput label="Connection limit" description="Concurrent connections across the tenant; empty for none" min={1} {...form.getInputProps('maxConnections')} />
        <Fieldset legend="Limits">
          <Text size="xs" c="dimmed" mb="xs">
            Empty for no limit. A limit below what the tenant has takes nothing away; it only refuses more.
          </Text>
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            {LIMIT_FIELDS.map(({ field, label, used }) => (
              <NumberInput
                key={field}
                label={label}
                description={tenant ? `${tenant.usage[used]} in use` : undefined}
                min={0}
                allowDecimal={false}
                allowNegative={false}
                {...form.getInputProps(field)}
              />
            ))}
          </SimpleGrid>
        </Fieldset>
        <Group justify="end">
          <Button type="submit" loading={save.isPending}>
            Save
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
