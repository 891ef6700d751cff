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

/** The schema as plain JSON Schema: Kubernetes' x- extensions dropped (Ajv ignores them anyway). */
function jsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(jsonSchema);
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).filter(([k]) => !k.startsWith('x-kubernetes-')).map(([k, v]) => [k, jsonSchema(v)]));
  }
  return node;
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
});

describe('controller manifests', () => {
  const find = (kind: string) => controller.find((d) => d.kind === kind)!;

  it('grants exactly what the controller reads and writes', () => {
    const rules = find('ClusterRole').rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    const can = (group: string, resource: string, verb: string) => rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    for (const [g, r] of [['', 'services'], ['', 'namespaces'], ['discovery.k8s.io', 'endpointslices'], ['switchyard.io', 'externalaccesses'], ['gateway.networking.k8s.io', 'tlsroutes'], ['gateway.networking.k8s.io', 'gateways'], ['gateway.networking.k8s.io', 'gatewayclasses'], ['gateway.networking.k8s.io', 'referencegrants']] as const) {
      for (const v of ['get', 'list', 'watch']) expect(can(g, r, v), `${v} ${g}/${r}`).toBe(true);
    }
    expect(can('switchyard.io', 'externalaccesses/status', 'patch')).toBe(true);
    expect(can('gateway.networking.k8s.io', 'tlsroutes/status', 'patch')).toBe(true);
    expect(can('switchyard.io', 'externalaccesses', 'patch')).toBe(false); // never the spec
    const leases = find('Role').rules[0];
    expect(leases).toMatchObject({ apiGroups: ['coordination.k8s.io'], resources: ['leases'] });
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
