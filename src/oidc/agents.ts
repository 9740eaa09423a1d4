import { listAgentAnchors } from '../../read-models/agent-anchors.ts';
import { listAgentKeys } from '../../read-models/agent-keys.ts';
import { findAgent } from '../../read-models/agents.ts';
import { findApiByIdentifier } from '../../read-models/apis.ts';
import type { AnchorStanding } from '../agents/anchors/index.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import type { ResourceServer } from './apis.ts';
import { TOKEN_EXCHANGE } from './token-exchange.ts';

/**
 * Agents as the tenant issuers' clients (an agent acting as itself, RFC 7523 client authentication).
 * What it enforces:
 * - an agent is a client whose `client_id` is its id, with only the `client_credentials` grant and
 *   only `private_key_jwt`, its `jwks` its ACTIVE keys (a deprecated key signs no new assertion);
 * - a suspended or deleted agent, one with no active key, or one with no verified, unrevoked anchor
 *   (an unverified or revoked anchor grants nothing) is no client at all (`invalid_client`);
 * - read from the read model on every request (one query; the keys again only when the agent's
 *   revision moved), never from a cache with a bound: once the API answered a revocation or a
 *   suspension (read your writes), the next token request is refused, in every process;
 * - a token for an API carries only the requested scopes the API defines and the agent is allowed
 *   on it (then the tenant's policies, with principal `Agent::"<id>"` and its verified anchors in
 *   the context: `anchor_kinds`, `anchor_verified_age_seconds`).
 */
export const isAgentClient = (clientId: string): boolean => isId('agt', clientId);

interface Known {
  revision: number;
  metadata: Record<string, unknown> | undefined;
}

export class AgentClients {
  readonly #sigid: Pick<Sigid, 'readModels'>;
  /** The metadata last made per agent, with the revision it was made at: the same object while unchanged. */
  readonly #known = new Map<string, Known>();

  constructor(sigid: Pick<Sigid, 'readModels'>) {
    this.#sigid = sigid;
  }

  /** The agent as oidc-provider client metadata; undefined when it may get no token. */
  async find(tenantId: string, agentId: string): Promise<Record<string, unknown> | undefined> {
    const key = `${tenantId}\u0000${agentId}`;
    const agent = await findAgent(this.#sigid.readModels, tenantId, agentId);
    if (!agent) {
      this.#known.delete(key);
      return undefined;
    }
    const revision = Number(agent.revision);
    const known = this.#known.get(key);
    if (known?.revision === revision) return known.metadata;
    let metadata: Record<string, unknown> | undefined;
    if (agent.status === 'active') {
      const keys = (await listAgentKeys(this.#sigid.readModels, tenantId, agentId)).filter(
        (row) => row.status === 'active',
      );
      const anchored = (await this.anchors(tenantId, agentId)).length > 0;
      if (keys.length > 0 && anchored) {
        metadata = {
          client_id: agentId,
          client_name: agent.name,
          application_type: 'web',
          redirect_uris: [],
          post_logout_redirect_uris: [],
          // Token exchange: acting for a user who delegated to it (src/oidc/token-exchange.ts).
          grant_types: ['client_credentials', TOKEN_EXCHANGE],
          response_types: [],
          token_endpoint_auth_method: 'private_key_jwt',
          id_token_signed_response_alg: 'ES256',
          // An Ed25519 key has no `alg` here: it verifies assertions signed `Ed25519` or `EdDSA`.
          jwks: {
            keys: keys.map(({ jwk }) => {
              const { alg, ...rest } = jwk;
              return jwk.kty === 'EC' ? { ...rest, alg } : rest;
            }),
          },
        };
      }
    }
    // Bounded: one entry per agent that asked lately; the oldest go first.
    if (this.#known.size >= 10_000) this.#known.delete(this.#known.keys().next().value as string);
    this.#known.set(key, { revision, metadata });
    return metadata;
  }

  /** The agent's verified anchors that are not revoked, as policy sees them. */
  async anchors(tenantId: string, agentId: string): Promise<AnchorStanding[]> {
    const rows = await listAgentAnchors(this.#sigid.readModels, tenantId, agentId);
    return rows
      .filter((row) => row.status === 'verified' && row.verified_at !== null)
      .map((row) => ({ kind: row.kind, verifiedAt: row.verified_at }));
  }

  /** The tenant's API whose identifier is `resource`, with the scopes the agent is allowed on it; null for none. */
  async resourceServer(tenantId: string, resource: string, agentId: string): Promise<ResourceServer | null> {
    const api = await findApiByIdentifier(this.#sigid.readModels, tenantId, resource);
    if (!api) return null;
    const agent = await findAgent(this.#sigid.readModels, tenantId, agentId);
    const scopes = new Set(api.scopes.map((scope) => scope.value));
    const allowed = agent?.allowed_scopes.find((entry) => entry.api_id === api.api_id)?.scopes ?? [];
    return {
      apiId: api.api_id,
      identifier: api.identifier,
      scopes,
      granted: new Set(allowed.filter((value) => scopes.has(value))),
      accessTokenTtlSeconds: api.access_token_ttl_seconds,
      anchors: await this.anchors(tenantId, agentId),
    };
  }
}
