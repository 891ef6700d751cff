import { Type } from 'typebox';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses, TenantParams } from '../../lib/schemas.js';
import { CreateTenantBody, TENANT_PAGE, TenantResponse, TenantsPage, TenantsQuery, UpdateTenantBody } from './tenants.schemas.js';

export async function tenantsRoutes(app: App): Promise<void> {
  const svc = app.services.tenants;
  const tags = ['tenants'];

  app.post('/api/v1/tenants', {
    schema: {
      tags,
      summary: 'Create a tenant (platform admin)',
      body: CreateTenantBody,
      response: { 201: TenantResponse, ...errorResponses(403, 409) },
    },
  }, async (req, reply) => reply.status(201).send(await svc.create(actorOf(req), req.body)));

  app.get('/api/v1/tenants', {
    schema: {
      tags,
      summary: 'List tenants visible to the caller',
      description:
        'Platform admins see every tenant, others the tenants they belong to, each with its usage. Ordered by slug, keyset-paginated: ' +
        `${TENANT_PAGE.default} per page unless \`limit\` says otherwise (at most ${TENANT_PAGE.maximum}); pass \`nextCursor\` as \`cursor\` for the next page (null: the last). ` +
        '`q` filters by slug or name (a substring, ignoring case).',
      querystring: TenantsQuery,
      response: { 200: TenantsPage, ...errorResponses() },
    },
  }, async (req) => svc.list(actorOf(req), req.query));

  app.get('/api/v1/tenants/:tenant', {
    schema: { tags, summary: 'Get a tenant', params: TenantParams, response: { 200: TenantResponse, ...errorResponses(404) } },
  }, async (req) => svc.get(actorOf(req), req.params.tenant));

  app.patch('/api/v1/tenants/:tenant', {
    schema: {
      tags,
      summary: 'Update a tenant’s name, upstream policy or limits (platform admin)',
      params: TenantParams,
      body: UpdateTenantBody,
      response: { 200: TenantResponse, ...errorResponses(403, 404, 409) },
    },
  }, async (req) => svc.update(actorOf(req), req.params.tenant, req.body));

  app.delete('/api/v1/tenants/:tenant', {
    schema: { tags, summary: 'Delete a tenant and all its databases and routes (platform admin)', params: TenantParams, response: { 204: Type.Null(), ...errorResponses(403, 404) } },
  }, async (req, reply) => {
    await svc.delete(actorOf(req), req.params.tenant);
    return reply.status(204).send(null);
  });
}
