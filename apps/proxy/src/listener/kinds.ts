/**
 * What differs between listener kinds (docs/proxy.md "Listener kinds"), kept out of
 * connection.ts: which sniffer reads the first bytes, whether a PROXY header comes first,
 * whether bytes are forwarded unread, and how the route is looked up.
 */
import { anyCidrContains, parseCidr, parseIp, type Cidr } from '@switchyard/core';
import type { RefusalCode } from '../errors.js';
import { normalizeServerName, type RouteEntry, type RouteTable } from '../router/route-table.js';
import { HttpSniffer, type AnySniffResult } from '../sniff/http-sniffer.js';
import { PostgresSniffer, TlsSniffer } from '../sniff/sniffer.js';
import type { ListenerContext } from './context.js';
import { ProxyPrelude } from './proxy-prelude.js';

/** Cap on an HTTP request head on `http` listeners (16 KiB, like the hello limit's order). */
export const HTTP_MAX_HEAD_BYTES = 16 * 1024;

export interface KindSniffer {
  feed(chunk: Uint8Array): AnySniffResult;
  /** What a client waiting at this point expects to read if refused. */
  speaks(): 'postgres' | 'tls' | 'http';
  /** The client half-closed: the refusal for a truncated message, or null (it just left). */
  endOfInput(): AnySniffResult | null;
}

export function createSniffer(ctx: ListenerContext): KindSniffer | null {
  if (isRaw(ctx)) return null;
  const max = ctx.config.maxHelloBytes;
  switch (ctx.spec.protocol) {
    case 'postgres':
    case 'egress':
      return new PostgresSniffer(max);
    case 'http':
      return new HttpSniffer(HTTP_MAX_HEAD_BYTES);
    default:
      return new TlsSniffer(max);
  }
}

/** Dedicated ports and destination listeners forward the client's bytes unread. */
export function isRaw(ctx: ListenerContext): boolean {
  return ctx.dedicatedPort !== undefined || ctx.spec.protocol === 'destination';
}

const trustedCache = new WeakMap<object, readonly Cidr[]>();

function trustedSources(ctx: ListenerContext): readonly Cidr[] {
  let c = trustedCache.get(ctx.spec);
  if (!c) trustedCache.set(ctx.spec, (c = (ctx.spec.proxyProtocolFrom ?? []).map((t) => parseCidr(t)!).filter(Boolean)));
  return c;
}

/**
 * The PROXY-protocol step for this connection, or null when the listener has none. The
 * client's address is parsed only then (parsing builds BigInts; most listeners have none).
 */
export function createPrelude(ctx: ListenerContext, clientAddress: string): ProxyPrelude | null {
  const trusted = trustedSources(ctx);
  if (trusted.length === 0) return null;
  const ip = parseIp(clientAddress);
  return new ProxyPrelude(ip !== null && anyCidrContains(trusted, ip), ctx.spec.protocol === 'destination');
}

/** The route for this connection, or why there is none. */
export function findRoute(table: RouteTable, ctx: ListenerContext, serverName: string | null, destination: string | null): RouteEntry | RefusalCode {
  if (ctx.dedicatedPort !== undefined) return table.matchDedicated(ctx.dedicatedPort) ?? 'unknown_host';
  const spec = ctx.spec;
  if (spec.protocol === 'destination') {
    if (destination === null) return 'proxy_header_required';
    return table.matchDestination(spec.name, destination) ?? 'unknown_destination';
  }
  const host = normalizeServerName(serverName);
  if (host === null) return spec.protocol === 'http' ? 'no_host' : 'no_sni';
  const route = table.match(spec.name, host);
  if (route) return route;
  // A plain-HTTP client that reached the wrong port gets 421 rather than a bare 404.
  if (spec.protocol === 'http' && ctx.config.listeners.some((l) => l.name !== spec.name && table.match(l.name, host))) return 'misdirected';
  return 'unknown_host';
}
