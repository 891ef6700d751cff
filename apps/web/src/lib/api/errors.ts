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
