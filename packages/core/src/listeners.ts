/**
 * Shared ports ("listeners"). The proxy binds them; the API needs their names and public
 * ports to assign routes and print connection strings. Both read the same definition
 * (`SWITCHYARD_LISTENERS`, parsed here) so they cannot disagree.
 *
 * Format: comma-separated `name=kind@host:port[/publicPort][;option=value]…`, e.g.
 *   postgres=postgres@0.0.0.0:15432,tls=tls@0.0.0.0:16443/443,web=http@0.0.0.0:8080/80,
 *   kube=destination@0.0.0.0:8443;proxy-protocol=10.0.0.0/8|fd00::/8
 *
 * Kinds (what the proxy reads before it picks a route):
 * - `postgres`: SSLRequest → 'S' → TLS ClientHello (or direct TLS), routed by SNI;
 * - `tls`: a TLS ClientHello, routed by SNI;
 * - `http`: a plaintext HTTP/1.x request head, routed by Host;
 * - `destination`: a PROXY protocol header, routed by the destination address it carries
 *   (needs `proxy-protocol`); the bytes after it are forwarded unread;
 * - `egress`: like `postgres` (which also accepts a bare TLS hello), for in-cluster clients
 *   reaching external servers from a fixed source address (the route's `sourceAddress`).
 *
 * Options:
 * - `proxy-protocol=<cidr>|<cidr>…`: accept a PROXY v1/v2 header from these sources (the
 *   client address it carries is then used for policy and audit). A header from any other
 *   source is refused.
 */
import { parseCidr } from './cidr.js';
import { isDnsLabel } from './hostnames.js';

export const LISTENER_PROTOCOLS = ['postgres', 'tls', 'http', 'destination', 'egress'] as const;
export type ListenerProtocol = (typeof LISTENER_PROTOCOLS)[number];

export interface ListenerSpec {
  name: string;
  protocol: ListenerProtocol;
  host: string;
  port: number;
  /** Port clients dial (differs from `port` behind a load balancer or NodePort). */
  publicPort: number;
  /** Canonical CIDRs allowed to send a PROXY protocol header; empty: none. */
  proxyProtocolFrom: string[];
}

/** Defaults stay clear of 5432/6379/3306 so a local PostgreSQL, Redis or MariaDB keep theirs. */
export const DEFAULT_LISTENERS_TEXT = 'postgres=postgres@0.0.0.0:15432,tls=tls@0.0.0.0:16443';

export function parseListeners(text: string): ListenerSpec[] {
  const specs: ListenerSpec[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [main, ...options] = raw.split(';').map((s) => s.trim());
    const m = /^([a-z0-9-]+)=([a-z-]+)@(\[[0-9a-fA-F:.]+\]|[^:/@]+):(\d{1,5})(?:\/(\d{1,5}))?$/.exec(main!);
    if (!m) throw new Error(`listener "${raw}": expected name=kind@host:port[/publicPort][;option=value]`);
    const [, name, protocol, hostText, portText, publicText] = m as unknown as [string, string, string, string, string, string | undefined];
    if (!isDnsLabel(name)) throw new Error(`listener "${raw}": name must be a DNS label`);
    if (!(LISTENER_PROTOCOLS as readonly string[]).includes(protocol)) {
      throw new Error(`listener "${raw}": kind must be one of ${LISTENER_PROTOCOLS.join(', ')}`);
    }
    const port = Number(portText);
    const publicPort = publicText === undefined ? port : Number(publicText);
    if (port > 65535 || publicPort > 65535 || (publicPort === 0 && port !== 0)) throw new Error(`listener "${raw}": port out of range`);
    if (specs.some((s) => s.name === name)) throw new Error(`listener "${name}" defined twice`);
    const host = hostText.startsWith('[') ? hostText.slice(1, -1) : hostText;
    const proxyProtocolFrom: string[] = [];
    for (const opt of options.filter(Boolean)) {
      const eq = opt.indexOf('=');
      const key = eq < 0 ? opt : opt.slice(0, eq);
      const value = eq < 0 ? '' : opt.slice(eq + 1);
      if (key !== 'proxy-protocol') throw new Error(`listener "${name}": unknown option "${key}" (known: proxy-protocol)`);
      for (const c of value.split('|').map((s) => s.trim()).filter(Boolean)) {
        const cidr = parseCidr(c);
        if (!cidr) throw new Error(`listener "${name}": proxy-protocol source "${c}" is not a CIDR`);
        proxyProtocolFrom.push(cidr.text);
      }
      if (proxyProtocolFrom.length === 0) throw new Error(`listener "${name}": proxy-protocol needs at least one source CIDR`);
    }
    if (protocol === 'destination' && proxyProtocolFrom.length === 0) {
      throw new Error(`listener "${name}": a destination listener routes by the PROXY header; set proxy-protocol=<trusted CIDRs>`);
    }
    specs.push({ name, protocol: protocol as ListenerProtocol, host, port, publicPort, proxyProtocolFrom });
  }
  if (specs.length === 0) throw new Error('at least one listener is required');
  return specs;
}

/**
 * Dedicated ports (`SWITCHYARD_DEDICATED_PORTS`): `20000-20099` or `20000-20009,20100`. The
 * API assigns them to routes whose clients cannot send SNI; every proxy binds the ports of
 * the routes it serves.
 */
export function parsePortPool(text: string): number[] {
  const ports = new Set<number>();
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!m) throw new Error(`port pool "${part}": expected a port or a range like 20000-20099`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || hi < lo) throw new Error(`port pool "${part}": out of range`);
    if (hi - lo > 10_000) throw new Error(`port pool "${part}": at most 10,000 ports per range`);
    for (let p = lo; p <= hi; p++) ports.add(p);
  }
  return [...ports].sort((a, b) => a - b);
}
