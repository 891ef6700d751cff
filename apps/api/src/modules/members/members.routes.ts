import { Type } from 'typebox';
import type { App } from '../../app.js';
import { errorResponses, TenantParams } from '../../lib/schemas.js';
import { actorOf } from '../../plugins/auth.js';
import { AddMemberBody, MemberList, MemberParams, MemberResponse, UpdateMemberBody } from './members.schemas.js';

export async function membersRoutes(app: App): Promise<void> {
  const svc = app.services.members;
  const tags = ['members'];

  app.get('/api/v1/tenants/:tenant/members', {
    schema: { tags, summary: 'List the tenant’s members and their roles', params: TenantParams, response: { 200: MemberList, ...errorResponses(404) } },
  }, async (req) => ({ items: await svc.list(actorOf(req), req.params.tenant) }));

  app.post('/api/v1/tenants/:tenant/members', {
    schema: {
      tags,
      summary: 'Add an existing user to the tenant (tenant admin; owners only grant owner)',
      params: TenantParams,
      body: AddMemberBody,
      response: { 201: MemberResponse, ...errorResponses(403, 404, 409) },
    },
  }, async (req, reply) => reply.status(201).send(await svc.add(actorOf(req), req.params.tenant, req.body)));

  app.patch('/api/v1/tenants/:tenant/members/:userId', {
    schema: {
      tags,
      summary: 'Change a member’s role (tenant admin; only owners change owners)',
      description: 'Demoting the last owner is refused with SY_LAST_OWNER.',
      params: MemberParams,
      body: UpdateMemberBody,
      response: { 200: MemberResponse, ...errorResponses(403, 404, 409) },
    },
  }, async (req) => svc.update(actorOf(req), req.params.tenant, req.params.userId, req.body));

  app.delete('/api/v1/tenants/:tenant/members/:userId', {
    schema: {
      tags,
      summary: 'Remove a member (tenant admin), or leave the tenant yourself',
      description: 'Removing the last owner is refused with SY_LAST_OWNER. The user’s sessions lose the tenant at once.',
      params: MemberParams,
      response: { 204: Type.Null(), ...errorResponses(403, 404, 409) },
    },
  }, async (req, reply) => {
    await svc.remove(actorOf(req), req.params.tenant, req.params.userId);
    return reply.status(204).send(null);
  });
}
