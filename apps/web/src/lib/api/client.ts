/**
 * The one typed client of the dashboard: openapi-fetch over the generated `paths`. Same origin
 * (the API serves the dashboard), so the session cookie goes along; every change carries the
 * session's CSRF token. Failures become ApiError with the API's `{code, message, details}`
 * and the request id.
 */
import createClient, { type Middleware } from 'openapi-fetch';
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

let csrfToken: string | null = null;
/** Set from the session (login, /auth/me); sent as X-CSRF-Token on every change. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (request.method !== 'GET' && request.method !== 'HEAD' && csrfToken) request.headers.set('x-csrf-token', csrfToken);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: typeof window === 'undefined' ? 'http://localhost' : window.location.origin, credentials: 'same-origin' });
api.use(csrf);

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
