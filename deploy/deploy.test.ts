/**
 * Static checks of the Kubernetes manifests (no cluster here): every resource listed by the
 * kustomization parses, and the proxy's container ports, Service and probes agree with the
 * listener definition both apps read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig as loadApiConfig } from '@switchyard/api';
import { loadConfig as loadControllerConfig } from '@switchyard/controller';
import { parseListeners } from '@switchyard/core';
import { loadConfig as loadProxyConfig } from '@switchyard/proxy';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const base = join(import.meta.dirname, 'base');
const load = (file: string) => parseAllDocuments(readFileSync(join(base, file), 'utf8')).map((d) => d.toJS() as Record<string, any>);
const kustomization = load('kustomization.yaml')[0]!;
const docs = (kustomization.resources as string[]).flatMap(load);
const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata?.name === name);

describe('deploy/base', () => {
  it('parses every resource', () => {
    expect(docs.length).toBeGreaterThan(8);
    for (const d of docs) expect(d.apiVersion && d.kind && d.metadata?.name, JSON.stringify(d).slice(0, 80)).toBeTruthy();
  });

  it('exposes every proxy listener on the container, the Service and the network policy', () => {
    const cm = find('ConfigMap', 'switchyard-config')!;
    const listeners = parseListeners(cm.data.SWITCHYARD_LISTENERS);
    const container = find('Deployment', 'switchyard-proxy')!.spec.template.spec.containers[0];
    const svc = find('Service', 'switchyard-proxy')!;
    const np = find('NetworkPolicy', 'switchyard-proxy')!;
    for (const l of listeners) {
      const cp = container.ports.find((p: { containerPort: number }) => p.containerPort === l.port);
      expect(cp, l.name).toBeDefined();
      expect(svc.spec.ports.find((p: { targetPort: string; port: number }) => p.targetPort === cp.name)?.port, l.name).toBe(l.publicPort);
      expect(np.spec.ingress[0].ports.map((p: { port: number }) => p.port)).toContain(l.port);
    }
  });

  it('runs every workload as non-root with probes', () => {
    for (const name of ['switchyard-api', 'switchyard-proxy']) {
      const spec = find('Deployment', name)!.spec.template.spec;
      expect(spec.securityContext.runAsNonRoot).toBe(true);
      expect(spec.containers[0].readinessProbe).toBeDefined();
      expect(spec.containers[0].livenessProbe).toBeDefined();
    }
  });

  it('widens the proxy pod\'s local port range with a safe sysctl, above every port the proxy listens on', () => {
    const spec = find('Deployment', 'switchyard-proxy')!.spec.template.spec;
    const sysctls = spec.securityContext.sysctls as Array<{ name: string; value: string }>;
    // Only sysctls Kubernetes allows without a kubelet flag (pkg/kubelet/sysctl safe list).
    const SAFE = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start'];
    for (const s of sysctls) expect(SAFE, s.name).toContain(s.name);
    const range = sysctls.find((s) => s.name === 'net.ipv4.ip_local_port_range')!.value.split(/\s+/).map(Number);
    expect(range[1]! - range[0]! + 1).toBeGreaterThan(28_232); // wider than Linux's default
    for (const p of spec.containers[0].ports as Array<{ name: string; containerPort: number }>) expect(p.containerPort, p.name).toBeLessThan(range[0]!);
  });

  it('mounts a service account token only where Kubernetes is called (the controller)', () => {
    for (const name of ['switchyard-api', 'switchyard-proxy']) expect(find('Deployment', name)!.spec.template.spec.automountServiceAccountToken, name).toBe(false);
    expect(find('Job', 'switchyard-migrate')!.spec.template.spec.automountServiceAccountToken).toBe(false);
    const controller = find('Deployment', 'switchyard-controller')!.spec.template.spec;
    expect(controller.serviceAccountName).toBe('switchyard-controller');
    expect(controller.automountServiceAccountToken).not.toBe(false);
  });

  it('runs one proxy worker per requested core', () => {
    const container = find('Deployment', 'switchyard-proxy')!.spec.template.spec.containers[0];
    const workers = container.env.find((e: { name: string }) => e.name === 'PROXY_WORKERS');
    expect(workers.valueFrom.resourceFieldRef).toEqual({ containerName: container.name, resource: 'requests.cpu', divisor: '1' });
    // Whole cores: a fractional request would round up to a worker without a core of its own.
    expect(String(container.resources.requests.cpu)).toMatch(/^[1-9]\d*$/);
  });

  it('mounts one keyring Secret into the API and the proxies (same keys on both sides)', () => {
    expect(find('Secret', 'switchyard-keyring')?.stringData?.keys).toBeDefined();
    for (const name of ['switchyard-api', 'switchyard-proxy']) {
      const spec = find('Deployment', name)!.spec.template.spec;
      const file = spec.containers[0].env.find((e: { name: string }) => e.name === 'SWITCHYARD_KEYS_FILE')?.value as string;
      const volume = spec.volumes.find((v: { secret?: { secretName: string } }) => v.secret?.secretName === 'switchyard-keyring');
      const mount = spec.containers[0].volumeMounts.find((m: { name: string }) => m.name === volume?.name);
      expect(file, name).toBe(`${mount.mountPath}/keys`);
      // Readable by the non-root user through its group, by nobody else.
      expect(spec.securityContext.fsGroup, name).toBe(spec.securityContext.runAsUser);
      expect(volume.secret.defaultMode, name).toBe(0o440);
    }
  });

  const workloads = () =>
    docs
      .filter((d) => d.kind === 'Deployment' || d.kind === 'Job')
      .map((d) => ({ name: d.metadata.name as string, kind: d.kind as string, spec: d.spec.template.spec, container: d.spec.template.spec.containers[0] }));

  /** The variables a config.ts schema reads (`NAME: z…` inside `const EnvSchema = z.object({…})`). */
  const schemaVars = (file: string): Set<string> => {
    const text = readFileSync(join(import.meta.dirname, '..', file), 'utf8');
    const body = text.slice(text.indexOf('const EnvSchema = z.object({'), text.indexOf('\n});', text.indexOf('const EnvSchema')));
    return new Set([...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!));
  };
  const api = schemaVars('apps/api/src/config.ts');
  /** What each image entry point reads (the controller reads the API's settings too; the migration CLI only DATABASE_URL). */
  const readsByArgs: Record<string, Set<string>> = {
    'apps/api/dist/server.js': api,
    'apps/proxy/dist/main.js': schemaVars('apps/proxy/src/config.ts'),
    'apps/controller/dist/main.js': new Set([...api, ...schemaVars('apps/controller/src/config.ts')]),
    'packages/db/dist/cli.js': new Set(['DATABASE_URL']),
  };
  const readsOf = (container: { args: string[] }) => readsByArgs[container.args[1]!]!;
  /** Every variable a container receives: its own env, and the keys of what it takes with envFrom. */
  const received = (container: { env?: Array<{ name: string }>; envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }> }) => ({
    own: (container.env ?? []).map((e) => e.name),
    fromRefs: (container.envFrom ?? []).flatMap((r) =>
      r.configMapRef ? Object.keys(find('ConfigMap', r.configMapRef.name)!.data) : Object.keys(find('Secret', r.secretRef!.name)!.stringData),
    ),
  });

  it('sets only variables the apps read (a misspelt name would be ignored silently)', () => {
    for (const w of workloads()) {
      const reads = readsOf(w.container);
      expect(reads, w.name).toBeDefined();
      for (const name of received(w.container).own) expect(reads.has(name), `${w.name}: ${name}`).toBe(true);
    }
    // A shared ConfigMap key is read by at least one workload that takes it.
    const cm = find('ConfigMap', 'switchyard-config')!;
    for (const key of Object.keys(cm.data)) {
      const takers = workloads().filter((w) => received(w.container).fromRefs.includes(key));
      expect(takers.some((w) => readsOf(w.container).has(key)), key).toBe(true);
    }
  });

  it('gives the bootstrap admin token to the API alone', () => {
    for (const w of workloads()) {
      const { own, fromRefs } = received(w.container);
      expect([...own, ...fromRefs].includes('SWITCHYARD_ADMIN_TOKEN'), w.name).toBe(w.name === 'switchyard-api');
      // Every workload still gets the control database.
      expect([...own, ...fromRefs], w.name).toContain('DATABASE_URL');
    }
  });

  /** The environment a container gets, as literal values (references to pod fields left out). */
  const envOf = (container: Parameters<typeof received>[0] & { env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }> }) => {
    const env: Record<string, string> = {};
    for (const r of container.envFrom ?? []) Object.assign(env, r.configMapRef ? find('ConfigMap', r.configMapRef.name)!.data : find('Secret', r.secretRef!.name)!.stringData);
    for (const e of container.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef) env[e.name] = find('Secret', e.valueFrom.secretKeyRef.name)!.stringData[e.valueFrom.secretKeyRef.key];
    }
    // The keyring file exists only in the pod; the rest is loaded as the app would.
    delete env.SWITCHYARD_KEYS_FILE;
    return env;
  };
  const probePort = (container: { ports: Array<{ name: string; containerPort: number }> }, probe: { httpGet: { port: string } }) =>
    container.ports.find((p) => p.name === probe.httpGet.port)?.containerPort;

  it('probes the port each app listens on with the environment it is given, at the paths it serves', () => {
    const byName = Object.fromEntries(workloads().map((w) => [w.name, w.container]));
    const apiC = byName['switchyard-api'];
    const apiCfg = loadApiConfig(envOf(apiC));
    const proxyC = byName['switchyard-proxy'];
    const proxyCfg = loadProxyConfig(envOf(proxyC));
    const ctlC = byName['switchyard-controller'];
    const ctlCfg = loadControllerConfig(envOf(ctlC));
    const expected: Array<[string, any, number]> = [
      ['switchyard-api', apiC, apiCfg.port],
      ['switchyard-proxy', proxyC, proxyCfg.admin.port],
      ['switchyard-controller', ctlC, ctlCfg.metricsPort],
    ];
    for (const [name, c, port] of expected) {
      expect(probePort(c, c.readinessProbe), name).toBe(port);
      expect(probePort(c, c.livenessProbe), name).toBe(port);
      // The paths every app serves (apps/api app.ts, apps/proxy admin/, apps/controller process.ts).
      expect(c.readinessProbe.httpGet.path, name).toBe('/readyz');
      expect(c.livenessProbe.httpGet.path, name).toBe('/healthz');
    }
    // The proxy Service's admin port and the scrape annotation follow the admin port too.
    const proxy = find('Deployment', 'switchyard-proxy')!;
    expect(Number(proxy.spec.template.metadata.annotations['prometheus.io/port'])).toBe(proxyCfg.admin.port);
  });

  it('points Check connection at the proxies\' Service, whose ports are the listeners\' public ports', () => {
    const apiC = find('Deployment', 'switchyard-api')!.spec.template.spec.containers[0];
    const cfg = loadApiConfig(envOf(apiC));
    const svc = find('Service', 'switchyard-proxy')!;
    expect(cfg.check.host).toBe(svc.metadata.name);
    for (const l of cfg.listeners) expect(svc.spec.ports.map((p: { port: number }) => p.port), l.name).toContain(l.publicPort);
  });

  it('hardens every workload and gives it resource requests and a memory limit', () => {
    for (const w of workloads()) {
      expect(w.spec.securityContext, w.name).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of w.spec.containers) {
        expect(c.securityContext, `${w.name}/${c.name}`).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(c.resources.requests.cpu, `${w.name}/${c.name}`).toBeDefined();
        expect(c.resources.requests.memory, `${w.name}/${c.name}`).toBeDefined();
        expect(c.resources.limits.memory, `${w.name}/${c.name}`).toBeDefined();
      }
    }
  });

  it('keeps every Deployment with more than one replica under a PodDisruptionBudget', () => {
    const pdbs = docs.filter((d) => d.kind === 'PodDisruptionBudget');
    for (const d of docs.filter((x) => x.kind === 'Deployment' && x.spec.replicas > 1)) {
      const labels = d.spec.template.metadata.labels as Record<string, string>;
      const pdb = pdbs.find((p) => Object.entries(p.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v));
      expect(pdb, d.metadata.name).toBeDefined();
      // Never a budget that blocks every drain.
      expect(pdb!.spec.maxUnavailable ?? d.spec.replicas - pdb!.spec.minAvailable, d.metadata.name).toBeGreaterThanOrEqual(1);
      // Nor one that protects pods that are not ready (every replica unready blocked drains).
      expect(pdb!.spec.unhealthyPodEvictionPolicy, d.metadata.name).toBe('AlwaysAllow');
    }
  });

  it('spreads the replicas of every Deployment with more than one over nodes', () => {
    for (const d of docs.filter((x) => x.kind === 'Deployment' && x.spec.replicas > 1)) {
      const pod = d.spec.template.spec;
      const name = d.spec.selector.matchLabels['app.kubernetes.io/name'];
      const spread = (pod.topologySpreadConstraints ?? []).some(
        (c: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }) => c.topologyKey === 'kubernetes.io/hostname' && c.labelSelector.matchLabels['app.kubernetes.io/name'] === name,
      );
      const anti = (pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).some(
        (t: { podAffinityTerm: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } } }) =>
          t.podAffinityTerm.topologyKey === 'kubernetes.io/hostname' && t.podAffinityTerm.labelSelector.matchLabels['app.kubernetes.io/name'] === name,
      );
      expect(spread || anti, d.metadata.name).toBe(true);
    }
  });

  it('gives a stopping proxy the time its drain takes before SIGKILL', () => {
    const spec = find('Deployment', 'switchyard-proxy')!.spec.template.spec;
    const c = spec.containers[0];
    const cfg = loadProxyConfig(envOf(c));
    // preStop sleep, then accept grace + drain, then the cluster primary's 10 s for workers to
    // exit (apps/proxy cluster/primary.ts EXIT_GRACE_MS) and the last audit flush (5 s).
    const needed = c.lifecycle.preStop.sleep.seconds + (cfg.acceptGraceMs + cfg.drainTimeoutMs) / 1000 + 10 + 5;
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(needed);
  });
});

describe('docker-compose.yml', () => {
  const compose = parseAllDocuments(readFileSync(join(import.meta.dirname, '..', 'docker-compose.yml'), 'utf8'), { merge: true })[0]!.toJS() as Record<string, any>;

  it('gives the API a keyring (the image runs with NODE_ENV=production, where the API needs one)', () => {
    expect(readFileSync(join(import.meta.dirname, '..', 'Dockerfile'), 'utf8')).toMatch(/^ENV NODE_ENV=production$/m);
    for (const name of ['api', 'proxy']) expect(compose.services[name].environment.SWITCHYARD_KEYS, name).toMatch(/^\$\{SWITCHYARD_KEYS:\?/);
  });

  it('points Check connection at the proxy service, on the listeners\' ports', () => {
    const env = compose.services.api.environment as Record<string, string>;
    expect(compose.services[env.SWITCHYARD_CHECK_HOST!], env.SWITCHYARD_CHECK_HOST).toBeDefined();
    const published = (compose.services.proxy.ports as string[]).map((p) => Number(p.split(':')[1]));
    for (const l of parseListeners(env.SWITCHYARD_LISTENERS!)) expect(published, l.name).toContain(l.publicPort);
  });
});
