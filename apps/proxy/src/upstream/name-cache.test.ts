import { describe, expect, it } from 'vitest';
import { NameCache, REFRESH_RETRY_MS, type LookupOutcome, type ResolvedAddress } from './name-cache.js';

const A = (address: string): ResolvedAddress => ({ address, family: 4 });

/** A DNS whose answers the test sets, counting lookups; each lookup settles when the test says. */
function fakeDns() {
  const answers = new Map<string, ResolvedAddress[] | NodeJS.ErrnoException>();
  const waiting: Array<() => void> = [];
  let held = false;
  const dns = {
    lookups: [] as string[],
    set(host: string, v: ResolvedAddress[] | string) {
      answers.set(host, typeof v === 'string' ? Object.assign(new Error(`getaddrinfo ${v} ${host}`), { code: v }) : v);
    },
    /** Lookups started from now on wait for `release`. */
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const w of waiting.splice(0)) w();
    },
    lookup: async (host: string) => {
      dns.lookups.push(host);
      if (held) await new Promise<void>((r) => waiting.push(r));
      const v = answers.get(host) ?? Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      if (v instanceof Error) throw v;
      return v;
    },
  };
  return dns;
}

function setup(ttlMs = 5000, staleMs = 60_000, maxNames?: number) {
  const dns = fakeDns();
  const clock = { t: 1_000_000 };
  const log: string[] = [];
  const outcomes: LookupOutcome[] = [];
  const cache = new NameCache<string[]>({
    ttlMs,
    staleMs,
    maxNames,
    lookup: dns.lookup,
    now: () => clock.t,
    vet: (_host, answers) => answers.map((a) => a.address),
    events: {
      onLookup: (o) => outcomes.push(o),
      onStaleServed: (h) => log.push(`stale ${h}`),
      onRefreshFailing: (h, err, until) => log.push(`failing ${h} ${(err as NodeJS.ErrnoException).code} until +${until - clock.t}`),
      onRecovered: (h) => log.push(`recovered ${h}`),
    },
  });
  /** Lets background lookups settle. */
  const settle = () => new Promise<void>((r) => setImmediate(r));
  return { dns, clock, log, outcomes, cache, settle };
}

describe('NameCache', () => {
  it('looks a name up once for everyone waiting, then answers from memory without a promise', async () => {
    const { dns, cache } = setup();
    dns.set('db.ns.svc.cluster.local', [A('10.1.0.7')]);
    expect(cache.peek('db.ns.svc.cluster.local')).toBeNull();
    const all = await Promise.all(Array.from({ length: 20 }, () => cache.resolve('db.ns.svc.cluster.local')));
    expect(all.every((v) => v[0] === '10.1.0.7')).toBe(true);
    expect(dns.lookups).toHaveLength(1);
    expect(cache.peek('db.ns.svc.cluster.local')).toEqual(['10.1.0.7']);
    expect(dns.lookups).toHaveLength(1);
  });

  it('past its TTL keeps serving the answer while one background lookup refreshes it', async () => {
    const { dns, clock, cache, settle } = setup(5000);
    dns.set('db', [A('10.1.0.7')]);
    await cache.resolve('db');
    clock.t += 5000;
    dns.set('db', [A('10.1.0.9')]);
    dns.hold();
    // Every connection during the refresh gets the old answer at once; one lookup runs.
    expect(cache.peek('db')).toEqual(['10.1.0.7']);
    expect(cache.peek('db')).toEqual(['10.1.0.7']);
    expect(dns.lookups).toHaveLength(2);
    dns.release();
    await settle();
    expect(cache.peek('db')).toEqual(['10.1.0.9']);
    expect(dns.lookups).toHaveLength(2);
  });

  it('while DNS fails, serves the last answer up to staleMs past its TTL, retrying each second, then waits for DNS again', async () => {
    const { dns, clock, cache, settle, log, outcomes } = setup(5000, 60_000);
    dns.set('db', [A('10.1.0.7')]);
    await cache.resolve('db');
    clock.t += 5000;
    dns.set('db', 'EAI_AGAIN');
    expect(cache.peek('db')).toEqual(['10.1.0.7']);
    await settle();
    expect(log).toEqual(['failing db EAI_AGAIN until +60000']);
    // Within the retry interval no new lookup; the answer is served, counted as stale.
    clock.t += REFRESH_RETRY_MS - 1;
    expect(cache.peek('db')).toEqual(['10.1.0.7']);
    expect(dns.lookups).toHaveLength(2);
    clock.t += 1;
    expect(cache.peek('db')).toEqual(['10.1.0.7']);
    expect(dns.lookups).toHaveLength(3);
    await settle();
    expect(log.filter((l) => l.startsWith('failing'))).toHaveLength(1);
    expect(log.filter((l) => l.startsWith('stale'))).toHaveLength(2);
    // Past TTL + staleMs the answer is no longer used: the caller waits for DNS, which fails.
    clock.t += 60_000;
    expect(cache.peek('db')).toBeNull();
    await expect(cache.resolve('db')).rejects.toMatchObject({ code: 'EAI_AGAIN' });
    dns.set('db', [A('10.1.0.8')]);
    expect(await cache.resolve('db')).toEqual(['10.1.0.8']);
    expect(log.at(-1)).toBe('recovered db');
    expect(outcomes).toEqual(['ok', 'failed', 'failed', 'failed', 'ok']);
  });

  it('forgets a name at once when DNS says it no longer exists (its address may go to another Service)', async () => {
    const { dns, clock, cache, settle } = setup(5000, 60_000);
    dns.set('db', [A('10.1.0.7')]);
    await cache.resolve('db');
    clock.t += 5000;
    dns.set('db', 'ENOTFOUND');
    expect(cache.peek('db')).toEqual(['10.1.0.7']);
    await settle();
    expect(cache.peek('db')).toBeNull();
    expect(cache.size).toBe(0);
    await expect(cache.resolve('db')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('a first lookup that fails keeps nothing, and the next connection asks again', async () => {
    const { dns, cache } = setup();
    dns.set('db', 'EAI_AGAIN');
    await expect(Promise.all([cache.resolve('db'), cache.resolve('db')])).rejects.toMatchObject({ code: 'EAI_AGAIN' });
    expect(dns.lookups).toHaveLength(1);
    expect(cache.size).toBe(0);
    dns.set('db', [A('10.1.0.7')]);
    expect(await cache.resolve('db')).toEqual(['10.1.0.7']);
  });

  it('fresh: asks DNS even with an answer kept, joining a lookup already under way', async () => {
    const { dns, cache } = setup();
    dns.set('db', [A('10.1.0.7')]);
    await cache.resolve('db');
    dns.set('db', [A('10.1.0.9')]);
    dns.hold();
    const a = cache.resolve('db', true);
    const b = cache.resolve('db', true);
    dns.release();
    expect(await a).toEqual(['10.1.0.9']);
    expect(await b).toEqual(['10.1.0.9']);
    expect(dns.lookups).toHaveLength(2);
    expect(cache.peek('db')).toEqual(['10.1.0.9']);
  });

  it('ttlMs 0 keeps nothing: every connection looks the name up (concurrent ones share)', async () => {
    const { dns, cache } = setup(0, 0);
    dns.set('db', [A('10.1.0.7')]);
    await Promise.all([cache.resolve('db'), cache.resolve('db')]);
    expect(dns.lookups).toHaveLength(1);
    expect(cache.peek('db')).toBeNull();
    await cache.resolve('db');
    expect(dns.lookups).toHaveLength(2);
    expect(cache.size).toBe(0);
  });

  it('keeps at most maxNames, dropping the least recently looked-up name', async () => {
    const { dns, clock, cache, settle } = setup(5000, 60_000, 2);
    for (const h of ['a', 'b', 'c']) dns.set(h, [A('10.0.0.1')]);
    await cache.resolve('a');
    await cache.resolve('b');
    clock.t += 5000;
    cache.peek('a'); // refreshed: now the most recent
    await settle();
    await cache.resolve('c');
    expect(cache.size).toBe(2);
    expect(cache.peek('a')).not.toBeNull();
    expect(cache.peek('b')).toBeNull();
  });
});
