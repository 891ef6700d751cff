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
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { anyCidrContains, FORBIDDEN_UPSTREAM_CIDRS, parseCidr, parseIp, type Cidr, type IpAddress } from '@switchyard/core';

export const LOOPBACK_CIDRS: readonly Cidr[] = ['127.0.0.0/8', '::1/128'].map((c) => parseCidr(c)!);

export interface GuardOptions {
  allowLoopback: boolean;
  /** Extra ranges no upstream may be reached in. */
  denyCidrs: readonly Cidr[];
}

export type ResolvedAddress = { address: string; family: 4 | 6 };

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

  constructor(opts: GuardOptions) {
    this.denyLiteral = [...FORBIDDEN_UPSTREAM_CIDRS, ...opts.denyCidrs];
    this.denyResolved = [...this.denyLiteral, ...(opts.allowLoopback ? [] : LOOPBACK_CIDRS)];
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
   * The addresses of `host` we may connect to, in resolver order. Throws `GuardRefusal` when
   * every address is forbidden, and lets DNS errors through.
   */
  async resolve(host: string): Promise<ResolvedAddress[]> {
    const literal = host.startsWith('[') ? host.slice(1, -1) : host;
    const isLiteral = isIP(literal) !== 0;
    const answers: ResolvedAddress[] = isLiteral ? [{ address: literal, family: isIP(literal) as 4 | 6 }] : ((await lookup(host, { all: true })) as ResolvedAddress[]);
    const allowed = answers.filter((a) => {
      const ip = parseIp(a.address);
      return ip !== null && this.allows(ip, !isLiteral);
    });
    if (allowed.length === 0) throw new GuardRefusal(host, answers.map((a) => a.address));
    return allowed;
  }
}

export class GuardRefusal extends Error {
  constructor(
    readonly host: string,
    readonly addresses: string[],
  ) {
    super(`${host} resolves only to forbidden addresses (${addresses.join(', ') || 'none'})`);
  }
}
