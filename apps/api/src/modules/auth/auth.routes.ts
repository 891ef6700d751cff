import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { App } from '../../app.js';
import { readCookie, serializeCookie } from '../../lib/cookies.js';
import { errorResponses } from '../../lib/schemas.js';
import { actorOf, sessionCookieName } from '../../plugins/auth.js';
import { ChangePasswordBody, LoginBody, MeResponse } from './auth.schemas.js';
import { sessionIdOf } from './sessions.js';

export interface AuthRouteOptions {
  secureCookies: (request: FastifyRequest) => boolean;
}

export async function authRoutes(app: App, opts: AuthRouteOptions): Promise<void> {
  const svc = app.services.auth;
  const tags = ['auth'];

  function setSessionCookie(req: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number): void {
    const secure = opts.secureCookies(req);
    reply.header('set-cookie', serializeCookie(sessionCookieName(secure), value, { maxAgeSeconds, secure, sameSite: 'Strict' }));
  }

  app.post('/api/v1/auth/login', {
    config: { public: true },
    schema: {
      tags,
      summary: 'Sign in with email and password; sets the session cookie',
      description:
        'Sets an httpOnly, SameSite=Strict session cookie (`__Host-sy_session` with Secure over TLS, else `sy_session`) and returns `csrfToken`: ' +
        'send it as `X-CSRF-Token` on every change made with the cookie. Unknown address, wrong password and disabled account all answer ' +
        '`SY_INVALID_CREDENTIALS`; too many failures for the account, or attempts from the address, answer `SY_RATE_LIMITED` with `Retry-After`.',
      security: [],
      body: LoginBody,
      response: { 200: MeResponse, ...errorResponses(429) },
    },
  }, async (req, reply) => {
    const ua = req.headers['user-agent'];
    const presented = readCookie(req.headers.cookie, sessionCookieName(opts.secureCookies(req)));
    const meta = { requestId: req.id, clientAddress: req.ip, userAgent: typeof ua === 'string' ? ua : null };
    const { session, me } = await svc.login(req.body, meta, presented ? sessionIdOf(presented) : null);
    setSessionCookie(req, reply, session.cookie, app.services.sessions.maxAgeSeconds);
    reply.header('cache-control', 'no-store');
    return me;
  });

  app.post('/api/v1/auth/logout', {
    schema: {
      tags,
      summary: 'End the current session and clear its cookie',
      description: 'Needs `X-CSRF-Token` with the cookie. With a bearer token this does nothing (revoke the token instead).',
      response: { 204: Type.Null(), ...errorResponses(403) },
    },
  }, async (req, reply) => {
    await svc.logout(actorOf(req));
    setSessionCookie(req, reply, '', 0);
    return reply.status(204).send(null);
  });

  app.get('/api/v1/auth/me', {
    schema: {
      tags,
      summary: 'The caller: user, tenants and roles, and the CSRF token of the session',
      response: { 200: MeResponse, ...errorResponses() },
    },
  }, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    return svc.me(actorOf(req));
  });

  app.post('/api/v1/auth/password', {
    schema: {
      tags,
      summary: 'Change your password; ends your other sessions',
      description: 'Signed-in users only. A wrong `currentPassword` answers 400 naming that field; repeated failures are rate limited.',
      body: ChangePasswordBody,
      response: {
        200: Type.Object({ sessionsRevoked: Type.Integer({ description: 'Other sessions of yours that were ended' }) }, { examples: [{ sessionsRevoked: 2 }] }),
        ...errorResponses(403, 429),
      },
    },
  }, async (req) => svc.changePassword(actorOf(req), req.body));
}
