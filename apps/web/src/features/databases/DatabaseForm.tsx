/**
 * Register or edit a database: engine and one or more upstream endpoints. A refused upstream
 * (the tenant's policy) shows the policy's reason on the endpoint's host field. When registering,
 * a service the Kubernetes controller discovered can fill name, engine and upstream.
 */
import { ActionIcon, Button, Group, NumberInput, Select, Stack, Text, TextInput } from '@mantine/core';
import { DiscoveredPicker } from './DiscoveredPicker';
import { useForm } from '@mantine/form';
import { notifyError } from '../../components/notify';
import { splitApiError } from '../../lib/api/errors';
import { requestLimits } from '../../lib/api/limits';
import type { CreateDatabase, Database, DiscoveredService } from './api';

export const ENGINES = [
  { value: 'postgres', label: 'PostgreSQL', port: 5432 },
  { value: 'redis', label: 'Redis', port: 6379 },
  { value: 'mongodb', label: 'MongoDB', port: 27017 },
  { value: 'kubernetes-api', label: 'Kubernetes API server', port: 443 },
  { value: 'tls', label: 'Any TLS service', port: 443 },
  { value: 'http', label: 'HTTP', port: 80 },
] as const;

type Engine = CreateDatabase['engine'];

/** The API's rule for a database name (its OpenAPI schema): one DNS label, at most `maxLength`. */
export const NAME_LIMITS = requestLimits['POST /api/v1/tenants/{tenant}/databases'].name;
const NAME_PATTERN = new RegExp(NAME_LIMITS.pattern);
const NAME_RULE = `Lowercase letters, digits and dashes, at most ${NAME_LIMITS.maxLength} characters, starting and ending with a letter or digit (it becomes the first label of the hostname)`;

/** A discovered service's name made a valid database name: lower case, dashes, cut to the limit. */
export function nameFrom(service: string): string {
  return service
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, NAME_LIMITS.maxLength)
    .replace(/^-+|-+$/g, '');
}

export interface DatabaseFormValues {
  name: string;
  engine: Engine;
  endpoints: Array<{ host: string; port: number | string }>;
  /** The discovered service the upstream was filled from (`namespace/name`), if any. */
  source: string;
}

/** API field → form path: `upstream.host` and `upstream` are the first endpoint. */
export function formFieldOf(path: string): string {
  if (path === 'upstream' || path === 'upstream.host') return 'endpoints.0.host';
  if (path === 'upstream.port') return 'endpoints.0.port';
  const m = /^endpoints\.(\d+)$/.exec(path);
  if (m) return `endpoints.${m[1]}.host`;
  if (path.startsWith('discoveredService')) return 'source';
  return path;
}

const KNOWN = /^(name|engine|source|endpoints\.\d+\.(host|port))$/;

export function DatabaseForm({
  initial,
  submitLabel,
  pending,
  onSubmit,
  onCancel,
  discovered,
}: {
  initial?: Database;
  /** Services to register from (registration only); undefined: no picker. */
  discovered?: DiscoveredService[] | undefined;
  submitLabel: string;
  pending: boolean;
  onSubmit: (values: DatabaseFormValues) => Promise<unknown>;
  onCancel?: () => void;
}) {
  const form = useForm<DatabaseFormValues>({
    initialValues: {
      name: initial?.name ?? '',
      engine: initial?.engine ?? 'postgres',
      endpoints: initial?.endpoints.map((e) => ({ host: e.host, port: e.port })) ?? [{ host: '', port: 5432 }],
      source: '',
    },
    validate: {
      name: (v) => (initial || NAME_PATTERN.test(v) ? null : NAME_RULE),
      endpoints: {
        host: (v) => (v.trim() ? null : 'Enter the host name or address inside the cluster'),
        port: (v) => (Number.isInteger(Number(v)) && Number(v) >= 1 && Number(v) <= 65535 ? null : 'A port from 1 to 65535'),
      },
    },
  });

  const submit = form.onSubmit(async (values) => {
    try {
      await onSubmit(values);
    } catch (err) {
      const split = splitApiError(err, (p) => KNOWN.test(formFieldOf(p)), { SY_DATABASE_EXISTS: 'name', SY_LISTENER_MISMATCH: 'engine', SY_DISCOVERED_SERVICE_NOT_FOUND: 'source' });
      form.setErrors(Object.fromEntries(Object.entries(split.fields).map(([k, m]) => [formFieldOf(k), m])));
      if (split.rest.length) notifyError(err, initial ? 'Saving the database' : 'Registering the database', split.rest);
    }
  });

  const endpoints = form.getValues().endpoints;
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        {!initial && discovered && (
          <DiscoveredPicker
            services={discovered}
            value={form.getValues().source}
            error={form.errors.source as string | undefined}
            onPick={(s) => {
              form.clearFieldError('source');
              if (!s) {
                form.setFieldValue('source', '');
                return;
              }
              const v = form.getValues();
              form.setValues({
                source: `${s.namespace}/${s.name}`,
                // A name the user typed stays; otherwise the service's, made a valid label.
                name: v.name || nameFrom(s.name),
                engine: s.engine,
                endpoints: [{ host: s.upstream.host, port: s.upstream.port }],
              });
            }}
          />
        )}
        {!initial && <TextInput label="Name" description={`Becomes the first label of its hostname, e.g. orders; at most ${NAME_LIMITS.maxLength} characters`} required data-autofocus {...form.getInputProps('name')} />}
        <Select
          label="Engine"
          data={ENGINES.map((e) => ({ value: e.value, label: e.label }))}
          allowDeselect={false}
          {...form.getInputProps('engine')}
          onChange={(v) => {
            if (!v) return;
            const engine = ENGINES.find((e) => e.value === v)!;
            const before = ENGINES.find((e) => e.value === form.getValues().engine);
            form.setFieldValue('engine', v as Engine);
            // Follow the engine's usual port unless one was typed.
            form.setFieldValue(
              'endpoints',
              form.getValues().endpoints.map((ep) => ({ ...ep, port: !ep.port || Number(ep.port) === before?.port ? engine.port : ep.port })),
            );
          }}
        />
        <Stack gap="xs">
          <Text size="sm" fw={500}>
            Upstream
          </Text>
          <Text size="xs" c="dimmed">
            Where connections go inside the cluster: a service name or address and port. Several endpoints share the connections.
          </Text>
          {endpoints.map((_, i) => (
            <Group key={i} align="flex-start" wrap="nowrap" gap="xs">
              <TextInput style={{ flex: 1 }} label={`Host ${i + 1}`} placeholder="orders-rw.acme.svc.cluster.local" {...form.getInputProps(`endpoints.${i}.host`)} />
              <NumberInput w={110} label={`Port ${i + 1}`} min={1} max={65535} allowDecimal={false} {...form.getInputProps(`endpoints.${i}.port`)} />
              {endpoints.length > 1 && (
                <ActionIcon mt={25} size="lg" variant="subtle" color="red" aria-label={`Remove endpoint ${i + 1}`} onClick={() => form.removeListItem('endpoints', i)}>
                  ✕
                </ActionIcon>
              )}
            </Group>
          ))}
          <div>
            <Button
              size="xs"
              variant="subtle"
              disabled={endpoints.length >= 16}
              onClick={() => form.insertListItem('endpoints', { host: '', port: ENGINES.find((e) => e.value === form.getValues().engine)!.port })}
            >
              Add an endpoint
            </Button>
          </div>
        </Stack>
        <Group justify="flex-end">
          {onCancel && (
            <Button variant="default" onClick={onCancel}>
              Cancel
            </Button>
          )}
          <Button type="submit" loading={pending}>
            {submitLabel}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/**
 * The registration body: the discovered service itself while the upstream is still the one it
 * filled in (the API resolves it from what the controller saw), otherwise the typed upstream.
 */
export function createBody(values: DatabaseFormValues, discovered: DiscoveredService[] = []): CreateDatabase {
  const base = { name: values.name.trim(), engine: values.engine };
  const picked = discovered.find((s) => `${s.namespace}/${s.name}` === values.source);
  const [only, ...more] = values.endpoints;
  if (picked && !more.length && only && only.host.trim() === picked.upstream.host && Number(only.port) === picked.upstream.port) {
    return { ...base, discoveredService: { namespace: picked.namespace, name: picked.name } };
  }
  return { ...base, ...upstreamBody(values) };
}

/** The API body for the form: one endpoint as `upstream`, several as `endpoints`. */
export function upstreamBody(values: DatabaseFormValues): Pick<CreateDatabase, 'upstream' | 'endpoints'> {
  const list = values.endpoints.map((e) => ({ host: e.host.trim(), port: Number(e.port) }));
  return list.length === 1 ? { upstream: list[0]! } : { endpoints: list };
}
