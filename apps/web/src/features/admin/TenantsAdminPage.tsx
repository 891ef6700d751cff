/**
 * Platform admin: tenants — create, upstream policy, allowed custom domains, connection limit,
 * and the quotas (databases, external access, dedicated ports) with each tenant's usage.
 */
import { Button, Fieldset, Group, Modal, NumberInput, Paper, SimpleGrid, Stack, Table, Text, Textarea, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { QueryState } from '../../components/QueryState';
import { atLimit, limitLines, usageText } from '../../components/usage';
import { notifyDone, notifyError } from '../../components/notify';
import { api, call } from '../../lib/api/client';
import { splitApiError } from '../../lib/api/errors';
import type { paths } from '../../lib/api/schema';
import { splitLines } from './lines';

type Tenant = paths['/api/v1/tenants']['get']['responses'][200]['content']['application/json']['items'][number];

export function TenantsAdminPage() {
  const q = useQuery({ queryKey: ['tenants'], queryFn: () => call(api.GET('/api/v1/tenants')) });
  const [editing, setEditing] = useState<Tenant | 'new' | null>(null);
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Tenants</Title>
        <Button onClick={() => setEditing('new')}>Create tenant</Button>
      </Group>
      <QueryState query={q} label="Loading tenants">
        {(d) => (
          <Paper withBorder>
            <Table aria-label="Tenants">
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
                {d.items.map((t) => (
                  <Table.Tr key={t.id}>
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
                        <Text key={l.what} size="xs" c={atLimit(l) ? 'orange.8' : undefined}>
                          {usageText(l)}
                        </Text>
                      ))}
                    </Table.Td>
                    <Table.Td ta="right">
                      <Button size="xs" variant="light" onClick={() => setEditing(t)} aria-label={`Edit ${t.slug}`}>
                        Edit
                      </Button>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Paper>
        )}
      </QueryState>
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={editing === 'new' ? 'Create tenant' : `Edit ${editing?.slug ?? ''}`} size="lg">
        {editing !== null && <TenantForm tenant={editing === 'new' ? null : editing} onDone={() => setEditing(null)} />}
      </Modal>
    </Stack>
  );
}

const LIMIT_FIELDS = [
  { field: 'maxDatabases', label: 'Databases', used: 'databases' },
  { field: 'maxExternalAccess', label: 'With external access', used: 'externalAccess' },
  { field: 'maxDedicatedPorts', label: 'Dedicated ports', used: 'dedicatedPorts' },
] as const;

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
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['tenants'] }),
  });
  const fields = ['slug', 'name', 'maxConnections', 'maxDatabases', 'maxExternalAccess', 'maxDedicatedPorts', 'allowedCustomDomains'];
  const submit = form.onSubmit((v) =>
    save.mutate(v, {
      onSuccess: (t) => {
        notifyDone(`Tenant ${t.slug} saved.`);
        onDone();
      },
      onError: (err) => {
        const split = splitApiError(err, (p) => fields.includes(p.split('.')[0]!) || p.startsWith('upstreamPolicy'));
        const mapped: Record<string, string> = {};
        for (const [k, m] of Object.entries(split.fields)) mapped[k.startsWith('upstreamPolicy.hostSuffixes') ? 'hostSuffixes' : k.startsWith('upstreamPolicy.cidrs') ? 'cidrs' : k.split('.')[0]!] = m;
        form.setErrors(mapped);
        if (split.rest.length) notifyError(err, 'Saving the tenant', split.rest);
      },
    }),
  );
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        {!tenant && <TextInput label="Slug" description="Lower-case; part of route host names" required {...form.getInputProps('slug')} />}
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
