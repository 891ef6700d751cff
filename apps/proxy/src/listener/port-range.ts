/**
 * Ports the proxy listens on that lie inside the kernel's range of local ports for outgoing
 * connections (`net.ipv4.ip_local_port_range`): an upstream or control-database connection
 * may hold such a port when the proxy binds it — a dedicated port assigned later, or any port
 * after a restart — and the bind then fails (EADDRINUSE). Checked once at start, with a
 * warning naming the ports; docs/scaling.md "New connections to one upstream" says why the
 * manifests widen the range and where listener ports belong.
 */
import { readFileSync } from 'node:fs';

const RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

/** `32768\t60999` → [32768, 60999]; null when unreadable (not Linux) or malformed. */
export function parseLocalPortRange(text: string | null): [number, number] | null {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text ?? '');
  if (!m) return null;
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  return lo >= 1 && lo <= hi && hi <= 65535 ? [lo, hi] : null;
}

export function readLocalPortRange(): [number, number] | null {
  try {
    return parseLocalPortRange(readFileSync(RANGE_FILE, 'utf8'));
  } catch {
    return null;
  }
}

/** The given ports inside `range`, ascending, each once. */
export function portsInRange(ports: Iterable<number>, range: [number, number] | null): number[] {
  if (!range) return [];
  return [...new Set(ports)].filter((p) => p >= range[0] && p <= range[1]).sort((a, b) => a - b);
}
