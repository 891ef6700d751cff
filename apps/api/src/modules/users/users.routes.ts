import { Type } from 'typebox';
import type { App } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import { actorOf } from '../../plugins/auth.js';
import { CreatedUserResponse, CreateUserBody, UpdateUserBody, UserList, UserParams, UserResponse } from './users.schemas.js';

export async function usersRoutes(app: App): Promise<void> {
  const svc = app.services.users;
  const tags = ['users'];

  app.post('/api/v1/users', {
    schema: {
      tags,
      summary: 'Create a user (platform admin)',
      description: 'Without `password` one is generated and returned once as `initialPassword`. Add the user to tenants with `/tenants/{tenant}/members`.',
      body: CreateUserBody,
      response: { 201: CreatedUserResponse, ...errorResponses(403, 409) },
    },
  }, async (req, reply) => reply.status(201).send(await svc.create(actorOf(req), req.body)));

  app.get('/api/v1/users', {
    schema: { tags, summary: 'List users with their tenant roles (platform admin)', response: { 200: UserList, ...errorResponses(403) } },
  }, async (req) => ({ items: await svc.list(actorOf(req)) }));

  app.get('/api/v1/users/:userId', {
    schema: { tags, summary: 'Get a user (platform admin)', params: UserParams, response: { 200: UserResponse, ...errorResponses(403, 404) } },
  }, async (req) => svc.get(actorOf(req), req.params.userId));

  app.patch('/api/v1/users/:userId', {
    schema: {
      tags,
      summary: 'Rename, change address or platform-admin role, disable/enable, or reset the password (platform admin)',
      description: 'Disabling or resetting the password ends every session of the user at once. Disabling the last owner of a tenant is refused (SY_LAST_OWNER).',
      params: UserParams,
      body: UpdateUserBody,
      response: { 200: UserResponse, ...errorResponses(403, 404, 409) },
    },
  }, async (req) => svc.update(actorOf(req), req.params.userId, req.body));

  app.delete('/api/v1/users/:userId', {
    schema: {
      tags,
      summary: 'Delete a user with their sessions and memberships (platform admin)',
      description: 'Refused with SY_LAST_OWNER while the user is the last owner of a tenant. API tokens they created keep working until revoked.',
      params: UserParams,
      response: { 204: Type.Null(), ...errorResponses(403, 404, 409) },
    },
  }, async (req, reply) => {
    await svc.delete(actorOf(req), req.params.userId);
    return reply.status(204).send(null);
  });
}
