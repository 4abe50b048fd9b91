import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePermission } from '@aoetl/auth';
import { InputError, isReservedSchema } from '@aoetl/contracts';
import { scopeViolations } from '@aoetl/secrets';
import type { ConnectionRecord } from '@aoetl/store';
import type { RouteOptions } from '../app.js';
import { LIST_FIELDS, withRequestFields } from '../request-context.js';
import {
  BODY_PROBLEMS,
  ConnectionBody,
  ConnectionPage,
  ConnectionParams,
  ConnectionResponse,
  NoContent,
  PageOnlyQuery,
  problems,
} from '../schemas.js';

/** Named fields only: whatever else a record carries never reaches a response. */
export function connectionView(c: ConnectionRecord) {
  return {
    name: c.name,
    kind: c.kind,
    host: c.host,
    port: c.port,
    database: c.database,
    vaultRole: c.vaultRole,
    allowedSchemas: c.allowedSchemas,
    createdBy: c.createdBy,
    createdAt: c.createdAt,
    updatedBy: c.updatedBy,
    updatedAt: c.updatedAt,
  };
}

export const connectionRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store, tenantScope }) => {
  app.get(
    '/v1/connections',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'listConnections',
        summary: 'List connections',
        tags: ['connections'],
        querystring: PageOnlyQuery,
        response: { 200: ConnectionPage, ...problems() },
      },
    },
    async (request) => {
      const page = await withRequestFields(LIST_FIELDS, () =>
        store.connections.list(request.principal!.tenant, { limit: request.query.limit ?? 20, cursor: request.query.cursor }),
      );
      return { items: page.items.map(connectionView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/connections/:name',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'getConnection',
        summary: 'Get a connection',
        tags: ['connections'],
        params: ConnectionParams,
        response: { 200: ConnectionResponse, ...problems() },
      },
    },
    async (request) => connectionView(await store.connections.get(request.principal!.tenant, request.params.name)),
  );

  app.put(
    '/v1/connections/:name',
    {
      preHandler: requirePermission('admin'),
      bodyLimit: 16 * 1024,
      schema: {
        operationId: 'putConnection',
        summary: 'Register or replace a connection (a Vault reference: no credential is accepted or stored)',
        tags: ['connections'],
        params: ConnectionParams,
        body: ConnectionBody,
        response: { 200: ConnectionResponse, 201: ConnectionResponse, ...problems(...BODY_PROBLEMS) },
      },
    },
    async (request, reply) => {
      const principal = request.principal!;
      const violations = [
        ...scopeViolations(tenantScope, principal.tenant, request.body),
        ...(request.body.allowedSchemas ?? []).flatMap((schema, i) =>
          isReservedSchema(schema) ? [{ field: `body/allowedSchemas/${i}`, message: `schema '${schema}' is reserved and can never be reached` }] : [],
        ),
      ];
      if (violations.length > 0) {
        throw new InputError(violations.map((v) => v.message).join('; '), { details: violations });
      }
      const { connection, created } = await store.connections.put(
        principal.tenant,
        { name: request.params.name, ...request.body, allowedSchemas: request.body.allowedSchemas ?? [] },
        principal.id,
      );
      request.log.info({ connection: connection.name, created }, 'connection registered');
      if (created) reply.code(201).header('location', `/v1/connections/${connection.name}`);
      return connectionView(connection);
    },
  );

  app.delete(
    '/v1/connections/:name',
    {
      preHandler: requirePermission('admin'),
      schema: {
        operationId: 'deleteConnection',
        summary: 'Delete a connection no pipeline uses',
        tags: ['connections'],
        params: ConnectionParams,
        response: { 204: NoContent, ...problems(409) },
      },
    },
    async (request, reply) => {
      await store.connections.delete(request.principal!.tenant, request.params.name);
      request.log.info({ connection: request.params.name }, 'connection deleted');
      return reply.code(204).send();
    },
  );
};
