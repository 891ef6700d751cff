import { Type } from 'typebox';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses, Slug, TenantParams, UuidInput } from '../../lib/schemas.js';
import { CreatedTokenResponse, CreatePlatformTokenBody, CreateTokenBody, TokenList } from './tokens.schemas.js';

const TokenParams = Type.Object({ tenant: Slug('Tenant slug'), tokenId: UuidInput('API token id') }, { additionalProperties: false });
const PlatformTokenParams = Type.Object({ tokenId: UuidInput('Platform token id') }, { additionalProperties: false });

export async function tokensRoutes(app: App): Promise<void> {
  const svc = app.services.tokens;
  const tags = ['api tokens'];

  app.post('/api/v1/tenants/:tenant/tokens', {
    schema: {
      tags,
      summary: 'Create an API token (tenant admin); the secret is returned once',
      description: 'The role cannot exceed the caller’s own role in the tenant. Only SHA-256 of the token is stored.',
      params: TenantParams,
      body: CreateTokenBody,
      response: { 201: CreatedTokenResponse, ...errorResponses(403, 404) },
    },
  }, async (req, reply) => reply.status(201).send(await svc.create(actorOf(req), req.params.tenant, req.body)));

  app.get('/api/v1/tenants/:tenant/tokens', {
    schema: { tags, summary: 'List API tokens (never their secrets)', params: TenantParams, response: { 200: TokenList, ...errorResponses(403, 404) } },
  }, async (req) => ({ items: await svc.list(actorOf(req), req.params.tenant) }));

  app.delete('/api/v1/tenants/:tenant/tokens/:tokenId', {
    schema: { tags, summary: 'Revoke an API token; it stops working immediately (not above your own role)', params: TokenParams, response: { 204: Type.Null(), ...errorResponses(403, 404) } },
  }, async (req, reply) => {
    await svc.revoke(actorOf(req), req.params.tenant, req.params.tokenId);
    return reply.status(204).send(null);
  });

  app.post('/api/v1/platform/tokens', {
    schema: {
      tags,
      summary: 'Create a platform token for automation (platform admin); the secret is returned once',
      description: 'A platform token acts as a platform admin: give it to provisioning automation, not to tenants.',
      body: CreatePlatformTokenBody,
      response: { 201: CreatedTokenResponse, ...errorResponses(403) },
    },
  }, async (req, reply) => reply.status(201).send(await svc.createPlatform(actorOf(req), req.body)));

  app.get('/api/v1/platform/tokens', {
    schema: { tags, summary: 'List platform tokens (platform admin)', response: { 200: TokenList, ...errorResponses(403) } },
  }, async (req) => ({ items: await svc.listPlatform(actorOf(req)) }));

  app.delete('/api/v1/platform/tokens/:tokenId', {
    schema: { tags, summary: 'Revoke a platform token; it stops working immediately (platform admin)', params: PlatformTokenParams, response: { 204: Type.Null(), ...errorResponses(403, 404) } },
  }, async (req, reply) => {
    await svc.revokePlatform(actorOf(req), req.params.tokenId);
    return reply.status(204).send(null);
  });
}
