/**
 * Which endpoint a new connection tries first, second, … Pure and in-memory (the hot path
 * calls it): round-robin keeps one counter per route, least-connections reads the live
 * counts the connector maintains, source-hash hashes the client address so a client keeps
 * landing on the same endpoint while the endpoint set and health stay the same.
 *
 * Endpoints a health check marks down are left out; when every endpoint is down they are
 * all tried anyway (the checks may be wrong, and the connector fails over quickly).
 */
import type { BalancePolicy, Endpoint } from '@switchyard/core';

export interface BalanceState {
  /** Live connections to an endpoint (least-connections). */
  active(key: string): number;
  /** False only when a health check marked the endpoint down. */
  isUp(key: string): boolean;
}

export function endpointKey(e: Endpoint): string {
  return `${e.host}:${e.port}`;
}

export class Balancer {
  private readonly counters = new Map<string, number>();

  constructor(private readonly state: BalanceState) {}

  /** Endpoint indices in the order to try them. */
  order(routeId: string, policy: BalancePolicy, endpoints: readonly Endpoint[], clientAddress: string): number[] {
    const n = endpoints.length;
    if (n === 1) return [0];
    const keys = endpoints.map(endpointKey);
    let up: number[] = [];
    for (let i = 0; i < n; i++) if (this.state.isUp(keys[i]!)) up.push(i);
    if (up.length === 0) up = endpoints.map((_, i) => i);
    let start: number;
    switch (policy) {
      case 'source-hash': {
        // Hash over the full endpoint list, then walk to the next healthy one, so a client
        // moves only when its own endpoint goes down.
        const home = fnv1a(clientAddress) % n;
        const rotated = up.filter((i) => i >= home).concat(up.filter((i) => i < home));
        return rotated;
      }
      case 'least-connections': {
        const c = this.next(routeId);
        // Ties broken round-robin so equal endpoints share the load.
        return rotate(up, c % up.length).sort((a, b) => this.state.active(keys[a]!) - this.state.active(keys[b]!));
      }
      default:
        start = this.next(routeId) % up.length;
        return rotate(up, start);
    }
  }

  /** Forget routes that no longer exist (called off the hot path). */
  forget(routeId: string): void {
    this.counters.delete(routeId);
  }

  private next(routeId: string): number {
    const c = this.counters.get(routeId) ?? 0;
    this.counters.set(routeId, (c + 1) % 0x3fffffff);
    return c;
  }
}

function rotate(list: number[], start: number): number[] {
  return start === 0 ? list : list.slice(start).concat(list.slice(0, start));
}

/** 32-bit FNV-1a of a string; stable across processes, so every proxy picks alike. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
