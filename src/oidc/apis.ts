import { LRUCache } from 'lru-cache';
import { grantedScopes } from '../../read-models/api-grants.ts';
import { findApiByIdentifier } from '../../read-models/apis.ts';
import type { AnchorStanding } from '../agents/anchors/index.ts';
import type { Sigid } from '../sigid.ts';

/** How long a process keeps what it read of an API and a grant: the bound on how late a change reaches its issuers. */
export const API_CACHE_MS = 1000;

/** What the issuer needs of one API for one client: the API's scopes and lifetime, and the client's grant. */
export interface ResourceServer {
  apiId: string;
  identifier: string;
  /** Every scope value the API defines. */
  scopes: ReadonlySet<string>;
  /** The scopes of the API granted to the client (each one of `scopes`). */
  granted: ReadonlySet<string>;
  accessTokenTtlSeconds: number;
  /** For an agent's own token: its verified, unrevoked anchors (the policy context's `anchor_kinds`…). */
  anchors?: readonly AnchorStanding[];
}

/**
 * The issuers' resource servers: the tenants' APIs and their grants (read models), kept for
 * API_CACHE_MS per process per (tenant, resource, client), so a token request costs no query for
 * them. A scope removed from an API or a grant, or an API deleted, reaches every issuer within that bound.
 */
export class ApiDirectory {
  readonly #sigid: Pick<Sigid, 'readModels'>;
  readonly #known: LRUCache<string, Promise<ResourceServer | null>>;

  constructor(sigid: Pick<Sigid, 'readModels'>, ttlMs = API_CACHE_MS) {
    this.#sigid = sigid;
    this.#known = new LRUCache({ max: 10_000, ttl: ttlMs });
  }

  /** The tenant's API whose identifier is exactly `resource`, with `clientId`'s grant on it; null when there is none. */
  find(tenantId: string, resource: string, clientId: string): Promise<ResourceServer | null> {
    const key = `${tenantId}\u0000${resource}\u0000${clientId}`;
    let known = this.#known.get(key);
    if (!known) {
      known = this.#read(tenantId, resource, clientId);
      this.#known.set(key, known);
      known.catch(() => this.#known.delete(key));
    }
    return known;
  }

  async #read(tenantId: string, resource: string, clientId: string): Promise<ResourceServer | null> {
    const api = await findApiByIdentifier(this.#sigid.readModels, tenantId, resource);
    if (!api) return null;
    const scopes = new Set(api.scopes.map((scope) => scope.value));
    const granted = await grantedScopes(this.#sigid.readModels, tenantId, api.api_id, clientId);
    return {
      apiId: api.api_id,
      identifier: api.identifier,
      scopes,
      granted: new Set(granted.filter((value) => scopes.has(value))),
      accessTokenTtlSeconds: api.access_token_ttl_seconds,
    };
  }
}
