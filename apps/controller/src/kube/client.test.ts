/**
 * KubeClient against the fake API server: every request has its own agent, and every way a
 * request ends destroys it — a response stream broken off halfway included.
 */
import type http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeKube } from '../testing/fake-kube.js';
import { KubeClient } from './client.js';

let kube: FakeKube;

beforeAll(async () => {
  kube = new FakeKube();
  await kube.start();
  kube.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'pg', namespace: 'acme', uid: '' }, spec: { ports: [{ port: 5432 }] } } as never);
}, 30_000); // the fake server's certificate: an RSA key from node-forge, slow on a busy machine
afterAll(async () => kube?.stop());

/** A client whose agents (one per request) are recorded, each with a spy on destroy(). */
function instrumentedClient(server?: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  if (server) kc.clusters = kc.clusters.map((c) => ({ ...c, server }));
  const agents: { agent: http.Agent; destroy: ReturnType<typeof vi.fn> }[] = [];
  const apply = kc.applyToHTTPSOptions.bind(kc);
  kc.applyToHTTPSOptions = async (opts) => {
    await apply(opts);
    const agent = opts.agent as http.Agent;
    agents.push({ agent, destroy: vi.spyOn(agent, 'destroy') as never });
  };
  return { client: new KubeClient(kc), agents };
}

describe('KubeClient.request', () => {
  it('destroys its agent when the response stream breaks off mid-body, and leaves no connection open', async () => {
    const { client, agents } = instrumentedClient();
    kube.breakNextLists('Service', 1);
    const err = (await client.request('GET', '/api/v1/services').catch((e: unknown) => e)) as Error;
    expect(agents).toHaveLength(1);
    expect(agents[0]!.destroy).toHaveBeenCalled();
    expect(err.message).toMatch(/^GET \/api\/v1\/services: answer broken off/);
    expect(Object.keys(agents[0]!.agent.sockets)).toHaveLength(0);
    expect(Object.keys(agents[0]!.agent.freeSockets)).toHaveLength(0);
    // The fake server sees no connection left (a closing socket may take a moment to be seen).
    await expect.poll(() => kube.connections(), { timeout: 4000, interval: 20 }).toBe(0);

    // The next request is answered in full, and its agent goes too.
    const list = await client.request<{ items: unknown[] }>('GET', '/api/v1/services');
    expect(list.items).toHaveLength(1);
    expect(agents).toHaveLength(2);
    expect(agents[1]!.destroy).toHaveBeenCalled();
    await expect.poll(() => kube.connections(), { timeout: 4000, interval: 20 }).toBe(0);
  });

  it('destroys its agent on error answers and refused connections', async () => {
    const { client, agents } = instrumentedClient();
    kube.failNext('Service', 1);
    await expect(client.request('GET', '/api/v1/services')).rejects.toMatchObject({ status: 500 });
    expect(agents[0]!.destroy).toHaveBeenCalled();
    // Nothing listens there: the connection is refused.
    const refused = instrumentedClient('https://127.0.0.1:1');
    await expect(refused.client.request('GET', '/api/v1/services')).rejects.toThrow(/ECONNREFUSED/);
    expect(refused.agents[0]!.destroy).toHaveBeenCalled();
  });
});

