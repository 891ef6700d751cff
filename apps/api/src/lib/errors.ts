/**
 * The API's error catalogue. Every error response has one shape:
 *   { statusCode, code, error, message, requestId, details? }
 * `code` is stable (clients switch on it; docs/api-errors.md lists them all); `message` is
 * for humans and may change.
 */
import { STATUS_CODES } from 'node:http';

export const ERRORS = {
  SY_VALIDATION: { status: 400, message: 'The request is invalid' },
  SY_BAD_REQUEST: { status: 400, message: 'The request cannot be processed' },
  SY_UNAUTHENTICATED: { status: 401, message: 'Authentication required: sign in, or send Authorization: Bearer <token>' },
  SY_INVALID_CREDENTIALS: { status: 401, message: 'The email address or password is wrong' },
  SY_FORBIDDEN: { status: 403, message: 'Your role does not allow this action' },
  SY_CSRF_FAILED: { status: 403, message: 'Missing or wrong X-CSRF-Token header for a cookie-authenticated change' },
  SY_NOT_FOUND: { status: 404, message: 'Not found' },
  SY_TENANT_NOT_FOUND: { status: 404, message: 'Tenant not found' },
  SY_DATABASE_NOT_FOUND: { status: 404, message: 'Database not found' },
  SY_TOKEN_NOT_FOUND: { status: 404, message: 'API token not found' },
  SY_USER_NOT_FOUND: { status: 404, message: 'User not found' },
  SY_MEMBER_NOT_FOUND: { status: 404, message: 'The user is not a member of this tenant' },
  SY_CONNECTION_NOT_FOUND: { status: 404, message: 'No such open connection' },
  SY_TENANT_EXISTS: { status: 409, message: 'A tenant with this slug already exists' },
  SY_DATABASE_EXISTS: { status: 409, message: 'A database with this name already exists in the tenant' },
  SY_USER_EXISTS: { status: 409, message: 'A user with this email address already exists' },
  SY_MEMBER_EXISTS: { status: 409, message: 'The user is already a member of this tenant' },
  SY_LAST_OWNER: { status: 409, message: 'A tenant must keep at least one owner' },
  SY_LAST_PLATFORM_ADMIN: { status: 409, message: 'The platform must keep at least one enabled platform admin user' },
  SY_HOSTNAME_TAKEN: { status: 409, message: 'This hostname is already used by another route' },
  SY_CONFLICT: { status: 409, message: 'The request conflicts with the current state' },
  SY_DEDICATED_PORTS_EXHAUSTED: { status: 409, message: 'Every dedicated port of the pool is assigned' },
  SY_TENANT_LIMIT: { status: 409, message: 'The tenant has reached a limit set by the platform admin' },
  SY_DESTINATION_TAKEN: { status: 409, message: 'This destination address is already routed by another route' },
  SY_UPSTREAM_POLICY_CONFLICT: { status: 409, message: 'Databases of the tenant point at upstreams the new policy does not allow; move or delete them first' },
  SY_KUBERNETES_OWNED: { status: 409, message: 'This database and its route are owned by a Kubernetes object; change the object instead' },
  SY_PAYLOAD_TOO_LARGE: { status: 413, message: 'Request body too large' },
  SY_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send JSON with Content-Type: application/json' },
  SY_UPSTREAM_NOT_ALLOWED: { status: 422, message: 'The upstream is not allowed for this tenant' },
  SY_HOSTNAME_NOT_ALLOWED: { status: 422, message: 'The hostname is not allowed for this tenant' },
  SY_LISTENER_MISMATCH: { status: 422, message: 'The listener cannot serve this engine' },
  SY_DEDICATED_PORTS_UNAVAILABLE: { status: 422, message: 'No dedicated port pool is configured (SWITCHYARD_DEDICATED_PORTS)' },
  SY_EGRESS_SOURCE_NOT_ALLOWED: { status: 422, message: 'The egress source address is not one the proxies can use' },
  SY_CERTIFICATE_REQUIRED: { status: 422, message: 'TLS termination needs a certificate attached to the route' },
  SY_DISCOVERED_SERVICE_NOT_FOUND: { status: 404, message: 'No discovered service with this namespace and name in the tenant' },
  SY_CERTIFICATE_NOT_FOUND: { status: 404, message: 'Certificate not found' },
  SY_CERTIFICATE_EXISTS: { status: 409, message: 'A certificate with this name already exists in the tenant' },
  SY_CERTIFICATE_IN_USE: { status: 409, message: 'The certificate is attached to routes' },
  SY_CERTIFICATE_PEM_INVALID: { status: 422, message: 'The certificate PEM cannot be parsed' },
  SY_CERTIFICATE_KEY_INVALID: { status: 422, message: 'The private key PEM cannot be parsed' },
  SY_CERTIFICATE_KEY_UNSUPPORTED: { status: 422, message: 'The private key type or size is not supported' },
  SY_CERTIFICATE_KEY_MISMATCH: { status: 422, message: 'The private key does not belong to the certificate' },
  SY_CERTIFICATE_CHAIN_ORDER: { status: 422, message: 'The chain is not ordered leaf first, then each issuer' },
  SY_CERTIFICATE_NOT_LEAF: { status: 422, message: 'The first certificate is a CA certificate, not a server certificate' },
  SY_CERTIFICATE_NO_HOSTNAMES: { status: 422, message: 'The certificate has no DNS or IP subjectAltName' },
  SY_CERTIFICATE_EXPIRED: { status: 422, message: 'The certificate has expired' },
  SY_CERTIFICATE_NOT_YET_VALID: { status: 422, message: 'The certificate is not valid yet' },
  SY_CERTIFICATE_HOSTNAME_MISMATCH: { status: 422, message: 'The certificate does not cover the host name' },
  SY_UPSTREAM_CA_INVALID: { status: 422, message: 'The upstream CA is not a PEM certificate' },
  SY_ACME_NOT_FOUND: { status: 404, message: 'ACME certificate not found' },
  SY_ACME_EXISTS: { status: 409, message: 'An ACME certificate for this host name already exists' },
  SY_ACME_ROUTE_REQUIRED: { status: 422, message: 'ACME certificates are ordered for host names of the tenant’s enabled terminate-mode routes' },
  SY_ACME_WILDCARD_UNSUPPORTED: { status: 422, message: 'Wildcard names need the DNS-01 challenge, which is not supported' },
  SY_ACME_DNS_MISMATCH: { status: 422, message: 'The host name does not resolve to the platform’s public addresses' },
  SY_ACME_RATE_LIMITED: { status: 429, message: 'The CA’s rate limit for this name would be exceeded' },
  SY_ACME_UNAVAILABLE: { status: 503, message: 'ACME is not configured (ACME_DIRECTORY_URL)' },
  SY_RATE_LIMITED: { status: 429, message: 'Too many requests' },
  SY_INTERNAL: { status: 500, message: 'Internal server error' },
  SY_UNAVAILABLE: { status: 503, message: 'Service temporarily unavailable' },
  SY_KEYRING_UNAVAILABLE: { status: 503, message: 'No keyring is configured; private keys cannot be stored' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorDetail {
  /** JSON pointer-ish location, e.g. `body.upstream.port`. */
  field?: string;
  message: string;
  [key: string]: unknown;
}

export class AppError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: ErrorDetail[],
    /** Extra response headers, e.g. Retry-After for SY_RATE_LIMITED. */
    readonly headers?: Record<string, string>,
  ) {
    super(message ?? ERRORS[code].message);
    this.statusCode = ERRORS[code].status;
  }
}

export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  error: string;
  message: string;
  requestId: string;
  details?: ErrorDetail[];
}

export function errorBody(code: ErrorCode, message: string, requestId: string, details?: ErrorDetail[]): ErrorBody {
  const statusCode = ERRORS[code].status;
  const body: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message, requestId };
  if (details && details.length > 0) body.details = details;
  return body;
}
