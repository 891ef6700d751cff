/**
 * Dial-time address guard ("no open proxy", second line). The API checks a database's
 * upstream when it is written; a DNS name can later resolve anywhere, so the proxy resolves
 * it itself right before connecting, refuses forbidden addresses and connects to the address
 * it checked (never re-resolving, so a second DNS answer cannot slip past).
 *
 * Always refused: link-local (cloud metadata at 169.254.169.254 / fd00:ec2::254),
 * unspecified, multicast, broadcast, and whatever the operator adds (e.g. the control
 * database's network). Loopback is refused for addresses a *name* resolves to unless allowed
 * (`PROXY_ALLOW_LOOPBACK_UPSTREAMS`): that is the DNS trick that would reach the proxy's own
 * admin port. A loopback *literal* was vetted by the API against the tenant's policy and the
 * platform's `SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS`, so it is honoured.
 *
 * A name's vetted answer is kept for a few seconds and refreshed in the background
 * (upstream/name-cache.ts): the connection path does not wait for DNS.
 */
import { isIP } from 'node:net';
import { anyCidrContains, FORBIDDEN_UPSTREAM_CIDRS, parseCidr, parseIp, type Cidr, type IpAddress } from '@switchyard/core';
import { NameCache, type NameCacheOptions, type ResolvedAddress } from './name-cache.js';

export type { ResolvedAddress } from './name-cache.js';

export const LOOPBACK_CIDRS: readonly Cidr[] = ['127.0.0.0/8', '::1/128'].map((c) => parseCidr(c)!);

export interface GuardOptions {
  allowLoopback: boolean;
  /** Extra ranges no upstream may be reached in. */
  denyCidrs: readonly Cidr[];
  /** How long a name's answer is kept, and used past that while DNS fails (name-cache.ts). */
  dns?: Omit<NameCacheOptions<ResolvedAddress[] | GuardRefusal>, 'vet'>;
}

/** Literal hosts whose verdict is remembered (`literal`); the cache starts over beyond this. */
const LITERAL_CACHE_MAX = 10_000;

export class UpstreamGuard {
  private readonly denyLiteral: readonly Cidr[];
  private readonly denyResolved: readonly Cidr[];
  /**
   * Verdicts on IP-literal hosts: they never change (the deny lists are fixed at start), and
   * checking one parses the address into BigInts and walks every forbidden range — for every
   * connection, the same answer (issue 13).
   */
  private readonly literals = new Map<string, ResolvedAddress[] | GuardRefusal | null>();
  /** Names' vetted answers. */
  private readonly names: NameCache<ResolvedAddress[] | GuardRefusal>;

  constructor(opts: GuardOptions) {
    this.denyLiteral = [...FORBIDDEN_UPSTREAM_CIDRS, ...opts.denyCidrs];
    this.denyResolved = [...this.denyLiteral, ...(opts.allowLoopback ? [] : LOOPBACK_CIDRS)];
    const dns = opts.dns ?? { ttlMs: DEFAULT_DNS_TTL_MS, staleMs: DEFAULT_DNS_STALE_MS };
    this.names = new NameCache({ ...dns, vet: (host, answers) => this.vet(host, answers) });
  }

  /** Whether `ip` may be dialled; `resolved`: it came from DNS rather than the route itself. */
  allows(ip: IpAddress, resolved: boolean): boolean {
    return !anyCidrContains(resolved ? this.denyResolved : this.denyLiteral, ip);
  }

  /**
   * `resolve` without the promise for an IP-literal host (remembered): its addresses, or the
   * refusal; null when `host` is a name (DNS: call `resolve`).
   */
  literal(host: string): ResolvedAddress[] | GuardRefusal | null {
    let v = this.literals.get(host);
    if (v !== undefined) return v;
    const literal = host.startsWith('[') ? host.slice(1, -1) : host;
    const family = isIP(literal);
    if (family === 0) {
      v = null;
    } else {
      const ip = parseIp(literal);
      v = ip !== null && this.allows(ip, false) ? [{ address: literal, family: family as 4 | 6 }] : new GuardRefusal(host, [literal]);
    }
    if (this.literals.size >= LITERAL_CACHE_MAX) this.literals.clear();
    this.literals.set(host, v);
    return v;
  }

  /**
   * A name's kept answer without waiting (`literal` for IP literals): its allowed addresses,
   * or the refusal; null when DNS must be awaited (`resolve`).
   */
  cached(host: string): ResolvedAddress[] | GuardRefusal | null {
    return this.names.peek(host);
  }

  /**
   * The addresses of `host` we may connect to, in resolver order. Throws `GuardRefusal` when
   * every address is forbidden, and lets DNS errors through. `fresh`: ask DNS even when an
   * answer is kept (its addresses stopped answering).
   */
  async resolve(host: string, fresh = false): Promise<ResolvedAddress[]> {
    const v = this.literal(host) ?? (await this.names.resolve(host, fresh));
    if (v instanceof GuardRefusal) throw v;
    return v;
  }

  /** A lookup's answers for `host`: the allowed ones in resolver order, or the refusal. */
  private vet(host: string, answers: ResolvedAddress[]): ResolvedAddress[] | GuardRefusal {
    const allowed = answers.filter((a) => {
      const ip = parseIp(a.address);
      return ip !== null && this.allows(ip, true);
    });
    return allowed.length > 0 ? allowed : new GuardRefusal(host, answers.map((a) => a.address));
  }
}

/** CoreDNS answers cluster names with a 5 s TTL (`PROXY_DNS_TTL_MS`). */
export const DEFAULT_DNS_TTL_MS = 5_000;
/** How long past its TTL an answer is used while DNS fails (`PROXY_DNS_STALE_MS`). */
export const DEFAULT_DNS_STALE_MS = 60_000;

export class GuardRefusal extends Error {
  constructor(
    readonly host: string,
    readonly addresses: string[],
  ) {
    super(`${host} resolves only to forbidden addresses (${addresses.join(', ') || 'none'})`);
  }
}
