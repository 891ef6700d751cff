/**
 * Check connection: the platform connects to a database's route like a client would and
 * shows each step with its time, or which step failed and why. `?database=` in the URL.
 */
import { Badge, Button, Group, List, Paper, Select, Stack, Table, Text, ThemeIcon, Title } from '@mantine/core';
import { STATUS } from '../../components/status-colors';
import { Link, useNavigate, useParams, useSearch } from '@tanstack/react-router';
import { ROWS_STEP } from '../../components/LongList';
import { EmptyState, ErrorState, LoadingState } from '../../components/QueryState';
import { notifyError } from '../../components/notify';
import { canManage, roleIn, useMe } from '../auth/session';
import { useCheckConnection, useTenantDatabases, type CheckResult } from './queries';

const STEP_LABEL: Record<string, string> = {
  reach: 'Reached the proxy',
  tls: 'The proxy accepted the host name (TLS)',
  certificate: 'Certificate presented',
  upstream: 'The database answered',
  dedicated: 'Through the dedicated port',
  endpoint: 'Without SNI (endpoint option)',
};

export function CheckConnectionPage() {
  const tenant = useParams({ strict: false }).tenant ?? '';
  const search: { database?: unknown } = useSearch({ strict: false });
  const navigate = useNavigate();
  const dbs = useTenantDatabases(tenant);
  const check = useCheckConnection(tenant);
  const database = typeof search.database === 'string' ? search.database : null;
  return (
    <Stack maw={900}>
      <Title order={1}>Check connection</Title>
      <Text size="sm" c="dimmed">
        The platform connects to the route’s public address with its host name, performs the database’s handshake (no credentials needed) and tells you
        which step works — so you know whether it is the route or your client.
      </Text>
      <Paper withBorder p="sm">
        {dbs.isPending ? (
          <LoadingState label="Loading databases" />
        ) : dbs.isError ? (
          <ErrorState error={dbs.error} retry={() => void dbs.refetch()} />
        ) : dbs.data.items.length === 0 ? (
          <NoDatabases tenant={tenant} />
        ) : (
          <Group align="end">
            <Select
              label="Database"
              placeholder="Choose a database"
              data={dbs.data.items.map((d) => d.name)}
              // A tenant may have thousands: type to find one; the list shows the first matches
              // (all of them would be thousands of options rendered each time it opens).
              searchable
              limit={ROWS_STEP}
              nothingFoundMessage="No database matches"
              value={database}
              onChange={(v) => {
                check.reset();
                void navigate({ to: '.', search: (v ? { database: v } : {}) as never });
              }}
              w={280}
            />
            <Button disabled={!database} loading={check.isPending} onClick={() => database && check.mutate(database, { onError: (e) => notifyError(e, 'Check connection') })}>
              Check connection
            </Button>
          </Group>
        )}
      </Paper>
      {check.data && <CheckResultView r={check.data} />}
    </Stack>
  );
}

/** Nothing to check yet: what to do first, and who can do it. */
function NoDatabases({ tenant }: { tenant: string }) {
  const manage = canManage(roleIn(useMe(), tenant));
  return (
    <EmptyState title="No databases to check yet">
      <Text size="sm" c="dimmed" ta="center" maw={560}>
        Check connection tests a database’s route. Register a database, turn on its external access, then come back here to check it.
        {manage ? '' : ' Your role in this tenant is member: an admin or owner registers databases.'}
      </Text>
      {manage && (
        <Button variant="light" renderRoot={(props) => <Link {...props} to="/t/$tenant/databases" params={{ tenant }} search={{ register: true }} />}>
          Register a database
        </Button>
      )}
    </EmptyState>
  );
}

export function CheckResultView({ r }: { r: CheckResult }) {
  return (
    <Paper withBorder p="md" aria-live="polite" data-testid="check-result">
      <Stack gap="sm">
        <Group>
          <Badge color={r.ok ? STATUS.good : STATUS.bad} size="lg">
            {r.ok ? 'Works' : `Fails at: ${STEP_LABEL[r.failedStep ?? ''] ?? r.failedStep}`}
          </Badge>
          <Text size="sm" c="dimmed">
            {r.hostname} via {r.address} ({r.tlsMode}
            {r.enabled ? '' : ', disabled'}) · {new Date(r.checkedAt).toLocaleTimeString()}
          </Text>
        </Group>
        <Text>{r.summary}</Text>
        <List spacing="xs" listStyleType="none" aria-label="Steps">
          {r.steps.map((s) => (
            <List.Item
              key={s.step}
              data-step={s.step}
              data-ok={String(s.ok)}
              icon={
                <ThemeIcon color={s.skipped || (s.optional && !s.ok) ? STATUS.neutral : s.ok ? STATUS.good : STATUS.bad} size={22} radius="xl" aria-hidden>
                  {s.skipped ? '–' : s.ok ? '✓' : '✗'}
                </ThemeIcon>
              }
            >
              <Text fw={600} span>
                {STEP_LABEL[s.step]}
              </Text>{' '}
              <Text span size="sm" c="dimmed">
                {s.skipped ? 'not run' : `${s.ms} ms`}
                {s.optional ? ' · optional' : ''}
              </Text>
              <Text size="sm">{s.message}</Text>
            </List.Item>
          ))}
        </List>
        {r.certificate && (
          <Table aria-label="Certificate presented">
            <Table.Tbody>
              <Table.Tr>
                <Table.Th w={160}>Subject</Table.Th>
                <Table.Td>{r.certificate.subject}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Issuer</Table.Th>
                <Table.Td>{r.certificate.issuer}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Names</Table.Th>
                <Table.Td>{r.certificate.subjectAltNames.join(', ')}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Valid until</Table.Th>
                <Table.Td>
                  {new Date(r.certificate.notAfter).toLocaleString()} ({r.certificate.expiresInDays} days)
                </Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>SHA-256</Table.Th>
                <Table.Td style={{ wordBreak: 'break-all' }}>{r.certificate.fingerprint256}</Table.Td>
              </Table.Tr>
            </Table.Tbody>
          </Table>
        )}
      </Stack>
    </Paper>
  );
}
