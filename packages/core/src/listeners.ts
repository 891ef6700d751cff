/**
 * Shared ports ("listeners"). The proxy binds them; the API needs their names and public
 * ports to assign routes and print connection strings. Both read the same definition
 * (`SWITCHYARD_LISTENERS`, parsed here) so they cannot disagree.
 *
 * Format: comma-separated `name=protocol@host:port[/publicPort]`, e.g.
 *   postgres=postgres@0.0.0.0:15432,tls=tls@0.0.0.0:16443/443
 */
import { isDnsLabel } from './hostnames.js';

export const LISTENER_PROTOCOLS = ['postgres', 'tls'] as const;
export type ListenerProtocol = (typeof LISTENER_PROTOCOLS)[number];

export interface ListenerSpec {
  name: string;
  protocol: ListenerProtocol;
  host: string;
  port: number;
  /** Port clients dial (differs from `port` behind a load balancer or NodePort). */
  publicPort: number;
}

/** Defaults stay clear of 5432/6379/3306 so a local PostgreSQL, Redis or MariaDB keep theirs. */
export const DEFAULT_LISTENERS_TEXT = 'postgres=postgres@0.0.0.0:15432,tls=tls@0.0.0.0:16443';

export function parseListeners(text: string): ListenerSpec[] {
  const specs: ListenerSpec[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9-]+)=([a-z-]+)@(\[[0-9a-fA-F:.]+\]|[^:/@]+):(\d{1,5})(?:\/(\d{1,5}))?$/.exec(raw);
    if (!m) throw new Error(`listener "${raw}": expected name=protocol@host:port[/publicPort]`);
    const [, name, protocol, hostText, portText, publicText] = m as unknown as [string, string, string, string, string, string | undefined];
    if (!isDnsLabel(name)) throw new Error(`listener "${raw}": name must be a DNS label`);
    if (!(LISTENER_PROTOCOLS as readonly string[]).includes(protocol)) {
      throw new Error(`listener "${raw}": protocol must be one of ${LISTENER_PROTOCOLS.join(', ')}`);
    }
    const port = Number(portText);
    const publicPort = publicText === undefined ? port : Number(publicText);
    if (port > 65535 || publicPort > 65535 || (publicPort === 0 && port !== 0)) throw new Error(`listener "${raw}": port out of range`);
    if (specs.some((s) => s.name === name)) throw new Error(`listener "${name}" defined twice`);
    const host = hostText.startsWith('[') ? hostText.slice(1, -1) : hostText;
    specs.push({ name, protocol: protocol as ListenerProtocol, host, port, publicPort });
  }
  if (specs.length === 0) throw new Error('at least one listener is required');
  return specs;
}
