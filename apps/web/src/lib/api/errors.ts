/**
 * Where an API error is shown: each `details[].field` the page has an input for goes next to
 * that input; everything else (and errors without details) goes to a toast that carries the
 * request id, so support can find the log line.
 */
import { ApiError } from './client';

/** `body.upstream.host` → `upstream.host`; `query.wait` stays as is. */
export function formPath(field: string): string {
  return field.replace(/^body\./, '');
}

export interface SplitErrors {
  /** Form path → message, for the fields the form has. */
  fields: Record<string, string>;
  /** Whatever has no field on the form: shown in a toast. */
  rest: string[];
}

/**
 * Splits an error between the form's fields and the rest. `accepts` says whether a form path
 * belongs to the form; `codeFields` puts errors whose only clue is their code on a field
 * (e.g. SY_HOSTNAME_TAKEN → hostname).
 */
export function splitApiError(err: unknown, accepts: (path: string) => boolean, codeFields: Record<string, string> = {}): SplitErrors {
  if (!(err instanceof ApiError)) return { fields: {}, rest: [err instanceof Error ? err.message : String(err)] };
  const fields: Record<string, string> = {};
  const rest: string[] = [];
  for (const d of err.details) {
    const path = d.field ? formPath(d.field) : null;
    if (path && accepts(path) && !fields[path]) fields[path] = d.message;
    else rest.push(d.field ? `${d.field}: ${d.message}` : d.message);
  }
  if (Object.keys(fields).length > 0) return { fields, rest };
  const byCode = codeFields[err.code];
  if (byCode && accepts(byCode)) return { fields: { [byCode]: err.message }, rest: [] };
  return { fields, rest: [err.message] };
}

export function describeError(err: unknown): { title: string; message: string; requestId: string | null } {
  if (err instanceof ApiError) return { title: err.code, message: err.message, requestId: err.requestId };
  return { title: 'Error', message: err instanceof Error ? err.message : String(err), requestId: null };
}

/**
 * The filters of a list page, which the API checks as query parameters: each refused one
 * (`400`, `details[].field` = `querystring.<name>`) goes on the filter `fieldOf` names for it,
 * and `codeFields` puts an answer without details on one (`SY_TENANT_NOT_FOUND` → the tenant
 * filter). Null when nothing names a filter: the page shows the error as its own.
 */
export function filterFieldErrors<F extends string>(err: unknown, fieldOf: Record<string, F>, codeFields: Record<string, F> = {}): Partial<Record<F, string>> | null {
  if (!(err instanceof ApiError)) return null;
  const out: Partial<Record<F, string>> = {};
  if (err.status === 400) {
    for (const d of err.details) {
      const param = /^querystring\.(\w+)$/.exec(d.field ?? '')?.[1];
      const field = param !== undefined && Object.hasOwn(fieldOf, param) ? fieldOf[param] : undefined;
      if (field && !out[field]) out[field] = d.message;
    }
  }
  const byCode = Object.hasOwn(codeFields, err.code) ? codeFields[err.code] : undefined;
  if (byCode && !out[byCode] && err.details.length === 0) out[byCode] = err.message;
  return Object.keys(out).length ? out : null;
}
