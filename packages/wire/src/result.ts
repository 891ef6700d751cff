/**
 * Result of a push parser run over the bytes received so far. Parsers never throw on input:
 * they ask for more bytes, return a value with the number of bytes it spans, or name what is
 * wrong with a stable code (used as a metric label and close reason).
 */
export type ParseResult<T, E extends string> =
  | { readonly status: 'need-more' }
  | { readonly status: 'ok'; readonly value: T; readonly consumed: number }
  | { readonly status: 'error'; readonly code: E; readonly message: string };

export const NEED_MORE = Object.freeze({ status: 'need-more' as const });

export function ok<T>(value: T, consumed: number): { status: 'ok'; value: T; consumed: number } {
  return { status: 'ok', value, consumed };
}

export function fail<E extends string>(code: E, message: string): { status: 'error'; code: E; message: string } {
  return { status: 'error', code, message };
}
