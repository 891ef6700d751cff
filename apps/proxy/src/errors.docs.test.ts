/**
 * docs/proxy.md's refusal tables against the catalogue (errors.ts) and the functions that
 * answer clients, both ways: every code of REFUSALS is in the tables it must be in, every code
 * a table names exists, and what a row states — kind, TLS alert, SQLSTATE, HTTP status, the
 * Kubernetes `Status`, the RESP error, the quoted words — is what the code sends. The docs once
 * promised 502 for `upstream_forbidden` while the proxy answered 404 (609521c); this keeps
 * that from happening again. Then an audit of every refusal × audience for sense: a SQLSTATE
 * of the class that fits its kind, a status a client reads right, a one-line RESP error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqlState, TlsAlert } from '@switchyard/wire';
import { describe, expect, it } from 'vitest';
import { CLOSE_REASONS, REFUSALS, refusalMessage, type ErrorKind, type RefusalCode } from './errors.js';
import { httpRefusal, httpStatusFor } from './listener/http-refusals.js';
import { redisRefusal, terminateAnswer } from './listener/terminate-refusals.js';

const DOC = readFileSync(join(import.meta.dirname, '../../../docs/proxy.md'), 'utf8').split('\n');
const CODES = Object.keys(REFUSALS) as RefusalCode[];

/**
 * Codes no client ever reads as an HTTP response: PostgreSQL startup, cancel and endpoint
 * refusals, TLS-hello refusals (an alert, or closed), PROXY-header refusals (closed), the
 * Redis one. Every other code must be in the HTTP status table.
 */
const NOT_HTTP: readonly RefusalCode[] = [
  'hello_invalid',
  'not_tls',
  'tls_required',
  'protocol_violation',
  'data_after_ssl_request',
  'cancel_unknown_key',
  'cancel_upstream_failed',
  'no_sni',
  'endpoint_required',
  'endpoint_invalid',
  'endpoint_mismatch',
  'endpoint_passthrough',
  'upstream_tls_refused',
  'upstream_tls_refused_passthrough',
  'upstream_protocol_error',
  'proxy_header_invalid',
  'proxy_header_untrusted',
  'proxy_header_required',
  'unknown_destination',
  'certificate_unavailable',
  'certificate_expired',
  'alpn_required',
  'acme_no_challenge',
  'tls_handshake_failed',
  'postgres_on_tls_port',
  'redis_on_tls_port',
];

/**
 * What `refuseRouted` answers inside TLS on terminate-mode routes of other engines than
 * PostgreSQL (listener/connection.ts): `admit`'s refusals, the connection caps, the dial's
 * failures (no SSLRequest there: never `upstream_tls_refused` or `upstream_protocol_error`),
 * and what `refuseDialling` is called with.
 */
const INSIDE_TLS: readonly RefusalCode[] = [
  'route_disabled',
  'source_not_allowed',
  'route_connection_limit',
  'tenant_connection_limit',
  'upstream_unreachable',
  'upstream_tls_failed',
  'upstream_certificate_invalid',
  'upstream_forbidden',
  'egress_source_unavailable',
  'terminated',
  'shutting_down',
];

/** What a terminate-mode PostgreSQL client can read as an ErrorResponse inside TLS (tls/terminate.ts, pg/endpoint.ts). */
const PG_INSIDE_TLS: readonly RefusalCode[] = [
  'endpoint_required',
  'endpoint_invalid',
  'endpoint_mismatch',
  'endpoint_passthrough',
  'unknown_host',
  'route_disabled',
  'source_not_allowed',
  'route_connection_limit',
  'tenant_connection_limit',
  'upstream_unreachable',
  'upstream_tls_refused',
  'upstream_tls_failed',
  'upstream_certificate_invalid',
  'upstream_forbidden',
  'egress_source_unavailable',
  'upstream_protocol_error',
  'protocol_violation',
  'handshake_timeout',
  'not_ready',
  'terminated',
  'shutting_down',
];

/** Kubernetes `StatusReason` values (apimachinery meta/v1 types.go), each with the status code it stands for. */
const STATUS_REASONS: Record<string, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  Expired: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServerTimeout: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
};

interface Row {
  /** 1-based line in docs/proxy.md, for failure messages. */
  line: number;
  cells: string[];
}

/**
 * The rows of the first table whose header starts `| <first> |` after the first line that
 * starts with `after`, before the next `## ` section (tables indented inside a list item
 * too). Cells split on `|` not escaped as `\|`.
 */
function table(after: string, first: string): Row[] {
  const start = DOC.findIndex((l) => l.startsWith(after));
  if (start < 0) throw new Error(`docs/proxy.md: no line starts with ${after}`);
  const end = DOC.findIndex((l, i) => i > start && l.startsWith('## '));
  const head = DOC.findIndex((l, i) => i > start && (end < 0 || i < end) && l.trim().startsWith(`| ${first} |`));
  if (head < 0) throw new Error(`docs/proxy.md: no table "| ${first} |" in the section of ${after}`);
  const rows: Row[] = [];
  for (let i = head + 2; i < DOC.length && DOC[i]!.trim().startsWith('|'); i++) {
    rows.push({ line: i + 1, cells: DOC[i]!.trim().slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()) });
  }
  return rows;
}

/** Backticked snake_case words (`misdirected` too): the reason codes a cell names. */
const codesIn = (cell: string): string[] => [...cell.matchAll(/`([a-z][a-z0-9_]*)`/g)].map((m) => m[1]!);

/** Codes of a Reason cell; each must exist. */
function reasons(row: Row, cell = 0): RefusalCode[] {
  const named = codesIn(row.cells[cell]!);
  expect(named.length, `docs/proxy.md:${row.line} names no reason`).toBeGreaterThan(0);
  for (const c of named) expect(CODES, `docs/proxy.md:${row.line}: \`${c}\` is not a refusal code of errors.ts`).toContain(c);
  return named as RefusalCode[];
}

/** Every code of `listed` once, and (`expected`) exactly these. */
function expectListed(listed: RefusalCode[], expected: readonly RefusalCode[], where: string): void {
  expect(listed.filter((c, i) => listed.indexOf(c) !== i), `codes named twice in ${where}`).toEqual([]);
  expect(expected.filter((c) => !listed.includes(c)), `codes missing from ${where}`).toEqual([]);
  expect(listed.filter((c) => !expected.includes(c)), `codes ${where} should not name`).toEqual([]);
}

/**
 * One value for every code of a row, or one per code in order (`421, 400, 400, 431, 505`
 * for five codes). `got` is what the code produces for each.
 */
function expectPerCode<T>(row: Row, codes: RefusalCode[], stated: T[], got: (code: RefusalCode) => T, what: string): void {
  if (stated.length === 0) return;
  expect([1, codes.length], `docs/proxy.md:${row.line}: ${stated.length} ${what}s for ${codes.length} codes`).toContain(stated.length);
  codes.forEach((code, i) => expect(got(code), `docs/proxy.md:${row.line}: ${what} of ${code}`).toBe(stated.length === 1 ? stated[0] : stated[i]));
}

const alertCode = (name: string): number | undefined => (TlsAlert as Record<string, number>)[name.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase())];
const text = (b: Buffer | ((request: Buffer) => Buffer), request: Buffer): string => (typeof b === 'function' ? b(request) : b).toString('utf8');
const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3}) /.exec(response)?.[1]);
const request = (target: string) => Buffer.from(`GET ${target} HTTP/1.1\r\nHost: kube.example.com\r\n\r\n`);

/** What a kubernetes-api route's client reads for `code`: a resource request (a `Status`) and discovery (text). */
function kubernetes(code: RefusalCode): { status: number; body: { kind: string; code: number; reason: string; message: string }; discoveryStatus: number } {
  const answer = terminateAnswer(code, 'kubernetes-api', ['h2', 'http/1.1'])!;
  const resource = text(answer.response, request('/api/v1/namespaces/default/pods'));
  return {
    status: statusOf(resource),
    body: JSON.parse(resource.slice(resource.indexOf('\r\n\r\n') + 4)) as never,
    discoveryStatus: statusOf(text(answer.response, request('/api?timeout=32s'))),
  };
}

describe('docs/proxy.md "Refusals: what the client sees"', () => {
  const rows = table('## Refusals: what the client sees', 'Reason');

  it('names every refusal code once, and only codes that exist', () => {
    expectListed(rows.flatMap((r) => reasons(r)), CODES, 'the table of "Refusals: what the client sees"');
  });

  it('states the kind of each code', () => {
    for (const row of rows) {
      const kinds = row.cells[1]!.split('/') as ErrorKind[];
      const codes = reasons(row);
      for (const code of codes) expect(kinds, `docs/proxy.md:${row.line}: kind of ${code}`).toContain(REFUSALS[code].kind);
      for (const kind of kinds) expect(codes.map((c) => REFUSALS[c].kind), `docs/proxy.md:${row.line}: kind ${kind}`).toContain(kind);
    }
  });

  it('states the TLS alert, the SQLSTATE and the HTTP status each code is answered with', () => {
    for (const row of rows) {
      const codes = reasons(row);
      const hello = row.cells[2]!;
      const alerts = [.../TLS alert ((?:`[a-z_]+`(?: \/ )?)+)/.exec(hello)?.[1]?.matchAll(/`([a-z_]+)`/g) ?? []].map((m) => m[1]!);
      for (const a of alerts) expect(alertCode(a), `docs/proxy.md:${row.line}: no TLS alert ${a}`).toBeDefined();
      expectPerCode(row, codes, alerts.map(alertCode), (c) => REFUSALS[c].alert, 'TLS alert');
      const statuses = [...hello.matchAll(/(?<![\w./-])([45]\d\d)(?![\w./-])/g)].map((m) => Number(m[1]));
      expectPerCode(row, codes, statuses, httpStatusFor, 'HTTP status');
      const sqlstates = [...row.cells.join(' | ').matchAll(/ErrorResponse ([0-9A-Z]{5})/g)].map((m) => m[1]!);
      expectPerCode(row, codes, [...new Set(sqlstates)], (c) => REFUSALS[c].sqlstate, 'SQLSTATE');
    }
  });

  it('quotes what clients read word for word', () => {
    for (const row of rows) {
      const [code] = reasons(row);
      const line = row.cells.join(' | ');
      // PostgreSQL: `ErrorResponse 3D000 "no database is exposed…"`, shortened with an ellipsis.
      for (const m of line.matchAll(/ErrorResponse [0-9A-Z]{5} "([^"]+)"/g)) expect(REFUSALS[code!].message, `docs/proxy.md:${row.line}`).toContain(m[1]!.replace(/…$/, ''));
      // A plain HTTP request on a tls listener: the body of the 400, worded for any client.
      for (const m of line.matchAll(/"(Switchyard: [^"]+)"/g)) expect(httpRefusal(code!, 'any').toString('utf8').endsWith(`\r\n\r\n${m[1]}\n`), `docs/proxy.md:${row.line}`).toBe(true);
      for (const m of line.matchAll(/`(ERR [^`]+)`/g)) expect(redisRefusal(code!).toString('utf8'), `docs/proxy.md:${row.line}`).toBe(`-${m[1]}\r\n`);
    }
  });

  it('names every close reason, and only those, where established connections end', () => {
    const section = DOC.slice(DOC.indexOf('## Refusals: what the client sees'), DOC.indexOf('## Policies')).join('\n');
    const all = DOC.join('\n');
    for (const reason of CLOSE_REASONS) expect(all, `close reason ${reason} is named nowhere in docs/proxy.md`).toContain(`\`${reason}\``);
    const ends = /Established connections end with ([^(]+)\(/.exec(section)![1]!;
    for (const c of codesIn(ends)) expect(CLOSE_REASONS, `"Established connections end with": ${c}`).toContain(c);
    const bullets = section.slice(section.indexOf('### Close reasons'));
    for (const m of bullets.matchAll(/^- ((?:`[a-z_]+`(?: \/ )?)+):/gm)) for (const c of codesIn(m[1]!)) expect(CLOSE_REASONS, `### Close reasons: ${c}`).toContain(c);
  });
});

describe('docs/proxy.md HTTP status table ("Plain HTTP by Host")', () => {
  const rows = table('### Plain HTTP by Host', 'Status');

  it('names every code a client can read in HTTP, with the status httpStatusFor gives it', () => {
    expectListed(rows.flatMap((r) => reasons(r, 1)), CODES.filter((c) => !NOT_HTTP.includes(c)), 'the HTTP status table');
    for (const row of rows) {
      for (const code of reasons(row, 1)) {
        expect(httpStatusFor(code), `docs/proxy.md:${row.line}: ${code}`).toBe(Number(row.cells[0]));
        expect(statusOf(httpRefusal(code, 'http', true).toString('latin1')), code).toBe(Number(row.cells[0]));
      }
    }
  });
});

describe('docs/proxy.md "Refusals inside TLS"', () => {
  const rows = table('- **Refusals inside TLS', 'Reason');

  it('lists each refusal answered inside TLS with what curl, kubectl and redis-cli read', () => {
    expectListed(rows.flatMap((r) => reasons(r)), INSIDE_TLS, 'the table of "Refusals inside TLS"');
    for (const row of rows) {
      const [code] = reasons(row) as [RefusalCode];
      const [, http, kube, redis] = row.cells as [string, string, string, string];
      for (const engine of ['http', 'tls'] as const) {
        const answer = terminateAnswer(code, engine, ['h2', 'http/1.1'])!;
        expect(answer.alpn, `${code} ${engine}`).toBe('http/1.1');
        expect(statusOf(text(answer.response, request('/'))), `docs/proxy.md:${row.line}: HTTP status of ${code} (${engine} route)`).toBe(Number(http));
      }
      const k = kubernetes(code);
      expect(`${k.status} \`${k.body.reason}\``, `docs/proxy.md:${row.line}: Kubernetes Status of ${code}`).toBe(kube);
      expect(text(terminateAnswer(code, 'redis', [])!.response, Buffer.from('PING\r\n')), `docs/proxy.md:${row.line}: RESP error of ${code}`).toBe(`-${/^`(.+)`$/.exec(redis)![1]}\r\n`);
    }
  });
});

describe('docs/proxy.md SQLSTATE table ("Errors before handover")', () => {
  const rows = table('### Errors before handover', 'Reason');

  it('lists every refusal a terminate-mode PostgreSQL client reads inside TLS, with its SQLSTATE', () => {
    expectListed(rows.flatMap((r) => reasons(r)), PG_INSIDE_TLS, 'the SQLSTATE table of "Errors before handover"');
    for (const row of rows) for (const code of reasons(row)) expect(REFUSALS[code].sqlstate, `docs/proxy.md:${row.line}: SQLSTATE of ${code}`).toBe(row.cells[1]);
  });
});

/** The SQLSTATEs that fit each kind (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
const SQLSTATES_OF_KIND: Record<ErrorKind, readonly string[]> = {
  // The client spoke wrongly (08P01) or not in a way that can be routed (28000, 08004).
  client: [SqlState.protocolViolation, SqlState.invalidAuthorization, SqlState.rejectedConnection],
  // No such database (3D000), refused by its configuration (08004), or its upstream cannot be
  // reached as configured (08001). Never 57P03: that is "starting up, retry", and a client's
  // retry loop would spin until someone fixes the configuration.
  config: [SqlState.unknownDatabase, SqlState.rejectedConnection, SqlState.unableToConnect],
  policy: [SqlState.rejectedConnection],
  ratelimit: [SqlState.tooManyConnections],
  upstream: [SqlState.unableToConnect],
  // Not ready yet: PostgreSQL's own "the database system is starting up".
  internal: [SqlState.cannotConnectNow],
  // pg_terminate_backend and a server shutdown.
  shutdown: [SqlState.adminShutdown],
};

/** The HTTP statuses that fit each kind. */
const STATUSES_OF_KIND: Record<ErrorKind, readonly number[]> = {
  client: [400, 408, 431, 505],
  config: [404, 421, 502],
  policy: [403],
  ratelimit: [429],
  upstream: [502],
  internal: [503],
  shutdown: [503],
};

describe('every refusal × audience makes sense', () => {
  it('PostgreSQL: a real SQLSTATE of the class that fits the kind', () => {
    for (const code of CODES) expect(SQLSTATES_OF_KIND[REFUSALS[code].kind], `${code}: ${REFUSALS[code].sqlstate}`).toContain(REFUSALS[code].sqlstate);
  });

  it('TLS: a defined alert; failures past the client are internal_error, policy is access_denied', () => {
    for (const code of CODES) {
      const { kind, alert } = REFUSALS[code];
      expect(Object.values(TlsAlert), code).toContain(alert);
      if (kind === 'upstream' || kind === 'ratelimit' || kind === 'internal') expect(alert, code).toBe(TlsAlert.internalError);
      if (kind === 'policy') expect(alert, code).toBe(TlsAlert.accessDenied);
    }
  });

  it('HTTP: a status that fits the kind, with its standard reason phrase', () => {
    for (const code of CODES) {
      expect(STATUSES_OF_KIND[REFUSALS[code].kind], `${code}: ${httpStatusFor(code)}`).toContain(httpStatusFor(code));
      expect(httpRefusal(code, 'http').toString('latin1'), code).not.toMatch(/^HTTP\/1\.1 \d{3} Error\r\n/);
    }
  });

  it('Kubernetes: a Status whose code is the HTTP status and whose reason fits it; discovery gets the same status', () => {
    for (const code of INSIDE_TLS) {
      const k = kubernetes(code);
      expect(k.body.kind, code).toBe('Status');
      expect(k.body.code, code).toBe(k.status);
      expect(k.discoveryStatus, code).toBe(k.status);
      expect(k.body.message, code).toBe(refusalMessage(code, 'kubernetes-api'));
      expect(k.body.message, code).not.toMatch(/database/);
      // A 4xx has the reason of its own code. A 502 has none of its own: ServiceUnavailable
      // (503's) reads right in kubectl and client-go takes it as transient, as a gateway
      // failure is; InternalError is what client-go infers for a bare 5xx.
      if (k.status < 500) expect(STATUS_REASONS[k.body.reason], `${code}: ${k.body.reason}`).toBe(k.status);
      else expect(['ServiceUnavailable', 'InternalError'], `${code}: ${k.body.reason}`).toContain(k.body.reason);
    }
  });

  it('Redis: one line redis-cli prints as (error) ERR Switchyard: …, never about a database server', () => {
    for (const code of [...INSIDE_TLS, 'redis_on_tls_port'] as const) {
      const resp = redisRefusal(code).toString('utf8');
      expect(resp, code).toMatch(/^-ERR Switchyard[: ][^\r\n]+\r\n$/);
      expect(resp, code).not.toMatch(/database server|PostgreSQL|psql/);
    }
  });
});
