/**
 * Minimal Cookie / Set-Cookie handling for the session cookie (RFC 6265). Values we issue are
 * base64url, so no escaping is needed; anything else in the header is ignored.
 */

/** Reads one cookie from a Cookie header; the first occurrence wins, as browsers send the most specific first. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{1,200}$/.test(value) ? value : null;
  }
  return null;
}

export interface CookieOptions {
  maxAgeSeconds: number;
  secure: boolean;
  sameSite: 'Strict' | 'Lax';
}

export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', `SameSite=${o.sameSite}`, `Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds))}`];
  if (o.secure) parts.push('Secure');
  return parts.join('; ');
}
