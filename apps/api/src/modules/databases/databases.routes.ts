import { Type } from 'typebox';
import type { App } from '../../app.js';
import { actorOf } from '../../plugins/auth.js';
import { DatabaseParams, errorResponses, TenantParams } from '../../lib/schemas.js';
import { CreateDatabaseBody, DatabaseList, DatabaseResponse, UpdateDatabaseBody } from './databases.schemas.js';

export async function databasesRoutes(app: App): Promise<void> {
  const svc = app.services.databases;
  const tags = ['databases'];

  app.post('/api/v1/tenants/:tenant/databases', {
    schema: {
      tags,
      summary: 'Register a database (tenant admin)',
      description: 'The upstream must fall inside the tenant’s upstream policy; anything else is refused with SY_UPSTREAM_NOT_ALLOWED.',
      params: TenantParams,
      body: CreateDatabaseBody,
      response: { 201: DatabaseResponse, ...errorResponses(403, 404, 409, 422) },
    },
  }, async (req, reply) => reply.status(201).send(await svc.create(actorOf(req), req.params.tenant, req.body)));

  app.get('/api/v1/tenants/:tenant/databases', {
    schema: { tags, summary: 'List the tenant’s databases', params: TenantParams, response: { 200: DatabaseList, ...errorResponses(404) } },
  }, async (req) => ({ items: await svc.list(actorOf(req), req.params.tenant) }));

  app.get('/api/v1/tenants/:tenant/databases/:database', {
    schema: { tags, summary: 'Get a database with its external access', params: DatabaseParams, response: { 200: DatabaseResponse, ...errorResponses(404) } },
  }, async (req) => svc.get(actorOf(req), req.params.tenant, req.params.database));

  app.patch('/api/v1/tenants/:tenant/databases/:database', {
    schema: {
      tags,
      summary: 'Change a database’s upstream (tenant admin)',
      params: DatabaseParams,
      body: UpdateDatabaseBody,
      response: { 200: DatabaseResponse, ...errorResponses(403, 404, 422) },
    },
  }, async (req) => svc.update(actorOf(req), req.params.tenant, req.params.database, req.body));

  app.delete('/api/v1/tenants/:tenant/databases/:database', {
    schema: { tags, summary: 'Delete a database and its route (tenant admin)', params: DatabaseParams, response: { 204: Type.Null(), ...errorResponses(403, 404) } },
  }, async (req, reply) => {
    await svc.delete(actorOf(req), req.params.tenant, req.params.database);
    return reply.status(204).send(null);
  });
}
