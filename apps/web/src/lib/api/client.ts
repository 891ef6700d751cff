/**
 * The one typed client of the dashboard: openapi-fetch over the generated `paths`. Same origin
 * (the API serves the dashboard), so the session cookie goes along; every change carries the
 * session's CSRF token (and recovers once from a token another tab's sign-in replaced). Failures become ApiError with the API's `{code, message, details}`
 * and the request id.
 */
import createClient from 'openapi-fetch';
import type { paths } from './schema';

export type { paths } from './schema';

export interface ErrorDetail {
  field?: string;
  message: string;
}

/** An API failure in the API's one error shape, plus the HTTP status and the request id. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[],
    readonly requestId: string | null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The session's CSRF token, and the fetch every API request goes through. A change carries the
 * token as X-CSRF-Token. The token belongs to the session cookie, and the cookie is the
 * browser's, not the tab's: signing in again in another tab gives this tab a new session whose
 * token it does not know, and its next change answers 403 SY_CSRF_FAILED. Then the current
 * token is fetched once (GET /auth/me; concurrent failures share that request) and the change
 * is sent once more with it — never a second time. It is not resent when /auth/me has the same
 * token (a real mismatch: resending cannot help) or names another user (someone else signed in
 * in the other tab: a change meant as one person is never made as another).
 */
export function createCsrfSession(baseFetch: () => typeof fetch) {
  let token: string | null = null;
  let userId: string | null = null;
  let refreshing: Promise<{ token: string; userId: string | null; email: string | null } | null> | null = null;

  /** The session's token and user now, from /auth/me (relative to `url`); null when it cannot say. */
  const ask = async (url: string) => {
    try {
      const r = await baseFetch()(new Request(new URL('/api/v1/auth/me', url), { credentials: 'same-origin', headers: { accept: 'application/json' } }));
      if (!r.ok) return null;
      const me = (await r.json()) as { csrfToken?: unknown; user?: { id?: unknown; email?: unknown } | null };
      if (typeof me.csrfToken !== 'string') return null;
      return { token: me.csrfToken, userId: typeof me.user?.id === 'string' ? me.user.id : null, email: typeof me.user?.email === 'string' ? me.user.email : null };
    } catch {
      return null;
    }
  };
  const refresh = (url: string) => (refreshing ??= ask(url).finally(() => (refreshing = null)));

  const isCsrfFailure = async (r: Response) => {
    if (r.status !== 403) return false;
    try {
      return ((await r.clone().json()) as { code?: unknown }).code === 'SY_CSRF_FAILED';
    } catch {
      return false;
    }
  };

  /** The API's refusal, its message replaced by what happened (the request id stays). */
  const otherUser = async (r: Response, email: string | null) => {
    const body = (await r.json()) as Record<string, unknown>;
    const who = email ? `as ${email}` : 'as another user';
    body.message = `This browser is now signed in ${who} (in another tab); nothing was changed. Reload the page to continue ${who}.`;
    return new Response(JSON.stringify(body), { status: r.status, statusText: r.statusText, headers: r.headers });
  };

  return {
    /** Set from the session (login, /auth/me): its CSRF token and whose session it is. */
    set(nextToken: string | null, nextUserId: string | null = null): void {
      token = nextToken;
      userId = nextToken ? nextUserId : null;
    },
    get token(): string | null {
      return token;
    },
    fetch: async (request: Request): Promise<Response> => {
      if (SAFE_METHODS.has(request.method)) return baseFetch()(request);
      // Kept unsent: a body can be read once, and the retry needs it again.
      const spare = request.clone();
      const sent = token;
      if (sent) request.headers.set('x-csrf-token', sent);
      const first = await baseFetch()(request);
      if (!(await isCsrfFailure(first))) return first;
      const now = await refresh(request.url);
      if (!now || now.token === sent) return first;
      if (userId && now.userId !== userId) return otherUser(first, now.email);
      token = now.token;
      userId = now.userId;
      spare.headers.set('x-csrf-token', now.token);
      return baseFetch()(spare);
    },
  };
}

// Looked up per request, so tests can stand in for fetch.
const session = createCsrfSession(() => globalThis.fetch);

/** Set from the session (login, /auth/me); sent as X-CSRF-Token on every change. */
export function setCsrfToken(token: string | null, userId: string | null = null): void {
  session.set(token, userId);
}

export const api = createClient<paths>({
  baseUrl: typeof window === 'undefined' ? 'http://localhost' : window.location.origin,
  credentials: 'same-origin',
  fetch: session.fetch,
});

interface Failure {
  code?: string;
  message?: string;
  details?: ErrorDetail[];
  requestId?: string;
}

/** Turns an openapi-fetch result into its data, or throws ApiError. */
export function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.response.ok && r.error === undefined) return r.data as T;
  const e = (typeof r.error === 'object' && r.error !== null ? r.error : {}) as Failure;
  throw new ApiError(
    r.response.status,
    e.code ?? `HTTP_${r.response.status}`,
    e.message ?? (r.response.statusText || `The API answered ${r.response.status}`),
    Array.isArray(e.details) ? e.details : [],
    e.requestId ?? r.response.headers.get('x-request-id'),
  );
}

/** Network failures (API down) as ApiError too, so pages show one kind of error. */
export async function call<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let r;
  try {
    r = await p;
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `The API could not be reached (${(err as Error).message})`, [], null);
  }
  return unwrap(r);
}
