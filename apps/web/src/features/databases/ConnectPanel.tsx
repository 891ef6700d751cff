/**
 * How to connect: hostname and port, one tab per client with a copy button, the CA to
 * download when the certificate is not publicly trusted, a note on sslmode, and the options
 * for clients without SNI. Strings come from the API; only placeholders are filled here.
 */
import { Alert, Anchor, Button, Code, CopyButton, Group, Paper, SimpleGrid, Stack, Tabs, Text, TextInput, Title } from '@mantine/core';
import { useState } from 'react';
import { clientTabs, endpointOption, fillConnection, hasUserAndDatabase, type Fill } from '../../lib/connect';
import type { ExternalAccess } from './api';

export interface ConnectPanelProps {
  engine: string;
  access: ExternalAccess;
  baseDomain: string;
  /** The selected client tab (kept in the URL by the page). */
  client?: string;
  onClientChange?: (client: string) => void;
  /**
   * The user and database typed above the strings, when the page keeps them (the panel is
   * unmounted on another tab: kept here, they were lost on the way back).
   */
  fill?: Fill;
  onFillChange?: (fill: Fill) => void;
}

function Copyable({ value, label }: { value: string; label: string }) {
  return (
    <Group align="flex-start" wrap="nowrap" gap="xs">
      <Code block style={{ flex: 1, whiteSpace: 'pre-wrap', wordBreak: 'break-all' }} data-testid={`conn-${label}`}>
        {value}
      </Code>
      <CopyButton value={value}>
        {({ copied, copy }) => (
          <Button size="xs" variant={copied ? 'filled' : 'light'} color={copied ? 'teal' : undefined} onClick={copy} aria-label={`Copy ${label}`}>
            {copied ? 'Copied' : 'Copy'}
          </Button>
        )}
      </CopyButton>
    </Group>
  );
}

function downloadPem(fileName: string, pem: string) {
  const url = URL.createObjectURL(new Blob([pem], { type: 'application/x-pem-file' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  URL.revokeObjectURL(url);
}

/**
 * Which certificate clients get when the route has an ACME certificate: the platform-CA one
 * until the ACME one is issued (then they need the CA file below), the publicly trusted one after.
 */
export function AcmeNotice({ access }: { access: Pick<ExternalAccess, 'acme' | 'certificate' | 'hostname'> }) {
  const acme = access.acme;
  if (!acme) return null;
  if (access.certificate?.kind === 'acme') {
    return (
      <Text size="sm" data-testid="acme-notice">
        {access.hostname} is served with a publicly trusted ACME certificate: clients verify it with the system roots (<Code>sslrootcert=system</Code>, libpq 16+), no CA file needed.
        {acme.renewAt ? ` Renews on ${acme.renewAt.slice(0, 10)}.` : ''}
        {acme.problem ? ` The last renewal failed: ${acme.problem.detail}` : ''}
      </Text>
    );
  }
  return (
    <Alert color={acme.state === 'failed' ? 'red' : 'blue'} title={`ACME certificate ${acme.state}`} data-testid="acme-notice">
      Until the ACME certificate is issued, {access.hostname} is served with a platform-CA certificate: clients need the CA file below for now.
      {acme.problem ? ` The CA refused the last attempt: ${acme.problem.detail}` : ''}
    </Alert>
  );
}

export function ConnectPanel({ engine, access, baseDomain, client, onClientChange, fill, onFillChange }: ConnectPanelProps) {
  const [ownFill, setOwnFill] = useState<Fill>({ user: '', database: '' });
  const { user, database } = fill ?? ownFill;
  const setFill = (f: Fill) => (onFillChange ? onFillChange(f) : setOwnFill(f));
  const setUser = (u: string) => setFill({ user: u, database });
  const setDatabase = (d: string) => setFill({ user, database: d });
  const tabs = clientTabs(access.connection);
  const current = tabs.find((t) => t.key === client)?.key ?? tabs[0]?.key ?? null;
  const endpoint = engine === 'postgres' && access.tlsMode === 'terminate' ? endpointOption(access.hostname, baseDomain) : null;

  return (
    <Stack>
      {!access.enabled && (
        <Alert color="yellow" title="External access is off">
          These strings work once external access is enabled and live on every proxy.
        </Alert>
      )}
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <div>
          <Text size="sm" c="dimmed">
            Hostname
          </Text>
          <Copyable value={access.hostname} label="hostname" />
        </div>
        <div>
          <Text size="sm" c="dimmed">
            Port
          </Text>
          <Copyable value={String(access.port)} label="port" />
        </div>
      </SimpleGrid>
      {hasUserAndDatabase(engine) && (
        <Group grow>
          <TextInput label="Database user" placeholder="USER" value={user} onChange={(e) => setUser(e.currentTarget.value)} description="Filled into the strings below" />
          <TextInput label="Database name" placeholder="DBNAME" value={database} onChange={(e) => setDatabase(e.currentTarget.value)} description="Never a password: clients ask for it" />
        </Group>
      )}
      {current && (
        <Tabs value={current} onChange={(v) => v && onClientChange?.(v)} keepMounted={false}>
          <Tabs.List aria-label="Client">
            {tabs.map((t) => (
              <Tabs.Tab key={t.key} value={t.key}>
                {t.label}
              </Tabs.Tab>
            ))}
          </Tabs.List>
          {tabs.map((t) => (
            <Tabs.Panel key={t.key} value={t.key} pt="sm">
              <Stack gap="xs">
                <Copyable value={fillConnection(t.key, access.connection[t.key]!, { user, database })} label={`${t.label} connection string`} />
                {t.note && (
                  <Text size="xs" c="dimmed">
                    {t.note}
                  </Text>
                )}
              </Stack>
            </Tabs.Panel>
          ))}
        </Tabs>
      )}
      <AcmeNotice access={access} />
      {access.ca ? (
        <Paper withBorder p="sm">
          <Stack gap={4}>
            <Title order={2} size="h5">
              Certificate authority
            </Title>
            <Text size="sm">
              The certificate clients see is not publicly trusted. Save its CA as <Code>{access.ca.fileName}</Code> next to where you run the client.
            </Text>
            <Group>
              {access.ca.url ? (
                <Button component="a" href={access.ca.url} download={access.ca.fileName} size="xs" variant="light">
                  Download {access.ca.fileName}
                </Button>
              ) : (
                <Button size="xs" variant="light" onClick={() => downloadPem(access.ca!.fileName, access.ca!.pem)}>
                  Download {access.ca.fileName}
                </Button>
              )}
            </Group>
          </Stack>
        </Paper>
      ) : access.tlsMode === 'passthrough' ? (
        <Text size="sm">
          Passthrough: TLS ends at your database, so clients verify <em>its</em> certificate. Save your database server’s CA as <Code>DATABASE_CA.pem</Code>.
        </Text>
      ) : null}
      {engine === 'postgres' && (
        <Text size="sm" c="dimmed">
          <strong>sslmode:</strong> <Code>verify-full</Code> checks the certificate and that it names {access.hostname}; <Code>require</Code> only encrypts. Switchyard routes by
          the TLS server name, so every client must use TLS (libpq 14+ sends it by default).
        </Text>
      )}
      <Paper withBorder p="sm">
        <Stack gap={4}>
          <Title order={2} size="h5">
            Clients without SNI
          </Title>
          {access.dedicatedPort !== null ? (
            <Text size="sm">
              This database has its own port, <Code>{access.dedicatedPort}</Code>: see the “Without SNI” tab.
            </Text>
          ) : (
            <Text size="sm">Old clients that cannot send a TLS server name can get a dedicated port: turn it on under Access settings.</Text>
          )}
          {endpoint && (
            <Text size="sm">
              PostgreSQL clients can instead name the database in the startup options: add <Code>{endpoint}</Code> (and <Code>sslsni=0</Code>) to the connection string.
            </Text>
          )}
          {!endpoint && engine === 'postgres' && (
            <Text size="sm" c="dimmed">
              In terminate mode, PostgreSQL clients can also name the database with <Code>options=endpoint=…</Code>. <Anchor href="/docs">API reference</Anchor>
            </Text>
          )}
        </Stack>
      </Paper>
    </Stack>
  );
}
