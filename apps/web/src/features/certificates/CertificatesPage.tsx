/**
 * Certificates of the tenant, soonest expiry first (expired and expiring marked), with the
 * routes using each; issue from the platform CA or self-signed, upload a chain and key (each
 * validation error beside its field), replace, delete. Below, the ACME certificates: request
 * one for a terminate-mode route, follow its state, renew now, stop renewing.
 */
import { Badge, Button, Group, Modal, NumberInput, Select, Stack, Table, TagsInput, Text, TextInput, Title, Tooltip, VisuallyHidden } from '@mantine/core';
import { useForm } from '@mantine/form';
import { modals } from '@mantine/modals';
import { useQuery } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { useState } from 'react';
import { certificatesRoute } from '../../app/router';
import { Guarded } from '../../components/Guarded';
import { notifyDone, notifyError } from '../../components/notify';
import { FilteredList, useFilterParam } from '../../components/LongList';
import { EmptyState, LoadingState, QueryState } from '../../components/QueryState';
import { splitApiError } from '../../lib/api/errors';
import { zoned } from '../../components/moment';
import { expiryState, localDate, relativeDays } from '../../lib/format';
import { canManage, READ_ONLY_REASON, roleIn, useMe } from '../auth/session';
import { databasesQuery, metaQuery } from '../databases/api';
import { ACME_UNAVAILABLE_REASON, AcmeHeading, AcmeRequestForm, AcmeTable } from './AcmeSection';
import { ChainAndKeyForm } from './ChainAndKeyForm';
import { deleteBlockedReason } from './delete-reason';
import {
  acmeCertificatesQuery,
  certificatesQuery,
  useDeleteAcme,
  useDeleteCertificate,
  useIssueCertificate,
  useRenewAcme,
  useReplaceCertificate,
  useRequestAcme,
  type AcmeCertificate,
  type Certificate,
} from './api';

function Expiry({ cert }: { cert: Certificate }) {
  const state = expiryState(cert.notAfter);
  return (
    <Group gap={6} wrap="nowrap">
      <Text size="sm" title={zoned(cert.notAfter)}>
        {localDate(cert.notAfter)}
      </Text>
      <Text size="xs" c="dimmed">
        ({relativeDays(cert.notAfter)})
      </Text>
      {state === 'expired' && <Badge color="red">expired</Badge>}
      {state === 'expiring' && <Badge color="orange">expiring soon</Badge>}
    </Group>
  );
}

function IssueForm({ tenant, onDone }: { tenant: string; onDone: () => void }) {
  const issue = useIssueCertificate(tenant);
  const form = useForm({
    initialValues: { name: '', type: 'platform-ca' as 'platform-ca' | 'self-signed', hostnames: [] as string[], validDays: 397 as number | string },
    validate: {
      name: (v) => (/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/.test(v) ? null : 'Letters, digits, spaces, dots, dashes and underscores'),
      hostnames: (v) => (v.length ? null : 'Add at least one host name'),
    },
  });
  const submit = form.onSubmit((v) =>
    issue.mutate(
      { name: v.name, type: v.type, hostnames: v.hostnames, ...(v.validDays !== '' ? { validDays: Number(v.validDays) } : {}) },
      {
        onSuccess: (c) => {
          notifyDone(`Issued ${c.name}`);
          onDone();
        },
        onError: (err) => {
          const split = splitApiError(err, (p) => /^(name|type|validDays|hostnames)(\.\d+)?$/.test(p), { SY_CERTIFICATE_EXISTS: 'name' });
          form.setErrors(Object.fromEntries(Object.entries(split.fields).map(([k, m]) => [k.replace(/\.\d+$/, ''), m])));
          if (split.rest.length) notifyError(err, 'Issuing the certificate', split.rest);
        },
      },
    ),
  );
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <TextInput label="Name" required data-autofocus {...form.getInputProps('name')} />
        <Select
          label="Issuer"
          data={[
            { value: 'platform-ca', label: 'Platform CA (clients download the CA once)' },
            { value: 'self-signed', label: 'Self-signed (clients pin this certificate)' },
          ]}
          allowDeselect={false}
          {...form.getInputProps('type')}
        />
        <TagsInput label="Host names" description="Press Enter after each, e.g. orders.acme.example.com" required {...form.getInputProps('hostnames')} />
        <NumberInput label="Valid for (days)" min={1} max={825} allowDecimal={false} {...form.getInputProps('validDays')} />
        <Group justify="flex-end">
          <Button type="submit" loading={issue.isPending}>
            Issue certificate
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

export function CertificatesPage() {
  const { tenant } = certificatesRoute.useParams();
  const search = certificatesRoute.useSearch();
  const navigate = useNavigate({ from: certificatesRoute.fullPath });
  const me = useMe();
  const manage = canManage(roleIn(me, tenant));
  const list = useQuery(certificatesQuery(tenant));
  const filter = useFilterParam();
  const del = useDeleteCertificate(tenant);
  const reissue = useReplaceCertificate(tenant);
  const [replacing, setReplacing] = useState<Certificate | null>(null);
  const acme = useQuery(acmeCertificatesQuery(tenant));
  const meta = useQuery(metaQuery);
  const databases = useQuery({ ...databasesQuery(tenant), enabled: manage });
  const requestAcme = useRequestAcme(tenant);
  const renewAcme = useRenewAcme(tenant);
  const deleteAcme = useDeleteAcme(tenant);
  const acmeAvailable = meta.data?.acme ?? false;
  const ordered = new Set((acme.data ?? []).map((a) => a.hostname));
  const terminateHostnames = (databases.data?.items ?? [])
    // What the API orders for: enabled terminate-mode routes (a disabled one is refused).
    .filter((d) => d.externalAccess.enabled && d.externalAccess.tlsMode === 'terminate' && !ordered.has(d.externalAccess.hostname))
    .map((d) => d.externalAccess.hostname)
    .sort();
  const setAdd = (add?: 'issue' | 'upload' | 'acme') => void navigate({ search: (prev) => ({ ...prev, add }), replace: true });

  const confirmDelete = (c: Certificate) =>
    modals.openConfirmModal({
      title: `Delete ${c.name}?`,
      children: <Text size="sm">The certificate and its encrypted private key are deleted. No route uses it.</Text>,
      labels: { confirm: `Delete ${c.name}`, cancel: 'Keep it' },
      confirmProps: { color: 'red' },
      onConfirm: () => del.mutate(c.id, { onSuccess: () => notifyDone(`Deleted ${c.name}`), onError: (e) => notifyError(e, 'Deleting the certificate') }),
    });
  const confirmReissue = (c: Certificate) =>
    modals.openConfirmModal({
      title: `Re-issue ${c.name}?`,
      children: <Text size="sm">A new key and certificate replace the current ones; routes using it ({c.routes.length}) switch over.</Text>,
      labels: { confirm: 'Re-issue', cancel: 'Cancel' },
      onConfirm: () => reissue.mutate({ id: c.id, body: {} }, { onSuccess: () => notifyDone(`Re-issued ${c.name}`), onError: (e) => notifyError(e, 'Re-issuing the certificate') }),
    });

  const confirmDeleteAcme = (a: AcmeCertificate) =>
    modals.openConfirmModal({
      title: `Stop ACME for ${a.hostname}?`,
      children: (
        <Text size="sm">
          No more orders or renewals for {a.hostname}.{' '}
          {a.certificate ? 'The issued certificate stays on the route until it expires or is replaced: attach another one before then.' : 'The route keeps its platform-CA certificate.'}
        </Text>
      ),
      labels: { confirm: 'Stop renewing', cancel: 'Keep it' },
      confirmProps: { color: 'red' },
      onConfirm: () =>
        deleteAcme.mutate(a.id, { onSuccess: () => notifyDone(`Stopped ACME for ${a.hostname}`), onError: (e) => notifyError(e, 'Deleting the ACME certificate') }),
    });
  const renew = (a: AcmeCertificate) =>
    renewAcme.mutate(a.id, {
      onSuccess: () => notifyDone(a.state === 'failed' ? `Retrying ${a.hostname} now` : `Renewing ${a.hostname} now`),
      onError: (e) => notifyError(e, a.state === 'failed' ? 'Retrying the order' : 'Renewing the certificate'),
    });

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Certificates</Title>
        <Group>
          <Guarded allowed={manage} reason={READ_ONLY_REASON}>
            <Button variant="light" disabled={!manage} onClick={() => setAdd('upload')}>
              Upload certificate
            </Button>
          </Guarded>
          <Guarded allowed={manage} reason={READ_ONLY_REASON}>
            <Button disabled={!manage} onClick={() => setAdd('issue')}>
              Issue certificate
            </Button>
          </Guarded>
        </Group>
      </Group>
      <QueryState query={list} label="Loading certificates">
        {(certs) =>
          certs.length === 0 ? (
            <EmptyState title="No certificates yet">
              <Text size="sm" c="dimmed">
                Terminate mode issues one from the platform CA automatically; upload your own for a publicly trusted name.
              </Text>
            </EmptyState>
          ) : (
            <FilteredList
              items={certs}
              texts={(c) => [c.name, c.kind, ...c.hostnames, ...c.routes.map((r) => r.hostname)]}
              noun={['certificate', 'certificates']}
              label="Filter certificates"
              placeholder="Filter by name, kind or host name"
              filter={filter}
            >
              {(rows) => (
                <Table.ScrollContainer minWidth={800}>
                  <Table striped>
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Name</Table.Th>
                        <Table.Th>Kind</Table.Th>
                        <Table.Th>Host names</Table.Th>
                        <Table.Th>Expires</Table.Th>
                        <Table.Th>Used by</Table.Th>
                        <Table.Th>
                          <VisuallyHidden>Actions</VisuallyHidden>
                        </Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {rows.map((c) => (
                        <Table.Tr key={c.id} data-testid={`cert-${c.name}`}>
                          <Table.Td fw={600}>{c.name}</Table.Td>
                          <Table.Td>
                            {c.kind}
                            {c.auto ? ' (auto)' : ''}
                          </Table.Td>
                          <Table.Td>
                            <Text size="sm" ff="monospace">
                              {c.hostnames.join(', ')}
                            </Text>
                          </Table.Td>
                          <Table.Td>
                            <Expiry cert={c} />
                          </Table.Td>
                          <Table.Td>{c.routes.length ? c.routes.map((r) => r.hostname).join(', ') : <Text size="sm" c="dimmed">no route</Text>}</Table.Td>
                          <Table.Td>
                            <Group gap="xs" wrap="nowrap">
                              <Guarded allowed={manage && c.kind !== 'acme'} reason={manage ? 'Renewed by ACME: use “Renew now” under ACME certificates' : READ_ONLY_REASON}>
                                <Button
                                  size="xs"
                                  variant="light"
                                  disabled={!manage || c.kind === 'acme'}
                                  onClick={() => (c.kind === 'uploaded' ? setReplacing(c) : confirmReissue(c))}
                                  aria-label={`Replace ${c.name}`}
                                >
                                  Replace
                                </Button>
                              </Guarded>
                              {manage && deleteBlockedReason(c, acme.data ?? []) ? (
                                <Tooltip label={deleteBlockedReason(c, acme.data ?? [])}>
                                  <span tabIndex={0}>
                                    <Button size="xs" color="red" variant="light" disabled aria-label={`Delete ${c.name}`}>
                                      Delete
                                    </Button>
                                  </span>
                                </Tooltip>
                              ) : (
                                <Guarded allowed={manage} reason={READ_ONLY_REASON}>
                                  <Button size="xs" color="red" variant="light" disabled={!manage} onClick={() => confirmDelete(c)} aria-label={`Delete ${c.name}`}>
                                    Delete
                                  </Button>
                                </Guarded>
                              )}
                            </Group>
                          </Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </Table.ScrollContainer>
              )}
            </FilteredList>
          )
        }
      </QueryState>
      <AcmeHeading>
        <Guarded allowed={manage && acmeAvailable} reason={manage ? ACME_UNAVAILABLE_REASON : READ_ONLY_REASON}>
          <Button variant="light" disabled={!manage || !acmeAvailable} onClick={() => setAdd('acme')}>
            Request ACME certificate
          </Button>
        </Guarded>
      </AcmeHeading>
      {meta.data && !acmeAvailable && (
        <Text size="sm" c="dimmed">
          {ACME_UNAVAILABLE_REASON}
        </Text>
      )}
      <QueryState query={acme} label="Loading ACME certificates">
        {(items) => <AcmeTable items={items} manage={manage} available={acmeAvailable} readOnlyReason={READ_ONLY_REASON} onRenew={renew} onDelete={confirmDeleteAcme} />}
      </QueryState>
      <Modal opened={search.add === 'acme' && manage && acmeAvailable} onClose={() => setAdd()} title="Request an ACME certificate" size="lg">
        {databases.isPending ? (
          <LoadingState label="Loading routes" />
        ) : (
          <AcmeRequestForm
            hostnames={terminateHostnames}
            httpListener={(meta.data?.listeners ?? []).some((l) => l.protocol === 'http')}
            pending={requestAcme.isPending}
            submit={(body) => requestAcme.mutateAsync(body)}
            onDone={() => setAdd()}
          />
        )}
      </Modal>
      <Modal opened={search.add === 'issue' && manage} onClose={() => setAdd()} title="Issue a certificate" size="lg">
        <IssueForm tenant={tenant} onDone={() => setAdd()} />
      </Modal>
      <Modal opened={search.add === 'upload' && manage} onClose={() => setAdd()} title="Upload a certificate" size="lg">
        <ChainAndKeyForm tenant={tenant} onDone={() => setAdd()} />
      </Modal>
      <Modal opened={!!replacing} onClose={() => setReplacing(null)} title={`Replace ${replacing?.name ?? ''}`} size="lg">
        {replacing && <ChainAndKeyForm tenant={tenant} replacing={replacing} onDone={() => setReplacing(null)} />}
      </Modal>
    </Stack>
  );
}
