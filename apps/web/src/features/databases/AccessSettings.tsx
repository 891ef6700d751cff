/**
 * Everything about how a database is exposed, saved in one PUT (external access keeps its
 * current on/off state). Each API error lands on the field it names.
 */
import { Alert, Button, Fieldset, Group, NumberInput, Radio, Select, Stack, Switch, Text, Textarea, TextInput } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { notifyDone, notifyError } from '../../components/notify';
import { splitApiError } from '../../lib/api/errors';
import { certificatesQuery } from '../certificates/api';
import { ACME_UNAVAILABLE_REASON } from '../certificates/AcmeSection';
import { certificateChoices } from '../certificates/covers';
import { AllowlistEditor, allowlistProblem, type AllowMode } from './AllowlistEditor';
import { useChangeAccess, type ExternalAccess, type ExternalAccessChange, type Meta, type Tenant } from './api';

export const TLS_MODE_HELP = {
  passthrough: 'TLS ends at your database: the proxy only reads the server name and never sees the traffic.',
  terminate: 'The proxy ends TLS with a certificate it holds, then connects to your database (with TLS or without).',
} as const;

export interface AccessValues {
  tlsMode: 'passthrough' | 'terminate';
  hostname: string;
  allowMode: AllowMode;
  sourceCidrs: string[];
  maxConnections: number | string;
  disableBehavior: 'drain' | 'close';
  dedicatedPort: boolean;
  proxyProtocol: 'none' | 'v1' | 'v2';
  sourceAddress: string;
  /** A certificate id, '' (issue from the platform CA) or ACME_CHOICE (request one from the ACME CA). */
  certificateId: string;
  acmeChallenge: 'tls-alpn-01' | 'http-01';
  upstreamTls: boolean;
  upstreamCa: string;
  upstreamServerName: string;
}

/** The certificate choice that requests an ACME certificate with the save (`acme` in the PUT). */
export const ACME_CHOICE = 'acme';

export function valuesOf(a: ExternalAccess): AccessValues {
  return {
    tlsMode: a.tlsMode,
    hostname: a.hostname,
    allowMode: a.sourceCidrs.length ? 'only' : 'any',
    sourceCidrs: a.sourceCidrs,
    maxConnections: a.maxConnections ?? '',
    disableBehavior: a.disableBehavior,
    dedicatedPort: a.dedicatedPort !== null,
    proxyProtocol: a.proxyProtocol ?? 'none',
    sourceAddress: a.sourceAddress ?? '',
    certificateId: a.certificate?.id ?? '',
    acmeChallenge: a.acme?.challenge === 'http-01' ? 'http-01' : 'tls-alpn-01',
    upstreamTls: a.upstreamTls,
    upstreamCa: a.upstreamCa ?? '',
    upstreamServerName: a.upstreamServerName ?? '',
  };
}

/** The PUT body for the form's values; the on/off state stays what the API has now. */
export function changeOf(v: AccessValues, current: ExternalAccess): ExternalAccessChange {
  const body: ExternalAccessChange = {
    enabled: current.enabled,
    tlsMode: v.tlsMode,
    sourceCidrs: v.allowMode === 'any' ? [] : v.sourceCidrs.map((c) => c.trim()),
    maxConnections: v.maxConnections === '' ? null : Number(v.maxConnections),
    disableBehavior: v.disableBehavior,
    dedicatedPort: v.dedicatedPort,
    proxyProtocol: v.proxyProtocol === 'none' ? null : v.proxyProtocol,
    sourceAddress: v.sourceAddress || null,
  };
  if (v.hostname.trim() !== current.hostname) body.hostname = v.hostname.trim();
  if (v.tlsMode === 'terminate') {
    // Only a changed choice is sent: the API keeps the attached certificate otherwise (and
    // re-issues an automatic one when the host name moved away from it). '' asks for a
    // certificate from the platform CA.
    // ACME: the platform-CA certificate keeps serving until the ACME one is issued.
    if (v.certificateId === ACME_CHOICE) body.acme = { challenge: v.acmeChallenge };
    else if (v.certificateId !== (current.certificate?.id ?? '')) body.certificateId = v.certificateId || null;
    body.upstreamTls = v.upstreamTls;
    body.upstreamCa = v.upstreamCa.trim() || null;
    body.upstreamServerName = v.upstreamServerName.trim() || null;
  }
  return body;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The form after the API's state moved from `before` to `next` (the switch above was flipped,
 * another tab or automation saved): what the user changed stays, every other field follows
 * the API. Remounting instead lost unsaved edits at every flip of the switch.
 */
export function rebase(now: AccessValues, before: AccessValues, next: AccessValues): AccessValues {
  const out = { ...next };
  for (const k of Object.keys(next) as Array<keyof AccessValues>) if (!same(now[k], before[k])) (out as Record<string, unknown>)[k] = now[k];
  return out;
}

/**
 * Why saving these values ends the route's ACME request (the API deletes it in the same
 * transaction, docs/certificates.md: another certificate, a new host name, passthrough), or null.
 */
export function acmeEndedBy(v: AccessValues, current: ExternalAccess): string | null {
  if (!current.acme) return null;
  if (v.tlsMode === 'passthrough' && current.tlsMode === 'terminate') return 'the route switches to passthrough';
  if (v.hostname.trim() !== current.hostname) return 'the host name changes';
  if (v.tlsMode === 'terminate' && v.certificateId !== ACME_CHOICE && v.certificateId !== (current.certificate?.id ?? '')) return 'another certificate is chosen';
  return null;
}

// Fields this form shows; an error naming another (`destination`, `listener`: never sent from
// here) goes to the notification instead of a field nobody can see.
const FIELDS = new Set(['tlsMode', 'hostname', 'maxConnections', 'disableBehavior', 'dedicatedPort', 'proxyProtocol', 'sourceAddress', 'certificateId', 'acme', 'upstreamTls', 'upstreamCa', 'upstreamServerName']);
const CODE_FIELDS: Record<string, string> = {
  SY_HOSTNAME_TAKEN: 'hostname',
  SY_HOSTNAME_NOT_ALLOWED: 'hostname',
  SY_EGRESS_SOURCE_NOT_ALLOWED: 'sourceAddress',
  SY_UPSTREAM_CA_INVALID: 'upstreamCa',
  SY_CERTIFICATE_REQUIRED: 'certificateId',
  SY_CERTIFICATE_NOT_FOUND: 'certificateId',
  SY_CERTIFICATE_HOSTNAME_MISMATCH: 'certificateId',
  SY_DEDICATED_PORTS_UNAVAILABLE: 'dedicatedPort',
  SY_DEDICATED_PORTS_EXHAUSTED: 'dedicatedPort',
  SY_ACME_UNAVAILABLE: 'acme',
  SY_ACME_RATE_LIMITED: 'acme',
  SY_ACME_ROUTE_REQUIRED: 'acme',
  SY_ACME_DNS_MISMATCH: 'acme',
  SY_ACME_EXISTS: 'acme',
};

export interface AccessSettingsProps {
  tenant: string;
  database: string;
  access: ExternalAccess;
  meta: Meta;
  tenantInfo: Tenant | undefined;
  clientAddress: string | null;
  canManage: boolean;
  /** Why the form is read-only when `canManage` is false (the role, or a Kubernetes owner). */
  readOnlyReason?: string;
}

export function AccessSettings({ tenant, database, access, meta, tenantInfo, clientAddress, canManage, readOnlyReason }: AccessSettingsProps) {
  const change = useChangeAccess(tenant, database);
  const certs = useQuery({ ...certificatesQuery(tenant), enabled: canManage });
  const [cidrErrors, setCidrErrors] = useState<Record<number, string>>({});
  // What is typed in the allowlist's "add" field: saving without it would silently drop it.
  const [cidrDraft, setCidrDraft] = useState('');
  const [cidrDraftProblem, setCidrDraftProblem] = useState<string | null>(null);
  const form = useForm<AccessValues>({
    initialValues: valuesOf(access),
    validate: {
      hostname: (v) => (v.trim().length >= 3 ? null : 'Enter a host name'),
      maxConnections: (v) => (v === '' || (Number.isInteger(Number(v)) && Number(v) >= 1) ? null : 'A whole number of at least 1, or empty for no limit'),
      sourceCidrs: (v, all) => allowlistProblem(all.allowMode, v),
    },
  });
  // A new state from the API (a new version): keep the user's edits, follow it elsewhere.
  useEffect(() => {
    const next = valuesOf(access);
    const before = form.getInitialValues();
    if (same(next, before)) return;
    form.setValues(rebase(form.getValues(), before, next));
    form.setInitialValues(next);
    // One pass per new version of the route (the form itself is stable).
  }, [access.version]);
  const v = form.getValues();
  const acmeEnds = canManage ? acmeEndedBy(v, access) : null;
  const routeHost = v.hostname.trim() || access.hostname;
  const choices = certificateChoices(certs.data ?? [], routeHost);
  const chosen = choices.find((c) => c.value === v.certificateId);
  // The attached automatic certificate no longer covering a new host name is re-issued on save.
  const reissued = !!chosen?.disabled && access.certificate?.id === v.certificateId && (certs.data ?? []).some((c) => c.id === v.certificateId && c.auto);
  const domains = tenantInfo?.allowedCustomDomains ?? [];
  const httpListener = meta.listeners.some((l) => l.protocol === 'http');
  const disabled = !canManage;

  const submit = form.onSubmit((values) => {
    setCidrErrors({});
    if (values.allowMode === 'only' && cidrDraft.trim()) {
      setCidrDraftProblem(`${cidrDraft.trim()} is typed but not added: add it, or clear the field`);
      return;
    }
    // A certificate that cannot serve the host name is refused here, as the API would; an
    // attached one that merely expired does not block saving other settings.
    const changedCert = values.certificateId !== (access.certificate?.id ?? '');
    if (values.tlsMode === 'terminate' && chosen?.disabled && !reissued && (changedCert || !chosen.covers)) {
      form.setFieldError('certificateId', `${chosen.name} ${chosen.reason}`);
      return;
    }
    change.mutate(changeOf(values, access), {
      onSuccess: (saved) => {
        form.setInitialValues(valuesOf(saved));
        form.setValues(valuesOf(saved));
        notifyDone('Access settings saved');
      },
      onError: (err) => {
        const split = splitApiError(err, (p) => FIELDS.has(p) || /^sourceCidrs\.\d+$/.test(p), CODE_FIELDS);
        const byIndex: Record<number, string> = {};
        const fields: Record<string, string> = {};
        for (const [k, m] of Object.entries(split.fields)) {
          const idx = /^sourceCidrs\.(\d+)$/.exec(k);
          if (idx) byIndex[Number(idx[1])] = m;
          // `body.acme` is the ACME choice of the certificate field.
          else if (k === 'acme') fields.certificateId = m;
          else fields[k] = m;
        }
        setCidrErrors(byIndex);
        form.setErrors(fields);
        if (split.rest.length) notifyError(err, 'Saving access settings', split.rest);
      },
    });
  });

  return (
    <form onSubmit={submit} noValidate aria-label="Access settings">
      <Stack>
        <Radio.Group label="TLS mode" {...form.getInputProps('tlsMode')}>
          <Stack gap={6} mt={4}>
            {(['passthrough', 'terminate'] as const).map((m) => (
              <Radio key={m} value={m} label={m} description={TLS_MODE_HELP[m]} disabled={disabled} />
            ))}
          </Stack>
        </Radio.Group>
        <TextInput
          label="Hostname"
          description={
            domains.length
              ? `Clients connect to this name. Custom names must be under: ${domains.join(', ')}`
              : 'Clients connect to this name. This tenant has no domains allowed for custom names.'
          }
          disabled={disabled}
          {...form.getInputProps('hostname')}
        />
        <Fieldset legend="Source allowlist">
          <AllowlistEditor
            mode={v.allowMode}
            entries={v.sourceCidrs}
            clientAddress={clientAddress}
            errors={cidrErrors}
            error={form.errors.sourceCidrs as string | undefined}
            disabled={disabled}
            onDraftChange={(d) => {
              setCidrDraft(d);
              setCidrDraftProblem(null);
            }}
            draftProblem={cidrDraftProblem}
            onChange={(mode, entries) => {
              setCidrErrors({});
              form.setFieldValue('allowMode', mode);
              form.setFieldValue('sourceCidrs', entries);
              form.clearFieldError('sourceCidrs');
            }}
          />
        </Fieldset>
        <NumberInput
          label="Connection limit"
          description="Most open connections at once through each proxy; empty for no limit"
          min={1}
          allowDecimal={false}
          disabled={disabled}
          {...form.getInputProps('maxConnections')}
        />
        <Radio.Group label="When access is disabled" {...form.getInputProps('disableBehavior')}>
          <Group mt={4}>
            <Radio value="drain" label="Drain open connections" disabled={disabled} />
            <Radio value="close" label="Close open connections" disabled={disabled} />
          </Group>
        </Radio.Group>
        <Switch
          label="Dedicated port"
          description={
            meta.dedicatedPorts
              ? access.dedicatedPort !== null
                ? `Port ${access.dedicatedPort} is this database’s own (for clients without SNI)`
                : 'Give this database a port of its own, for clients that cannot send SNI'
              : 'This platform has no pool of dedicated ports configured'
          }
          disabled={disabled || (!meta.dedicatedPorts && !v.dedicatedPort)}
          {...form.getInputProps('dedicatedPort', { type: 'checkbox' })}
        />
        <Select
          label="PROXY protocol to the upstream"
          description="Tell your database the client’s real address (it must be configured to expect the header)"
          data={[
            { value: 'none', label: 'None' },
            { value: 'v1', label: 'PROXY v1 (text)' },
            { value: 'v2', label: 'PROXY v2 (binary)' },
          ]}
          allowDeselect={false}
          disabled={disabled}
          {...form.getInputProps('proxyProtocol')}
        />
        <Select
          label="Egress source address"
          description={meta.egressSourceAddresses.length ? 'The address connections to your database leave from (for your firewall)' : 'This platform has no static egress addresses configured'}
          data={[{ value: '', label: 'Any (the proxy’s own)' }, ...meta.egressSourceAddresses.map((a) => ({ value: a, label: a }))]}
          allowDeselect={false}
          disabled={disabled || meta.egressSourceAddresses.length === 0}
          {...form.getInputProps('sourceAddress')}
        />
        {v.tlsMode === 'terminate' && (
          <Fieldset legend="Terminate mode">
            <Stack>
              <Select
                label="Certificate"
                description={
                  reissued
                    ? `The automatic certificate does not cover ${routeHost}: a new one is issued from the platform CA when you save`
                    : `The certificate the proxy presents. Only certificates covering ${routeHost} can be chosen; none chosen: one is issued from the platform CA`
                }
                data={[
                  { value: '', label: 'Issue from the platform CA' },
                  // Offered while the route has no ACME request (its state is below once it has).
                  ...(access.acme ? [] : [{ value: ACME_CHOICE, label: 'Request a publicly trusted certificate (ACME)', disabled: !meta.acme }]),
                  ...choices.map((c) => ({ value: c.value, label: c.label, disabled: c.disabled })),
                  // Read-only views do not load the list: still name the certificate in use.
                  ...(access.certificate && !certs.data?.some((c) => c.id === access.certificate!.id) ? [{ value: access.certificate.id, label: access.certificate.name }] : []),
                ]}
                allowDeselect={false}
                disabled={disabled}
                {...form.getInputProps('certificateId')}
              />
              {!access.acme && !meta.acme && (
                <Text size="xs" c="dimmed" data-testid="acme-unavailable">
                  {ACME_UNAVAILABLE_REASON}
                </Text>
              )}
              {access.acme && (
                <Text size="sm" data-testid="access-acme-state">
                  ACME certificate {access.acme.state} ({access.acme.challenge})
                  {access.acme.state === 'issued' ? '' : ': the platform-CA certificate is served until it is issued'}
                  {access.acme.problem ? `. Last failure: ${access.acme.problem.detail}` : ''}. Details under Certificates.
                </Text>
              )}
              {v.certificateId === ACME_CHOICE && (
                <Radio.Group
                  label="ACME challenge"
                  description="How the CA checks that the name is yours; the proxies answer it. Until it is issued, the platform-CA certificate is served."
                  {...form.getInputProps('acmeChallenge')}
                >
                  <Stack gap={6} mt={4}>
                    <Radio value="tls-alpn-01" label="TLS-ALPN-01" description="On the shared TLS port (the CA connects to port 443)" disabled={disabled} />
                    <Radio
                      value="http-01"
                      label="HTTP-01"
                      description={httpListener ? 'On the platform’s http listener (the CA connects to port 80)' : 'Not available: this platform has no http listener on port 80'}
                      disabled={disabled || !httpListener}
                    />
                  </Stack>
                </Radio.Group>
              )}
              <Switch label="TLS to the upstream" description="Off: plaintext from the proxy to your database (inside the cluster)" disabled={disabled} {...form.getInputProps('upstreamTls', { type: 'checkbox' })} />
              {v.upstreamTls && (
                <Textarea
                  label="Upstream CA (PEM)"
                  description="Verify your database’s certificate and host name against this CA; empty: not verified"
                  autosize
                  minRows={2}
                  maxRows={8}
                  styles={{ input: { fontFamily: 'monospace', fontSize: 12 } }}
                  disabled={disabled}
                  {...form.getInputProps('upstreamCa')}
                />
              )}
              {v.upstreamTls && (
                <TextInput
                  label="Upstream server name"
                  description="The name your database’s certificate carries, sent as SNI and checked with the CA above — needed when the upstream is an IP address (pod addresses); empty: the upstream’s host name"
                  placeholder="pg-rw.tenant.svc"
                  disabled={disabled}
                  spellCheck={false}
                  autoCapitalize="off"
                  {...form.getInputProps('upstreamServerName')}
                />
              )}
            </Stack>
          </Fieldset>
        )}
        {acmeEnds && access.acme && (
          <Alert color="yellow" title="This ends the ACME certificate request" data-testid="acme-ends">
            Saving ends the ACME request for {access.hostname} ({access.acme.state}) because {acmeEnds}: it is no longer ordered or renewed
            {access.certificate?.kind === 'acme' ? '; the issued certificate stays among the tenant’s certificates' : ''}.
          </Alert>
        )}
        {canManage ? (
          <Group>
            <Button type="submit" loading={change.isPending} disabled={!form.isDirty()}>
              Save access settings
            </Button>
            {form.isDirty() && (
              <Button variant="default" onClick={() => form.reset()}>
                Discard changes
              </Button>
            )}
          </Group>
        ) : (
          <Text size="sm" c="dimmed" data-testid="access-read-only">
            {readOnlyReason ?? 'Read-only: your role in this tenant is member. An admin or owner can change these settings.'}
          </Text>
        )}
      </Stack>
    </form>
  );
}
