/**
 * ACME certificates of the tenant: one per terminate-mode route host name, its state
 * (pending → validating → issued, or failed with the CA's reason), renewal date and next
 * attempt, and what the route serves meanwhile; request one, renew now, stop renewing.
 * Without ACME on the platform (`meta.acme`), requests are disabled with the reason.
 */
import { Alert, Badge, Button, Group, Radio, Select, Stack, Table, Text, Title, VisuallyHidden } from '@mantine/core';
import { useForm } from '@mantine/form';
import type { ReactNode } from 'react';
import { Guarded } from '../../components/Guarded';
import { EmptyState } from '../../components/QueryState';
import { STATUS } from '../../components/status-colors';
import { notifyDone, notifyError } from '../../components/notify';
import { splitApiError } from '../../lib/api/errors';
import { expiryState } from '../../lib/format';
import type { AcmeCertificate, RequestAcme } from './api';

export const ACME_UNAVAILABLE_REASON = 'This platform has no ACME CA configured (ACME_DIRECTORY_URL): ask the platform operator. Issue from the platform CA or upload a certificate instead.';

const STATE_COLORS = { pending: 'gray', validating: 'blue', issued: 'green', failed: 'red' } as const;
const STATE_HELP = {
  pending: 'waiting for the background worker',
  validating: 'order placed; the CA is validating the challenge',
  issued: 'attached to the route',
  failed: 'the order failed (the reason is shown below); retried at the next attempt',
} as const;

/**
 * What `POST …/acme-certificates/:id/renew` does in each state (acme.service.ts `renewNow`: it
 * makes the row due now). `issued`: renews before `renewAt`; `failed`: retries before the
 * backoff ends. A `pending` row is already due and a `validating` one is being ordered, so
 * there is nothing to bring forward: no button.
 */
const RENEW_LABEL: Record<AcmeCertificate['state'], string | null> = { pending: null, validating: null, issued: 'Renew now', failed: 'Retry now' };

/** "2027-01-30 08:00 UTC" */
export function utcMinute(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

export function AcmeStateBadge({ state }: { state: AcmeCertificate['state'] }) {
  return (
    <Badge color={STATE_COLORS[state]} variant={state === 'issued' ? 'filled' : 'light'} title={STATE_HELP[state]}>
      {state}
    </Badge>
  );
}

/** The CA's reason for the last failure, and whether the current certificate still serves. */
export function AcmeProblem({ problem }: { problem: AcmeCertificate['problem'] }) {
  if (!problem) return null;
  return (
    <Text size="xs" c="red.8" role="note">
      {problem.renewal ? 'Renewal failed (the current certificate is still served): ' : 'Failed: '}
      {problem.detail}
      <Text span size="xs" c="dimmed" ff="monospace">
        {' '}
        ({problem.type}
        {problem.status ? `, ${problem.status}` : ''})
      </Text>
    </Text>
  );
}

/** What a route's certificate is, by kind (GET …/certificates `kind`). */
const SERVED_KIND: Record<string, string> = {
  issued: 'a platform-CA certificate',
  'self-signed': 'a self-signed certificate',
  uploaded: 'an uploaded certificate',
  acme: 'another ACME certificate',
};

/**
 * What the route presents right now. Only the ACME certificate itself reads as such: a route
 * given another certificate (PUT …/external-access with `certificateId`) serves that one,
 * whatever the ACME state says.
 */
function ServedWith({ a }: { a: AcmeCertificate }) {
  const s = a.servedWith;
  if (s && a.certificate && s.certificateId === a.certificate.id) return <Text size="sm">the ACME certificate</Text>;
  if (s) {
    const what = SERVED_KIND[s.kind] ?? `a certificate of kind ${s.kind}`;
    if (!a.certificate) return <Text size="sm">{what} until the ACME one is issued</Text>;
    return (
      <Text size="sm" c={STATUS.warn}>
        {what}, not the ACME one (attach it to the route to serve it)
      </Text>
    );
  }
  return (
    <Text size="sm" c="dimmed">
      no certificate
    </Text>
  );
}

export interface AcmeTableProps {
  items: AcmeCertificate[];
  /** The caller may change things (admin or owner). */
  manage: boolean;
  /** ACME is configured on the platform. */
  available: boolean;
  readOnlyReason: string;
  onRenew: (a: AcmeCertificate) => void;
  onDelete: (a: AcmeCertificate) => void;
}

export function AcmeTable({ items, manage, available, readOnlyReason, onRenew, onDelete }: AcmeTableProps) {
  if (items.length === 0) {
    return (
      <EmptyState title="No ACME certificates">
        <Text size="sm" c="dimmed">
          Request one for a terminate-mode route to give clients a publicly trusted certificate (<code>sslrootcert=system</code>), no CA file needed.
        </Text>
      </EmptyState>
    );
  }
  const renewReason = manage ? ACME_UNAVAILABLE_REASON : readOnlyReason;
  return (
    <Table.ScrollContainer minWidth={900}>
      <Table striped aria-label="ACME certificates">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Host name</Table.Th>
            <Table.Th>State</Table.Th>
            <Table.Th>Expires</Table.Th>
            <Table.Th>Renews</Table.Th>
            <Table.Th>Next attempt</Table.Th>
            <Table.Th>Route serves</Table.Th>
            <Table.Th>
              <VisuallyHidden>Actions</VisuallyHidden>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((a) => (
            <Table.Tr key={a.id} data-testid={`acme-${a.hostname}`} data-state={a.state}>
              <Table.Td>
                <Text size="sm" ff="monospace" fw={600}>
                  {a.hostname}
                </Text>
                <Text size="xs" c="dimmed">
                  {a.challenge}
                </Text>
              </Table.Td>
              <Table.Td>
                <Stack gap={4}>
                  <AcmeStateBadge state={a.state} />
                  <AcmeProblem problem={a.problem} />
                </Stack>
              </Table.Td>
              <Table.Td>
                {a.certificate ? (
                  <Group gap={6} wrap="nowrap">
                    <Text size="sm">{a.certificate.notAfter.slice(0, 10)}</Text>
                    {/* Renewals failing until the end: clients now refuse it. ("Expiring soon" is
                        normal here: ACME renews with a third of the lifetime left.) */}
                    {expiryState(a.certificate.notAfter) === 'expired' && <Badge color="red">expired</Badge>}
                  </Group>
                ) : (
                  <Text size="sm" c="dimmed">
                    not issued yet
                  </Text>
                )}
              </Table.Td>
              <Table.Td>{a.renewAt ? <Text size="sm">{a.renewAt.slice(0, 10)}</Text> : <Text size="sm" c="dimmed">—</Text>}</Table.Td>
              <Table.Td>
                {a.nextAttemptAt ? <Text size="sm">{utcMinute(a.nextAttemptAt)}</Text> : <Text size="sm" c="dimmed">none scheduled</Text>}
                {a.attempts > 0 && (
                  <Text size="xs" c="dimmed">
                    after {a.attempts} failed {a.attempts === 1 ? 'attempt' : 'attempts'}
                  </Text>
                )}
              </Table.Td>
              <Table.Td>
                <ServedWith a={a} />
              </Table.Td>
              <Table.Td>
                <Group gap="xs" wrap="nowrap">
                  {RENEW_LABEL[a.state] && (
                    <Guarded allowed={manage && available} reason={renewReason}>
                      <Button size="xs" variant="light" disabled={!manage || !available} onClick={() => onRenew(a)} aria-label={`${RENEW_LABEL[a.state]}: ${a.hostname}`}>
                        {RENEW_LABEL[a.state]}
                      </Button>
                    </Guarded>
                  )}
                  <Guarded allowed={manage} reason={readOnlyReason}>
                    <Button size="xs" color="red" variant="light" disabled={!manage} onClick={() => onDelete(a)} aria-label={`Delete ACME certificate of ${a.hostname}`}>
                      Delete
                    </Button>
                  </Guarded>
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

export interface AcmeRequestFormProps {
  /** Host names of the tenant's enabled terminate-mode routes without an ACME certificate yet. */
  hostnames: string[];
  /** Whether the platform has an http listener (HTTP-01 is answered there, on port 80). */
  httpListener: boolean;
  pending: boolean;
  submit: (body: RequestAcme) => Promise<unknown>;
  onDone: () => void;
}

export function AcmeRequestForm({ hostnames, httpListener, pending, submit, onDone }: AcmeRequestFormProps) {
  const form = useForm({
    initialValues: { hostname: hostnames[0] ?? '', challenge: 'tls-alpn-01' as RequestAcme['challenge'] & string },
    validate: { hostname: (v) => (v ? null : 'Choose the host name of a terminate-mode route') },
  });
  const onSubmit = form.onSubmit(async (v) => {
    try {
      await submit({ hostname: v.hostname, challenge: v.challenge });
      notifyDone(`Requested an ACME certificate for ${v.hostname}`);
      onDone();
    } catch (err) {
      const split = splitApiError(err, (p) => p === 'hostname' || p === 'challenge', {
        SY_ACME_EXISTS: 'hostname',
        SY_ACME_ROUTE_REQUIRED: 'hostname',
        SY_ACME_WILDCARD_UNSUPPORTED: 'hostname',
        SY_ACME_DNS_MISMATCH: 'hostname',
        SY_ACME_RATE_LIMITED: 'hostname',
      });
      form.setErrors(split.fields);
      if (split.rest.length) notifyError(err, 'Requesting the ACME certificate', split.rest);
    }
  });
  return (
    <form onSubmit={onSubmit} noValidate>
      <Stack>
        {hostnames.length === 0 && (
          <Alert color="yellow" title="No route to order for">
            ACME certificates are for enabled routes in terminate mode. Enable a database’s access in terminate mode (Access settings), then come back.
          </Alert>
        )}
        <Select
          label="Host name"
          description="An enabled terminate-mode route of this tenant. It must resolve to the proxies’ public addresses so the CA can reach them."
          data={hostnames}
          allowDeselect={false}
          searchable
          required
          disabled={hostnames.length === 0}
          {...form.getInputProps('hostname')}
        />
        <Radio.Group label="Challenge" description="How the CA checks that the name is yours; the proxies answer it" {...form.getInputProps('challenge')}>
          <Stack gap={6} mt={4}>
            <Radio value="tls-alpn-01" label="TLS-ALPN-01" description="On the shared TLS port (the CA connects to port 443)" />
            <Radio
              value="http-01"
              label="HTTP-01"
              description={httpListener ? 'On the platform’s http listener (the CA connects to port 80)' : 'Not available: this platform has no http listener on port 80'}
              disabled={!httpListener}
            />
          </Stack>
        </Radio.Group>
        <Text size="xs" c="dimmed">
          Until it is issued, the route keeps serving its platform-CA certificate. Renewed automatically.
        </Text>
        <Group justify="flex-end">
          <Button type="submit" loading={pending} disabled={hostnames.length === 0}>
            Request certificate
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

export function AcmeHeading({ children }: { children?: ReactNode }) {
  return (
    <Group justify="space-between" mt="lg">
      <Title order={2} size="h3">
        ACME certificates
      </Title>
      {children}
    </Group>
  );
}
