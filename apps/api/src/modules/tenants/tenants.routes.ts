import { Type } from 'typebox';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { errorResponses, TenantParams } from '../../lib/schemas.js';
import { CreateTenantBody, TenantList, TenantResponse, UpdateTenantBody } from './tenants.schemas.js';

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
    schema: { tags, summary: 'List tenants visible to the caller', response: { 200: TenantList, ...errorResponses() } },
  }, async (req) => ({ items: await svc.list(actorOf(req)) }));

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
