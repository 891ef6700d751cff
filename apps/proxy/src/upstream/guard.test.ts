import { parseCidr } from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import { GuardRefusal, UpstreamGuard } from './guard.js';

describe('UpstreamGuard', () => {
  const guard = new UpstreamGuard({ allowLoopback: false, denyCidrs: [parseCidr('10.96.0.0/12')!] });

  it('always refuses metadata, link-local, unspecified, multicast and operator ranges', async () => {
    for (const host of ['169.254.169.254', 'fd00:ec2::254', 'fe80::1', '0.0.0.0', '224.0.0.1', '10.96.0.10', '[fd00:ec2::254]']) {
      await expect(guard.resolve(host), host).rejects.toBeInstanceOf(GuardRefusal);
    }
  });

  it('honours vetted literals, loopback included', async () => {
    expect(await guard.resolve('127.0.0.1')).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect(await guard.resolve('10.42.0.5')).toEqual([{ address: '10.42.0.5', family: 4 }]);
  });

  it('refuses names that resolve to loopback unless loopback is allowed', async () => {
    const err = await guard.resolve('localhost').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GuardRefusal);
    expect((err as GuardRefusal).message).toContain('forbidden');
    const open = new UpstreamGuard({ allowLoopback: true, denyCidrs: [] });
    const addrs = await open.resolve('localhost');
    expect(addrs.length).toBeGreaterThan(0);
  });

  it("keeps a name's verdict: its answer, or its refusal, without waiting for DNS again", async () => {
    const g = new UpstreamGuard({ allowLoopback: false, denyCidrs: [] });
    expect(g.cached('localhost')).toBeNull();
    await expect(g.resolve('localhost')).rejects.toBeInstanceOf(GuardRefusal);
    expect(g.cached('localhost')).toBeInstanceOf(GuardRefusal);
    const open = new UpstreamGuard({ allowLoopback: true, denyCidrs: [] });
    const addrs = await open.resolve('localhost');
    expect(open.cached('localhost')).toEqual(addrs);
    // IP literals never go through DNS: `literal` answers them.
    expect(open.cached('127.0.0.1')).toBeNull();
  });

  it('lets DNS failures through as errors', async () => {
    await expect(guard.resolve('no-such-host.invalid')).rejects.toThrow();
  });
});
