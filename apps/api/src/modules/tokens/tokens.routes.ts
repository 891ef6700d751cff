import { Type } from 'typebox';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses, Slug, TenantParams } from '../../lib/schemas.js';
import { CreatedTokenResponse, CreateTokenBody, TokenResponse } from './tokens.schemas.js';

const TokenParams = Type.Object({ tenant: Slug('Tenant slug'), tokenId: Type.String({ format: 'uuid' }) }, { additionalProperties: false });

export async function tokensRoutes(app: App): Promise<void> {
  const svc = app.services.tokens;
  const tags = ['api tokens'];

  app.post('/api/v1/tenants/:tenant/tokens', {
    schema: {
      tags,
      summary: 'Create an API token (tenant admin); the secret is returned once',
      params: TenantParams,
      body: CreateTokenBody,
      response: { 201: CreatedTokenResponse, ...errorResponses(403, 404) },
    },
  }, async (req, reply) => reply.status(201).send(await svc.create(actorOf(req), req.params.tenant, req.body)));

  app.get('/api/v1/tenants/:tenant/tokens', {
    schema: { tags, summary: 'List API tokens (never their secrets)', params: TenantParams, response: { 200: Type.Object({ items: Type.Array(TokenResponse) }), ...errorResponses(403, 404) } },
  }, async (req) => ({ items: await svc.list(actorOf(req), req.params.tenant) }));

  app.delete('/api/v1/tenants/:tenant/tokens/:tokenId', {
    schema: { tags, summary: 'Revoke an API token; it stops working immediately', params: TokenParams, response: { 204: Type.Null(), ...errorResponses(403, 404) } },
  }, async (req, reply) => {
    await svc.revoke(actorOf(req), req.params.tenant, req.params.tokenId);
    return reply.status(204).send(null);
  });
}
