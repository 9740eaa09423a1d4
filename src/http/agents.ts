import { type Response, Router } from 'express';
import { z } from 'zod';
import { type AgentAnchorRow, findAgentAnchor, listAgentAnchors } from '../../read-models/agent-anchors.ts';
import { type AgentKeyRow, findAgentKey, listAgentKeys } from '../../read-models/agent-keys.ts';
import { type AgentRow, findAgent, listAgents } from '../../read-models/agents.ts';
import { findTenant, findTenantBySlug } from '../../read-models/tenants.ts';
import {
  addAgentAnchor,
  agentAnchorChallenge,
  revokeAgentAnchor,
  verifyAgentAnchor,
} from '../../services/agent-anchors.ts';
import {
  agentKeyChallenge,
  createAgent,
  deleteAgent,
  deprecateAgentKey,
  reactivateAgent,
  registerAgentKey,
  revokeAgentKey,
  suspendAgent,
  updateAgent,
} from '../../services/agents.ts';
import { agentCard, agentDid, didDocument } from '../agents/documents.ts';
import { agentJwkInput, refusePrivateJwk } from '../agents/keys.ts';
import { auditRecord, readActivity } from '../audit.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema, textSchema } from '../text.ts';
import { identifierSchema, scopeValueSchema } from './apis.ts';
import { decodeCursor, encodeCursor } from './audit-logs.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

/** The most APIs one agent has allowed scopes on, and the most scopes per API. */
export const MAX_AGENT_APIS = 50;
export const MAX_AGENT_SCOPES = 100;
/** The longest a delegated token may ever live (a day): a delegation limit above it is refused. */
export const MAX_DELEGATION_LIFETIME_SECONDS = 86_400;

const ownerField = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('user'),
    id: z.string().refine((value) => isId('sub', value), 'a user’s sub, sub_…'),
  }),
  z.strictObject({
    type: z.literal('organization'),
    id: z.string().refine((value) => isId('org', value), 'an organization id, org_…'),
  }),
]);

const allowedScopesField = z
  .array(
    z.strictObject({
      api_id: z.string().refine((value) => isId('api', value), 'an API id, api_…'),
      scopes: z.array(scopeValueSchema).max(MAX_AGENT_SCOPES),
    }),
  )
  .max(MAX_AGENT_APIS);

const delegationField = z.strictObject({
  scopes: z.array(scopeValueSchema).max(MAX_AGENT_SCOPES).optional(),
  max_lifetime_seconds: z.int().min(1).max(MAX_DELEGATION_LIFETIME_SECONDS).optional(),
  audiences: z.array(identifierSchema).max(MAX_AGENT_APIS).optional(),
  max_chain_depth: z.int().min(1).max(5).optional(),
});

const agentCardField = z.strictObject({
  enabled: z.boolean(),
  url: lineSchema
    .max(2000)
    .refine((value) => URL.canParse(value) && new URL(value).protocol === 'https:', 'an https URL')
    .nullable()
    .optional(),
});

const settingsFields = {
  name: lineSchema.trim().min(1).max(100),
  description: textSchema.max(1000),
  owner: ownerField,
  allowed_scopes: allowedScopesField,
  delegation: delegationField,
  agent_card: agentCardField,
};

export const createAgentBody = z.strictObject({
  name: settingsFields.name,
  description: settingsFields.description.optional(),
  owner: settingsFields.owner,
  allowed_scopes: settingsFields.allowed_scopes.optional(),
  delegation: settingsFields.delegation.optional(),
  agent_card: settingsFields.agent_card.optional(),
});

export const updateAgentBody = z
  .strictObject({
    name: settingsFields.name.optional(),
    description: settingsFields.description.optional(),
    owner: settingsFields.owner.optional(),
    allowed_scopes: settingsFields.allowed_scopes.optional(),
    delegation: settingsFields.delegation.optional(),
    agent_card: settingsFields.agent_card.optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

export const suspendAgentBody = z
  .strictObject({
    reason: lineSchema.max(500).optional(),
    revoke_keys: z.boolean().optional(),
    /** Deprecates every active key instead (it signs no new assertion; its signatures still verify). */
    deprecate_keys: z.boolean().optional(),
    revoke_anchors: z.boolean().optional(),
    /** Revokes every delegation to the agent in the same append (docs/delegation.md). */
    revoke_delegations: z.boolean().optional(),
  })
  .refine((body) => !(body.revoke_keys && body.deprecate_keys), {
    path: ['deprecate_keys'],
    message: 'Ask for revoke_keys or deprecate_keys, not both.',
  });

/** An anchor to add: its kind and what it anchors (checked further by the kind's parser). */
export const addAgentAnchorBody = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('did_key'), did: lineSchema.max(256) }),
  z.strictObject({ kind: z.literal('did_web'), did: lineSchema.max(512) }),
  z.strictObject({
    kind: z.literal('erc8004'),
    chain_id: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
    registry: lineSchema.max(42),
    agent_id: z.string().regex(/^(0|[1-9]\d{0,77})$/, 'a uint256 in decimal'),
  }),
  z.strictObject({
    kind: z.literal('client_credentials'),
    kid: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "one of the agent's keys, by its RFC 7638 thumbprint"),
  }),
]);

/** A verification: the challenge's nonce and the proof over it (a JWS, or for erc8004 `{scheme, signature}`). */
export const verifyAgentAnchorBody = z.strictObject({
  challenge: z.string().max(100),
  proof: z.union([
    z.string().max(4000),
    z.strictObject({ scheme: z.enum(['eip191', 'eip712']), signature: z.string().max(200) }),
  ]),
});

/** A page of an agent's activity: oldest first by default (the story in order). */
export const activityQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  order: z.enum(['asc', 'desc']).default('asc'),
  starting_after: z.string().max(100).optional(),
});

/** A key registration: the public JWK, the challenge's nonce, and a compact JWS over it made with the key. */
export const registerAgentKeyBody = z.strictObject({
  jwk: z.record(z.string(), z.unknown()),
  challenge: z.string().max(100),
  proof: z.string().max(4000),
});

function anchorJson(row: AgentAnchorRow) {
  return {
    object: 'agent_anchor',
    id: row.anchor_id,
    agent_id: row.agent_id,
    kind: row.kind,
    anchor: row.description,
    value: row.value,
    status: row.status,
    evidence: row.evidence,
    verified_at: row.verified_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    revocation_reason: row.revocation_reason,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** A kid as SigID makes them: an RFC 7638 SHA-256 thumbprint, 43 base64url characters. */
const KID = /^[A-Za-z0-9_-]{43}$/;

function agentJson(row: AgentRow, did: string) {
  return {
    id: row.agent_id,
    object: 'agent',
    name: row.name,
    description: row.description,
    owner: { type: row.owner_type, id: row.owner_id },
    status: row.status,
    allowed_scopes: row.allowed_scopes,
    delegation: row.delegation,
    agent_card: row.agent_card,
    client_id: row.agent_id,
    did,
    revision: Number(row.revision),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function keyJson(row: AgentKeyRow) {
  return {
    object: 'agent_key',
    kid: row.kid,
    agent_id: row.agent_id,
    status: row.status,
    jwk: row.jwk,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * `/api/v1/agents`: a tenant's agents (software principals with a stable id, an owner, allowed
 * scopes per API, delegation limits and a status) and their public keys (`/{id}/keys`, registered
 * with a proof of possession over a challenge from `/{id}/challenges`), its identity anchors
 * (`/{id}/anchors`, each verified by challenge-response), and its activity (`/{id}/activity`, its
 * audit log). Every change is an event on the agent's stream, so in the audit log and the webhooks.
 */
export function agentsRouter(sigid: Sigid): Router {
  const router = Router();

  async function loadAgent(response: Response, id: string) {
    const row = isId('agt', id) ? await findAgent(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The agent');
    return row;
  }

  async function didOf(response: Response, agentId: string) {
    const tenant = await findTenant(sigid.readModels, tenantOf(response));
    return agentDid(sigid.config.publicUrl, String(tenant?.slug), agentId);
  }

  async function respondWithAgent(response: Response, agentId: string, status = 200) {
    const row = await loadAgent(response, agentId);
    response
      .status(status)
      .set('ETag', etag(Number(row.revision)))
      .json(agentJson(row, await didOf(response, row.agent_id)));
  }

  async function loadKey(response: Response, agent: AgentRow, kid: string) {
    const row = KID.test(kid)
      ? await findAgentKey(sigid.readModels, tenantOf(response), agent.agent_id, kid)
      : undefined;
    if (!row) throw new NotFoundError('The key');
    return row;
  }

  async function loadAnchor(response: Response, agent: AgentRow, anchorId: string) {
    const row = isId('anc', anchorId)
      ? await findAgentAnchor(sigid.readModels, tenantOf(response), agent.agent_id, anchorId)
      : undefined;
    if (!row) throw new NotFoundError('The anchor');
    return row;
  }

  router.post('/', async (request, response) => {
    const body = parseBody(createAgentBody, request);
    const { agentId, written } = await createAgent(sigid, body, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.location(`/api/v1/agents/${agentId}`);
    await respondWithAgent(response, agentId, 201);
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const rows = await listAgents(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    const tenant = await findTenant(sigid.readModels, tenantOf(response));
    response.json(
      page(
        rows,
        query.limit,
        (row) => row.agent_id,
        (row) => agentJson(row, agentDid(sigid.config.publicUrl, String(tenant?.slug), row.agent_id)),
      ),
    );
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    await respondWithAgent(response, (await loadAgent(response, request.params.id)).agent_id);
  });

  router.patch('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateAgentBody, request);
    const row = await loadAgent(response, request.params.id);
    const written = await updateAgent(sigid, row, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await respondWithAgent(response, row.agent_id);
  });

  router.delete('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadAgent(response, request.params.id);
    const written = await deleteAgent(sigid, row, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  router.post('/:id/suspend', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(suspendAgentBody, request);
    const row = await loadAgent(response, request.params.id);
    const written = await suspendAgent(
      sigid,
      row,
      {
        reason: body.reason ?? '',
        revokeKeys: body.revoke_keys ?? false,
        deprecateKeys: body.deprecate_keys ?? false,
        revokeAnchors: body.revoke_anchors ?? false,
        revokeDelegations: body.revoke_delegations ?? false,
      },
      { ...useCaseOf(request, response), ifMatch },
    );
    await consistent(sigid, request, written);
    await respondWithAgent(response, row.agent_id);
  });

  router.post('/:id/reactivate', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadAgent(response, request.params.id);
    const written = await reactivateAgent(sigid, row, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await respondWithAgent(response, row.agent_id);
  });

  router.post('/:id/challenges', async (request, response) => {
    const row = await loadAgent(response, request.params.id);
    const challenge = await agentKeyChallenge(sigid, row, useCaseOf(request, response));
    response.status(201).json({
      object: 'challenge',
      id: challenge.challenge_id,
      agent_id: row.agent_id,
      purpose: challenge.purpose,
      nonce: challenge.nonce,
      expires_at: challenge.expires_at.toISOString(),
    });
  });

  router.get('/:id/keys', async (request, response) => {
    parseQuery(noQuery, request);
    const agent = await loadAgent(response, request.params.id);
    const rows = await listAgentKeys(sigid.readModels, tenantOf(response), agent.agent_id);
    response.json({ object: 'list', data: rows.map(keyJson), has_more: false, next_cursor: null });
  });

  router.post('/:id/keys', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(registerAgentKeyBody, request);
    refusePrivateJwk(body.jwk);
    const parsed = agentJwkInput.safeParse(body.jwk);
    if (!parsed.success) {
      throw new ValidationError(
        'The request body is not valid.',
        parsed.error.issues.map((issue) => ({ ...issue, path: ['jwk', ...issue.path] })),
      );
    }
    const jwk = parsed.data;
    const agent = await loadAgent(response, request.params.id);
    const { kid, written } = await registerAgentKey(
      sigid,
      agent,
      { jwk, challenge: body.challenge, proof: body.proof },
      { ...useCaseOf(request, response), ifMatch },
    );
    await consistent(sigid, request, written);
    response.location(`/api/v1/agents/${agent.agent_id}/keys/${kid}`);
    response.status(201).json(keyJson(await loadKey(response, agent, kid)));
  });

  router.get('/:id/keys/:kid', async (request, response) => {
    parseQuery(noQuery, request);
    const agent = await loadAgent(response, request.params.id);
    response.json(keyJson(await loadKey(response, agent, request.params.kid)));
  });

  router.post('/:id/keys/:kid/deprecate', async (request, response) => {
    const agent = await loadAgent(response, request.params.id);
    const key = await loadKey(response, agent, request.params.kid);
    const written = await deprecateAgentKey(sigid, agent, key.kid, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.json(keyJson(await loadKey(response, agent, key.kid)));
  });

  router.post('/:id/keys/:kid/revoke', async (request, response) => {
    const agent = await loadAgent(response, request.params.id);
    const key = await loadKey(response, agent, request.params.kid);
    const written = await revokeAgentKey(sigid, agent, key.kid, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  router.get('/:id/anchors', async (request, response) => {
    parseQuery(noQuery, request);
    const agent = await loadAgent(response, request.params.id);
    const rows = await listAgentAnchors(sigid.readModels, tenantOf(response), agent.agent_id);
    response.json({ object: 'list', data: rows.map(anchorJson), has_more: false, next_cursor: null });
  });

  router.post('/:id/anchors', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(addAgentAnchorBody, request);
    const agent = await loadAgent(response, request.params.id);
    const { anchorId, written } = await addAgentAnchor(sigid, agent, body, {
      ...useCaseOf(request, response),
      ifMatch,
    });
    await consistent(sigid, request, written);
    response.location(`/api/v1/agents/${agent.agent_id}/anchors/${anchorId}`);
    response.status(201).json(anchorJson(await loadAnchor(response, agent, anchorId)));
  });

  router.get('/:id/anchors/:anchor_id', async (request, response) => {
    parseQuery(noQuery, request);
    const agent = await loadAgent(response, request.params.id);
    response.json(anchorJson(await loadAnchor(response, agent, request.params.anchor_id)));
  });

  router.post('/:id/anchors/:anchor_id/challenges', async (request, response) => {
    const agent = await loadAgent(response, request.params.id);
    const anchor = await loadAnchor(response, agent, request.params.anchor_id);
    const challenge = await agentAnchorChallenge(sigid, agent, anchor, useCaseOf(request, response));
    response.status(201).json({
      object: 'challenge',
      id: challenge.challenge_id,
      agent_id: agent.agent_id,
      anchor_id: anchor.anchor_id,
      purpose: challenge.purpose,
      nonce: challenge.nonce,
      expires_at: challenge.expires_at.toISOString(),
    });
  });

  router.post('/:id/anchors/:anchor_id/verify', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(verifyAgentAnchorBody, request);
    const agent = await loadAgent(response, request.params.id);
    const anchor = await loadAnchor(response, agent, request.params.anchor_id);
    const written = await verifyAgentAnchor(sigid, agent, anchor, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    response.json(anchorJson(await loadAnchor(response, agent, anchor.anchor_id)));
  });

  router.post('/:id/anchors/:anchor_id/revoke', async (request, response) => {
    const agent = await loadAgent(response, request.params.id);
    const anchor = await loadAnchor(response, agent, request.params.anchor_id);
    const written = await revokeAgentAnchor(sigid, agent, anchor.anchor_id, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.json(anchorJson(await loadAnchor(response, agent, anchor.anchor_id)));
  });

  router.get('/:id/activity', async (request, response) => {
    const query = parseQuery(activityQuery, request);
    const agent = await loadAgent(response, request.params.id);
    const { events, more } = await readActivity(sigid.log, tenantOf(response), agent.agent_id, {
      order: query.order,
      after: query.starting_after === undefined ? undefined : decodeCursor(query.starting_after),
      limit: query.limit,
    });
    const last = events[events.length - 1];
    response.json({
      object: 'list',
      data: events.map(auditRecord),
      has_more: more,
      next_cursor: last && more ? encodeCursor(last.position) : null,
    });
  });

  return router;
}

/**
 * `/t/{slug}/agents/{id}/did.json` and `/agent-card.json`, open to anyone: an agent's did:web DID
 * document (its keys not revoked; a revoked key is gone from the next read) and, for an agent opted
 * in, its signed agent card. A deleted agent, another tenant's id or an unknown one is 404. Nothing
 * is cached (`Cache-Control: no-store`), so a revocation is seen at once.
 */
export function agentDocumentsRouter(sigid: Sigid): Router {
  const router = Router({ mergeParams: true });

  async function load(slug: string, id: string) {
    const tenant = await findTenantBySlug(sigid.readModels, slug);
    const agent =
      tenant?.status === 'active' && isId('agt', id)
        ? await findAgent(sigid.readModels, tenant.tenant_id, id)
        : undefined;
    if (!tenant || !agent) throw new NotFoundError('The agent');
    return { tenant: { id: tenant.tenant_id, slug: tenant.slug }, agent };
  }

  router.get('/:id/did.json', async (request, response) => {
    parseQuery(noQuery, request);
    const { slug } = request.params as { slug: string; id: string };
    const { tenant, agent } = await load(slug, request.params.id);
    const keys = await listAgentKeys(sigid.readModels, tenant.id, agent.agent_id);
    const did = agentDid(sigid.config.publicUrl, tenant.slug, agent.agent_id);
    response
      .set('Cache-Control', 'no-store')
      .type('application/did+json')
      .send(JSON.stringify(didDocument(did, keys)));
  });

  router.get('/:id/agent-card.json', async (request, response) => {
    parseQuery(noQuery, request);
    const { slug } = request.params as { slug: string; id: string };
    const { tenant, agent } = await load(slug, request.params.id);
    if (!agent.agent_card.enabled) throw new NotFoundError('The agent card');
    response.set('Cache-Control', 'no-store').json(await agentCard(sigid, tenant, agent));
  });

  return router;
}
