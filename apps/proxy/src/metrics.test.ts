import { describe, expect, it } from 'vitest';
import { createMetrics, ListenerCounters } from './metrics.js';

describe('metric cells', () => {
  it('reach the exported counters and gauge when the registry is read', async () => {
    const m = createMetrics();
    const tls = new ListenerCounters(m, 'tls');
    tls.open.n++;
    tls.open.n++;
    tls.open.n--;
    tls.routed.n++;
    tls.closed('ok', 'client_closed').n++;
    tls.closed('ok', 'client_closed').n++;
    tls.closed('rejected', 'unknown_host').n++;
    tls.bytesIn.n += 100;
    tls.route('r1').outcome('ok').n++;
    tls.route('r1').bytesOut.n += 7;
    const text = await m.registry.metrics();
    expect(text).toContain('switchyard_proxy_connections_open{listener="tls"} 1');
    expect(text).toContain('switchyard_proxy_connections_routed_total{listener="tls"} 1');
    expect(text).toContain('switchyard_proxy_connections_total{listener="tls",outcome="ok",reason="client_closed"} 2');
    expect(text).toContain('switchyard_proxy_connections_total{listener="tls",outcome="rejected",reason="unknown_host"} 1');
    expect(text).toContain('switchyard_proxy_bytes_total{listener="tls",direction="in"} 100');
    expect(text).toContain('switchyard_proxy_route_connections_total{route="r1",outcome="ok"} 1');
    expect(text).toContain('switchyard_proxy_route_bytes_total{route="r1",direction="out"} 7');
    // Read again: counts are taken once, not added twice.
    tls.open.n--;
    const again = await m.registry.metrics();
    expect(again).toContain('switchyard_proxy_connections_open{listener="tls"} 0');
    expect(again).toContain('switchyard_proxy_connections_total{listener="tls",outcome="ok",reason="client_closed"} 2');
  });

  it('export a listener’s series at 0 before any connection, and after connections that came and went between reads', async () => {
    const m = createMetrics();
    const pg = new ListenerCounters(m, 'postgres');
    const text = await m.registry.metrics();
    expect(text).toContain('switchyard_proxy_connections_open{listener="postgres"} 0');
    expect(text).toContain('switchyard_proxy_connections_routed_total{listener="postgres"} 0');
    expect(text).toContain('switchyard_proxy_bytes_total{listener="postgres",direction="in"} 0');
    pg.open.n++;
    pg.open.n--;
    expect(await m.registry.metrics()).toContain('switchyard_proxy_connections_open{listener="postgres"} 0');
  });
});
