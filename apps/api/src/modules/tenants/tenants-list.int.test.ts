/**
 * The tenant list, paged (GET /api/v1/tenants): keyset pages in slug order that hold every
 * tenant exactly once, also when tenants come and go between pages; the first page and a
 * cursor for clients that do not page; a search by slug or name that takes `%`, `_` and `\`
 * literally; a member's own tenants only, on every page and whatever cursor it sends; a bad
 * cursor, limit or search refused on its parameter; and the usage counted exactly, for the
 * page's tenants only.
 */
import type { Prisma } from '@switchyard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../lib/access.js';
import { createHarness, createUser, login, type Harness, type Reply } from '../../testing/harness.js';
import { TenantsService } from './tenants.service.js';

let h: Harness;
/** p000…p149, bulk-inserted; every tenth is named "Tenth <i>". */
const BULK = Array.from({ length: 150 }, (_, i) => `p${String(i).padStart(3, '0')}`);
/** Created through the API: names with LIKE's wildcards and escape, and tenants with usage. */
const NAMED: Array<[slug: string, name: string]> = [
  ['wpercent', '100% Coverage'],
  ['wunder', 'snake_case Ltd'],
  ['wplain', '100 Percent snakeXcase'],
  ['wback', 'Back\\slash Inc'],
  ['ua', 'Usage A'],
  ['ub', 'Usage B'],
  ['uc', 'Usage C'],
];
let all: string[];

type Tenant = { id: string; slug: string; name: string; usage: { databases: number; externalAccess: number; dedicatedPorts: number } };

const list = (qs = '', as?: string | null): Promise<Reply> => h.call('GET', `/api/v1/tenants${qs ? `?${qs}` : ''}`, undefined, as);

/** Every page of the list with `qs`, `limit` per page, through `get`; the items and the page count. */
async function pageThrough(qs: string, limit: number, get: (qs: string) => Promise<Reply> = (q) => list(q)): Promise<{ items: Tenant[]; pages: number }> {
  const items: Tenant[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const r = await get([qs, `limit=${limit}`, cursor ? `cursor=${encodeURIComponent(cursor)}` : ''].filter(Boolean).join('&'));
    expect(r.statusCode, r.body).toBe(200);
    const body: { items: Tenant[]; nextCursor: string | null } = r.json();
    expect(body.items.length).toBeLessThanOrEqual(limit);
    items.push(...body.items);
    cursor = body.nextCursor;
    pages++;
    // A cursor only when there is more: never an empty last page.
    if (cursor) expect(body.items.length).toBe(limit);
  } while (cursor && pages < 1000);
  return { items, pages };
}

beforeAll(async () => {
  h = await createHarness();
  await h.app.prisma.tenant.createMany({ data: BULK.map((slug, i) => ({ slug, name: i % 10 === 0 ? `Tenth ${i}` : `Tenant ${i}` })) });
  for (const [slug, name] of NAMED) {
    const r = await h.call('POST', '/api/v1/tenants', { slug, name, upstreamPolicy: { hostSuffixes: [`${slug}.svc.cluster.local`], cidrs: [] } });
    expect(r.statusCode, r.body).toBe(201);
  }
  // Usage: ua none, ub one database, uc two with one exposed.
  for (const [slug, n] of [['ub', 1], ['uc', 2]] as const) {
    for (let i = 0; i < n; i++) {
      const r = await h.call('POST', `/api/v1/tenants/${slug}/databases`, { name: `db${i}`, engine: 'postgres', upstream: { host: `db${i}.${slug}.svc.cluster.local`, port: 5432 } });
      expect(r.statusCode, r.body).toBe(201);
    }
  }
  expect((await h.call('PUT', '/api/v1/tenants/uc/databases/db0/external-access', { enabled: true })).statusCode).toBe(200);
  all = [...BULK, ...NAMED.map(([s]) => s)].sort();
}, 60_000);
afterAll(async () => h.close());

describe('paging', () => {
  it('returns every tenant exactly once, in slug order, across pages', async () => {
    for (const limit of [1, 7, 40, all.length - 1, all.length, 1000]) {
      const { items, pages } = await pageThrough('', limit);
      expect(items.map((t) => t.slug), `limit ${limit}`).toEqual(all);
      expect(pages, `limit ${limit}`).toBe(Math.ceil(all.length / limit));
    }
    // The database's order is the API's order.
    expect((await h.app.prisma.tenant.findMany({ orderBy: { slug: 'asc' }, select: { slug: true } })).map((t) => t.slug)).toEqual(all);
  });

  it('without paging parameters: the first 100 tenants and a cursor to the rest', async () => {
    const r = await list();
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.items.map((t: Tenant) => t.slug)).toEqual(all.slice(0, 100));
    expect(typeof body.nextCursor).toBe('string');
    const rest = (await list(`cursor=${encodeURIComponent(body.nextCursor)}`)).json();
    expect(rest.items.map((t: Tenant) => t.slug)).toEqual(all.slice(100, 200));
    expect(rest.nextCursor).toBeNull();
  });

  it('a tenant created or deleted between pages neither repeats nor hides another', async () => {
    const first = (await list('limit=10')).json();
    expect(first.items.map((t: Tenant) => t.slug)).toEqual(all.slice(0, 10));
    // p0095 sorts after p009 (the last of page 1) and before p010; p005 was on page 1 already.
    await h.app.prisma.tenant.create({ data: { slug: 'p0095', name: 'Late' } });
    await h.app.prisma.tenant.delete({ where: { slug: 'p005' } });
    try {
      const second = (await list(`limit=10&cursor=${first.nextCursor}`)).json();
      expect(second.items.map((t: Tenant) => t.slug)).toEqual(['p0095', ...all.slice(10, 19)]);
    } finally {
      await h.app.prisma.tenant.delete({ where: { slug: 'p0095' } });
      await h.app.prisma.tenant.create({ data: { slug: 'p005', name: 'Tenant 5' } });
    }
  });
});

describe('search (q)', () => {
  const slugsOf = async (q: string, limit = 1000) => (await pageThrough(`q=${encodeURIComponent(q)}`, limit)).items.map((t) => t.slug);

  it('matches the slug or the name, ignoring case, and pages like the whole list', async () => {
    const tenths = BULK.filter((_, i) => i % 10 === 0);
    expect(await slugsOf('TENTH')).toEqual(tenths);
    const paged = await pageThrough('q=tenth', 4);
    expect(paged.items.map((t) => t.slug)).toEqual(tenths);
    expect(paged.pages).toBe(4);
    expect(await slugsOf('p14')).toEqual(BULK.slice(140));
    expect(await slugsOf('usage')).toEqual(['ua', 'ub', 'uc']);
    // Surrounding blanks are ignored; a blank search is no filter.
    expect(await slugsOf('  usage b ')).toEqual(['ub']);
    expect(await slugsOf('   ')).toEqual(all);
  });

  it('takes %, _ and \\ literally', async () => {
    expect(await slugsOf('%')).toEqual(['wpercent']);
    expect(await slugsOf('100%')).toEqual(['wpercent']);
    expect(await slugsOf('snake_case')).toEqual(['wunder']);
    expect(await slugsOf('_')).toEqual(['wunder']);
    expect(await slugsOf('\\')).toEqual(['wback']);
    expect(await slugsOf('k\\s')).toEqual(['wback']);
  });

  it('with no match: no items and no cursor', async () => {
    const r = await list('q=nothing-like-this');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ items: [], nextCursor: null });
  });
});

describe('members', () => {
  const mine = ['p005', 'p050', 'p099', 'p100', 'p149', 'uc'];
  let member: Awaited<ReturnType<typeof login>>;
  const asMember = (qs: string) => member.call('GET', `/api/v1/tenants?${qs}`);

  beforeAll(async () => {
    await createUser(h, 'pager@example.com', 'a long enough password', { memberships: mine.map((tenant) => ({ tenant, role: 'member' as const })) });
    member = await login(h, 'pager@example.com', 'a long enough password');
  });

  it('see their own tenants only, on every page, also when searching', async () => {
    const { items, pages } = await pageThrough('', 2, asMember);
    expect(items.map((t) => t.slug)).toEqual(mine);
    expect(pages).toBe(3);
    expect((await pageThrough('q=tenth', 1, asMember)).items.map((t) => t.slug)).toEqual(['p050', 'p100']);
    // Their usage too, as GET of the tenant shows it.
    expect(items.find((t) => t.slug === 'uc')!.usage).toEqual({ databases: 2, externalAccess: 1, dedicatedPorts: 0 });
  });

  it('a cursor from someone else’s list continues in their own', async () => {
    const admin = (await list('limit=60')).json();
    expect(admin.items.at(-1).slug).toBe('p059');
    const r = await asMember(`cursor=${admin.nextCursor}`);
    expect(r.json().items.map((t: Tenant) => t.slug)).toEqual(['p099', 'p100', 'p149', 'uc']);
  });

  it('a tenant’s API token sees its tenant only', async () => {
    const token = (await h.call('POST', '/api/v1/tenants/ub/tokens', { name: 'viewer', role: 'member' })).json().token;
    expect((await list('', token)).json()).toMatchObject({ items: [{ slug: 'ub' }], nextCursor: null });
    expect((await list('q=p0', token)).json()).toEqual({ items: [], nextCursor: null });
  });
});

describe('bad input', () => {
  it('is refused with SY_VALIDATION naming the parameter', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    for (const [qs, field] of [
      ['cursor=not-a-cursor', 'querystring.cursor'],
      // A connection events cursor (time:id), a slug that cannot be one, an empty key.
      [`cursor=${b64('1763795600000:1042')}`, 'querystring.cursor'],
      [`cursor=${b64('Not_A_Slug')}`, 'querystring.cursor'],
      [`cursor=${b64('a'.repeat(41))}`, 'querystring.cursor'],
      ['cursor=', 'querystring.cursor'],
      ['limit=0', 'querystring.limit'],
      ['limit=1001', 'querystring.limit'],
      ['limit=ten', 'querystring.limit'],
      ['limit=2.5', 'querystring.limit'],
      [`q=${'a'.repeat(201)}`, 'querystring.q'],
      ['page=2', 'querystring.page'],
    ] as const) {
      const r = await list(qs);
      expect(r.statusCode, qs).toBe(400);
      const body = r.json();
      expect(body, qs).toMatchObject({ statusCode: 400, code: 'SY_VALIDATION', error: 'Bad Request' });
      expect(typeof body.requestId).toBe('string');
      expect(body.message, qs).toContain(field);
      expect(body.details[0].field, qs).toBe(field);
    }
  });
});

describe('usage', () => {
  it('is each tenant’s own, as GET of the tenant shows it, on whichever page it is', async () => {
    const { items } = await pageThrough('', 3);
    const byslug = new Map(items.map((t) => [t.slug, t]));
    expect(byslug.get('ua')!.usage).toEqual({ databases: 0, externalAccess: 0, dedicatedPorts: 0 });
    expect(byslug.get('ub')!.usage).toEqual({ databases: 1, externalAccess: 0, dedicatedPorts: 0 });
    expect(byslug.get('uc')!.usage).toEqual({ databases: 2, externalAccess: 1, dedicatedPorts: 0 });
    for (const slug of ['p000', 'ua', 'ub', 'uc', 'wback']) expect(byslug.get(slug)).toEqual((await h.call('GET', `/api/v1/tenants/${slug}`)).json());
  });

  it('is counted for the page’s tenants only: one statement over their ids', async () => {
    // The service on a client that records the raw statements it is sent.
    const sent: Prisma.Sql[] = [];
    const prisma = new Proxy(h.app.prisma, {
      get(target, prop) {
        if (prop === '$queryRaw') {
          return (sql: Prisma.Sql) => {
            sent.push(sql);
            return target.$queryRaw(sql);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const svc = new TenantsService(prisma, { upstreamSuffixes: [], limits: { maxDatabases: null, maxExternalAccess: null, maxDedicatedPorts: null } });
    const admin: Actor = { principal: { actorType: 'admin-token', actorId: 'test', isPlatformAdmin: true, tenantRoles: new Map() }, requestId: 'r', clientAddress: '127.0.0.1' };
    const first = await svc.list(admin, { limit: 5 });
    const page = await svc.list(admin, { limit: 5, cursor: first.nextCursor!, q: 'u' });
    expect(page.items.map((t) => t.slug)).toEqual(['ua', 'ub', 'uc', 'wunder']);
    expect(page.items.find((t) => t.slug === 'uc')!.usage).toEqual({ databases: 2, externalAccess: 1, dedicatedPorts: 0 });
    expect(sent).toHaveLength(2);
    const ids = page.items.map((t) => t.id);
    // Every id array the statement carries is the page's ids, nothing more.
    const arrays = sent[1]!.values.filter(Array.isArray);
    expect(arrays.length).toBeGreaterThan(0);
    for (const a of arrays) expect([...(a as string[])].sort()).toEqual([...ids].sort());
    // A page with no tenants counts nothing at all.
    expect(await svc.list(admin, { q: 'nothing-like-this' })).toEqual({ items: [], nextCursor: null });
    expect(sent).toHaveLength(2);
  });
});
