/**
 * The controller's manifests: the ExternalAccess CRD's schema accepts every example of
 * docs/kubernetes.md and of the translator's golden inputs and rejects bad objects; the RBAC
 * covers what the controller reads and writes; two replicas; `kubectl kustomize` renders.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { requireTool } from '@switchyard/testkit';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const root = join(import.meta.dirname, '..');
const base = join(import.meta.dirname, 'base');
const yamlDocs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>).filter(Boolean);
const crd = yamlDocs(readFileSync(join(base, 'crds/externalaccess.yaml'), 'utf8'))[0]!;
const controller = yamlDocs(readFileSync(join(base, 'controller.yaml'), 'utf8'));
const version = crd.spec.versions[0];

/**
 * The schema as plain JSON Schema: Kubernetes' x- extensions dropped (Ajv ignores them anyway),
 * and every object with `properties` closed (`additionalProperties: false`), as the API server's
 * strict field validation (kubectl's default) treats it: an unknown field is refused. (The CRD
 * itself must not say so: see the structural-schema test.)
 */
function jsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(jsonSchema);
  if (node && typeof node === 'object') {
    const out = Object.fromEntries(Object.entries(node).filter(([k]) => !k.startsWith('x-kubernetes-')).map(([k, v]) => [k, jsonSchema(v)]));
    const n = node as Record<string, unknown>;
    if (n.properties && n.additionalProperties === undefined && !n['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
    return out;
  }
  return node;
}

/**
 * What the API server checks before it accepts a CRD (apiextensions-apiserver: structural
 * schemas, pkg/apiserver/schema/validation.go, and ValidateCustomResourceDefinitionOpenAPISchema):
 * a schema that breaks one of these rules is refused, and `kubectl apply` creates no CRD at all.
 * Returns the problems, each with its path.
 */
function structuralProblems(schema: Record<string, any>): string[] {
  const problems: string[] = [];
  const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;
  const isIntOrStringAnyOf = (anyOf: unknown) => JSON.stringify(anyOf) === JSON.stringify([{ type: 'integer' }, { type: 'string' }]);
  /** Inside allOf/anyOf/oneOf/not: value validation only. */
  const nested = (n: Record<string, any>, path: string, skipAnyOf = false) => {
    for (const k of ['type', 'default', 'description', 'title', 'nullable', 'additionalProperties']) if (n[k] !== undefined) problems.push(`${path}.${k}: must be empty to be structural (inside a junctor)`);
    for (const k of Object.keys(n)) if (k.startsWith('x-kubernetes-')) problems.push(`${path}.${k}: must not be set inside a junctor`);
    if (n.properties?.metadata) problems.push(`${path}.properties.metadata: must not be specified in a nested context`);
    for (const [k, v] of Object.entries(n.properties ?? {})) nested(v as Record<string, any>, `${path}.properties.${k}`);
    if (n.items) nested(n.items, `${path}.items`);
    for (const j of JUNCTORS) {
      if (j === 'anyOf' && skipAnyOf) continue;
      for (const [i, c] of (j === 'not' ? (n.not ? [n.not] : []) : (n[j] ?? [])).entries()) nested(c, `${path}.${j}[${i}]`);
    }
  };
  const walk = (n: Record<string, any>, path: string, level: 'root' | 'field' | 'item') => {
    if (n.properties && n.additionalProperties !== undefined) problems.push(`${path}: additionalProperties and properties are mutual exclusive`);
    if (level === 'root' && n.additionalProperties !== undefined) problems.push(`${path}.additionalProperties: must not be used at the root`);
    if (!n.type && !n['x-kubernetes-int-or-string'] && !n['x-kubernetes-preserve-unknown-fields']) problems.push(`${path}.type: must not be empty`);
    if (n.type === 'array' && !n.items) problems.push(`${path}.items: must be specified`);
    if (n['x-kubernetes-int-or-string'] && n.type) problems.push(`${path}.type: must be empty with x-kubernetes-int-or-string`);
    if (n.uniqueItems) problems.push(`${path}.uniqueItems: cannot be set to true`);
    for (const k of (n['x-kubernetes-list-map-keys'] ?? []) as string[]) {
      if (!(n.items?.required ?? []).includes(k) && n.items?.properties?.[k]?.default === undefined) problems.push(`${path}: list map key ${k} must be required or defaulted`);
    }
    // The two int-or-string shapes the API server allows a `type` under a junctor for.
    const skipAnyOf = Boolean(n['x-kubernetes-int-or-string']) && isIntOrStringAnyOf(n.anyOf);
    const skipAllOfAnyOf = Boolean(n['x-kubernetes-int-or-string']) && isIntOrStringAnyOf(n.allOf?.[0]?.anyOf);
    for (const [i, c] of (n.anyOf ?? []).entries()) if (!skipAnyOf) nested(c, `${path}.anyOf[${i}]`);
    for (const [i, c] of (n.allOf ?? []).entries()) nested(c, `${path}.allOf[${i}]`, i === 0 && skipAllOfAnyOf);
    for (const [i, c] of (n.oneOf ?? []).entries()) nested(c, `${path}.oneOf[${i}]`);
    if (n.not) nested(n.not, `${path}.not`);
    if (level === 'root' && n.properties?.metadata && JSON.stringify(n.properties.metadata) !== JSON.stringify({ type: 'object' })) problems.push(`${path}.properties.metadata: must not specify anything other than name and generateName`);
    for (const [k, v] of Object.entries(n.properties ?? {})) if (!(level === 'root' && k === 'metadata')) walk(v as Record<string, any>, `${path}.properties.${k}`, 'field');
    if (n.items) walk(n.items, `${path}.items`, 'item');
    if (n.additionalProperties && typeof n.additionalProperties === 'object') walk(n.additionalProperties, `${path}.additionalProperties`, 'field');
  };
  walk(schema, 'openAPIV3Schema', 'root');
  return problems;
}
// The JSON Schema validator the API declares (Ajv 8), not whichever copy happens to be hoisted.
type AjvError = { instancePath: string; message?: string };
type Validator = ((data: unknown) => boolean) & { errors?: AjvError[] | null };
type AjvClass = new (opts: Record<string, unknown>) => { compile(schema: object): Validator };
const Ajv = (createRequire(join(root, 'apps/api/package.json'))('ajv') as { default: AjvClass }).default;
// strict off: Kubernetes formats (int64, date-time) and keywords are not Ajv's business here.
const validate = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(jsonSchema(version.schema.openAPIV3Schema) as object);
const check = (o: unknown) => (validate(o) ? 'ok' : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('; '));

/** Every ExternalAccess in the ```yaml blocks of docs/kubernetes.md. */
function documented(): Record<string, any>[] {
  const md = readFileSync(join(root, 'docs/kubernetes.md'), 'utf8');
  return [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((m) => yamlDocs(m[1]!)).filter((d) => d.kind === 'ExternalAccess');
}

describe('ExternalAccess CRD', () => {
  it('has a structural schema the API server accepts', () => {
    expect(structuralProblems(version.schema.openAPIV3Schema)).toEqual([]);
    // The checker itself catches what the API server refuses.
    expect(structuralProblems({ type: 'object', properties: { spec: { type: 'object', additionalProperties: false, properties: { a: { type: 'string' } } } } })).toEqual([
      'openAPIV3Schema.properties.spec: additionalProperties and properties are mutual exclusive',
    ]);
    const port = (anyOf: unknown) => ({ type: 'object', properties: { port: { 'x-kubernetes-int-or-string': true, anyOf } } });
    expect(structuralProblems(port([{ type: 'integer' }, { type: 'string' }]))).toEqual([]);
    expect(structuralProblems(port([{ type: 'integer', minimum: 1 }, { type: 'string' }]))).toEqual(['openAPIV3Schema.properties.port.anyOf[0].type: must be empty to be structural (inside a junctor)', 'openAPIV3Schema.properties.port.anyOf[1].type: must be empty to be structural (inside a junctor)']);
  });

  it('is namespaced, served with a status subresource, a short name and the printer columns', () => {
    expect(crd.spec).toMatchObject({ group: 'switchyard.io', scope: 'Namespaced', names: { kind: 'ExternalAccess', plural: 'externalaccesses', shortNames: ['xa'] } });
    expect(version).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
    expect(version.additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['Hostname', 'Mode', 'Ready', 'Age']));
  });

  it('accepts every documented example and every golden-test input', () => {
    const docs = documented();
    expect(docs.length).toBeGreaterThanOrEqual(3);
    const casesDir = join(root, 'apps/controller/src/translate/testdata/cases');
    const golden = readdirSync(casesDir)
      .filter((f) => f.endsWith('.in.yaml'))
      .flatMap((f) => yamlDocs(readFileSync(join(casesDir, f), 'utf8')))
      .filter((d) => d.kind === 'ExternalAccess');
    expect(golden.length).toBeGreaterThan(5);
    for (const o of [...docs, ...golden]) expect(check(o), `${o.metadata.namespace}/${o.metadata.name}`).toBe('ok');
  });

  it('rejects bad objects, naming the field', () => {
    const ok = { apiVersion: 'switchyard.io/v1alpha1', kind: 'ExternalAccess', metadata: { name: 'x' }, spec: { service: { name: 'pg', port: 5432 } } };
    const bad: [string, Record<string, unknown>][] = [
      ['both service and endpoints', { service: { name: 'pg', port: 5432 }, endpoints: [{ host: 'a.b', port: 1 }] }],
      ['neither service nor endpoints', { engine: 'postgres' }],
      ['unknown TLS mode', { service: { name: 'pg', port: 5432 }, tlsMode: 'tls' }],
      ['port 0', { service: { name: 'pg', port: 0 } }],
      ['unknown field', { service: { name: 'pg', port: 5432 }, hostnme: 'a.example.com' }],
      ['bad hostname', { service: { name: 'pg', port: 5432 }, hostname: 'not a host' }],
      ['unknown engine', { service: { name: 'pg', port: 5432 }, engine: 'oracle' }],
      ['no connections', { service: { name: 'pg', port: 5432 }, maxConnections: 0 }],
      ['not a CIDR', { service: { name: 'pg', port: 5432 }, sourceCidrs: ['everyone'] }],
      ['too many endpoints', { endpoints: Array.from({ length: 17 }, (_, i) => ({ host: `h${i}.acme.svc`, port: 5432 })) }],
    ];
    expect(check(ok)).toBe('ok');
    for (const [what, spec] of bad) expect(check({ ...ok, spec }), what).not.toBe('ok');
    expect(check({ ...ok, spec: { service: { name: 'pg', port: 5432 }, tlsMode: 'tls' } })).toContain('/spec/tlsMode');
  });

  it('takes the upstream TLS leg (upstreamCa, upstreamServerName) and refuses a server name that is not a DNS name', () => {
    const ok = { apiVersion: 'switchyard.io/v1alpha1', kind: 'ExternalAccess', metadata: { name: 'x' }, spec: { service: { name: 'pg-rw', port: 5432 }, tlsMode: 'terminate' } };
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBoTCCAUegAwIBAgIU\n-----END CERTIFICATE-----\n';
    const spec = (extra: Record<string, unknown>) => ({ ...ok, spec: { ...ok.spec, ...extra } });
    for (const name of ['pg-rw', 'pg-rw.acme-prod.svc', 'pg-rw.acme-prod.svc.cluster.local', 'PG-RW.Acme-Prod.svc.cluster.local.', `${'a'.repeat(63)}.svc`]) {
      expect(check(spec({ upstreamCa: pem, upstreamServerName: name })), name).toBe('ok');
    }
    const bad: [string, Record<string, unknown>, string][] = [
      ['an IP address', { upstreamServerName: '10.244.1.17' }, '/spec/upstreamServerName'],
      ['an IPv6 address', { upstreamServerName: 'fd00::17' }, '/spec/upstreamServerName'],
      ['a port', { upstreamServerName: 'pg-rw.acme-prod.svc:5432' }, '/spec/upstreamServerName'],
      ['a wildcard', { upstreamServerName: '*.acme-prod.svc' }, '/spec/upstreamServerName'],
      ['a URL', { upstreamServerName: 'https://pg-rw.acme-prod.svc' }, '/spec/upstreamServerName'],
      ['an empty label', { upstreamServerName: 'pg-rw..svc' }, '/spec/upstreamServerName'],
      ['a label of 64 characters', { upstreamServerName: `${'a'.repeat(64)}.svc` }, '/spec/upstreamServerName'],
      ['a leading hyphen', { upstreamServerName: '-pg.svc' }, '/spec/upstreamServerName'],
      ['254 characters', { upstreamServerName: `${'a.'.repeat(126)}ab` }, '/spec/upstreamServerName'],
      ['an empty name', { upstreamServerName: '' }, '/spec/upstreamServerName'],
      ['a name that is not a string', { upstreamServerName: 5432 }, '/spec/upstreamServerName'],
      ['an empty CA', { upstreamCa: '' }, '/spec/upstreamCa'],
      ['a CA past 64 KiB', { upstreamCa: pem.repeat(2000) }, '/spec/upstreamCa'],
      ['a CA that is not a string', { upstreamCa: { 'ca.crt': pem } }, '/spec/upstreamCa'],
    ];
    for (const [what, extra, field] of bad) expect(check(spec(extra)), what).toContain(field);
  });
});

describe('controller manifests', () => {
  const find = (kind: string) => controller.find((d) => d.kind === kind)!;

  it('grants exactly what the controller reads and writes, nothing more (least privilege)', () => {
    const rules = find('ClusterRole').rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    const granted = rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${g}/${res}`)))).sort();
    // The informers list and watch; the status writer patches /status, re-reads a TLSRoute
    // after a 409 and patches a TLSRoute's switchyard.io/last-accepted-backends annotation
    // (controller.int.test.ts checks every request it made against this role).
    const read = [['', 'namespaces'], ['', 'services'], ['discovery.k8s.io', 'endpointslices'], ['switchyard.io', 'externalaccesses'], ['gateway.networking.k8s.io', 'tlsroutes'], ['gateway.networking.k8s.io', 'gateways'], ['gateway.networking.k8s.io', 'gatewayclasses'], ['gateway.networking.k8s.io', 'referencegrants']];
    const used = [
      ...read.flatMap(([g, r]) => [`list ${g}/${r}`, `watch ${g}/${r}`]),
      'get gateway.networking.k8s.io/tlsroutes',
      'patch gateway.networking.k8s.io/tlsroutes',
      ...['switchyard.io/externalaccesses', 'gateway.networking.k8s.io/tlsroutes', 'gateway.networking.k8s.io/gateways', 'gateway.networking.k8s.io/gatewayclasses'].map((r) => `patch ${r}/status`),
    ].sort();
    expect(granted).toEqual(used);
    // Leader election is a PostgreSQL advisory lock and no Events are emitted: no Lease or
    // Event permission, and no namespaced Role at all.
    expect(controller.filter((d) => d.kind === 'Role' || d.kind === 'RoleBinding')).toEqual([]);
  });

  it('runs two non-root replicas with the service account, probes and the shared configuration', () => {
    const d = find('Deployment');
    expect(d.spec.replicas).toBe(2);
    const spec = d.spec.template.spec;
    expect(spec.serviceAccountName).toBe(find('ServiceAccount').metadata.name);
    expect(spec.securityContext.runAsNonRoot).toBe(true);
    const c = spec.containers[0];
    expect(c.args).toEqual(['node', 'apps/controller/dist/main.js']);
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.envFrom.map((e: { configMapRef?: { name: string } }) => e.configMapRef?.name).filter(Boolean)).toEqual(['switchyard-config']);
  });

  it('is scraped like the proxies: its metrics (watch health, forbidden resources, leadership) are what pages an operator', () => {
    const t = find('Deployment').spec.template;
    const port = t.spec.containers[0].ports.find((p: { name: string }) => p.name === 'metrics').containerPort;
    expect(t.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' });
  });

  it('renders with kubectl kustomize (base and the Gateway API class)', () => {
    const kubectl = requireTool('kubectl');
    const out = spawnSync(kubectl, ['kustomize', base], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    const kinds = yamlDocs(out.stdout).map((d) => `${d.kind}/${d.metadata.name}`);
    expect(kinds).toEqual(expect.arrayContaining(['CustomResourceDefinition/externalaccesses.switchyard.io', 'Deployment/switchyard-controller', 'ClusterRole/switchyard-controller']));
    // Cluster-scoped objects must not get the namespace.
    const rendered = yamlDocs(out.stdout);
    for (const d of rendered.filter((x) => ['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(x.kind))) expect(d.metadata.namespace, d.kind).toBeUndefined();
    const gw = spawnSync(kubectl, ['kustomize', join(import.meta.dirname, 'gateway-api')], { encoding: 'utf8' });
    expect(gw.status, gw.stderr).toBe(0);
    expect(yamlDocs(gw.stdout)[0]).toMatchObject({ kind: 'GatewayClass', spec: { controllerName: 'switchyard.io/gateway-controller' } });
    expect(yamlDocs(gw.stdout)[0]!.metadata.namespace).toBeUndefined();
  }, 30_000); // two kubectl processes: a second each, more on a busy machine
});
