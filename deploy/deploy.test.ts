/**
 * Static checks of the Kubernetes manifests (no cluster here): every resource listed by the
 * kustomization parses, and the proxy's container ports, Service and probes agree with the
 * listener definition both apps read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseListeners } from '@switchyard/core';
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
});
