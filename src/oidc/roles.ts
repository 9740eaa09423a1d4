import { LRUCache } from 'lru-cache';
import type { RoleClaims } from '../../commands/tenant.ts';
import type { RolePermission } from '../../events/role.ts';
import { organizationRolesOfSub, rolesOfSub } from '../../read-models/role-assignments.ts';
import { findTenant } from '../../read-models/tenants.ts';
import { roleClaimsOfRow } from '../../services/tenant-settings.ts';
import type { Sigid } from '../sigid.ts';
import type { ResourceServer } from './apis.ts';

/** How long a process keeps what it read of a user's roles and the tenant's role claims: the bound on how late a change reaches tokens. */
export const ROLE_CACHE_MS = 1000;

/** What the issuer needs to put a user's roles in a token: the tenant's claim settings and the roles the user holds. */
export interface SubjectRoles {
  claims: RoleClaims;
  roles: ReadonlyArray<{ name: string; permissions: readonly RolePermission[] }>;
}

/**
 * The issuers' view of roles: a sub's effective roles (read models) with the tenant's role claims,
 * kept for ROLE_CACHE_MS per process per (tenant, sub, organization), so a token request costs no
 * query for them. Without an organization the effective roles are the tenant-level ones; for an
 * organization, those and the sub's roles in that organization (its membership's), each once, by
 * name. A role assigned, unassigned, changed or deleted, or a membership changed, reaches every
 * issuer within that bound.
 */
export class RoleDirectory {
  readonly #sigid: Pick<Sigid, 'readModels'>;
  readonly #known: LRUCache<string, Promise<SubjectRoles>>;

  constructor(sigid: Pick<Sigid, 'readModels'>, ttlMs = ROLE_CACHE_MS) {
    this.#sigid = sigid;
    this.#known = new LRUCache({ max: 10_000, ttl: ttlMs });
  }

  find(tenantId: string, sub: string, organizationId: string | null = null): Promise<SubjectRoles> {
    const key = `${tenantId}\u0000${sub}\u0000${organizationId ?? ''}`;
    let known = this.#known.get(key);
    if (!known) {
      known = this.#read(tenantId, sub, organizationId);
      this.#known.set(key, known);
      known.catch(() => this.#known.delete(key));
    }
    return known;
  }

  async #read(tenantId: string, sub: string, organizationId: string | null): Promise<SubjectRoles> {
    const [tenant, tenantRoles, organizationRoles] = await Promise.all([
      findTenant(this.#sigid.readModels, tenantId),
      rolesOfSub(this.#sigid.readModels, tenantId, sub),
      organizationId === null ? [] : organizationRolesOfSub(this.#sigid.readModels, tenantId, organizationId, sub),
    ]);
    const byId = new Map([...tenantRoles, ...organizationRoles].map((role) => [role.role_id, role]));
    const roles = [...byId.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { claims: roleClaimsOfRow(tenant), roles: roles.map(({ name, permissions }) => ({ name, permissions })) };
  }
}

/** The scopes of `server` the roles grant: their permissions on its API that it still defines. */
export function permittedScopes(held: SubjectRoles, server: ResourceServer): Set<string> {
  const permitted = new Set<string>();
  for (const role of held.roles) {
    for (const permission of role.permissions) {
      if (permission.api_id === server.apiId && server.scopes.has(permission.scope)) permitted.add(permission.scope);
    }
  }
  return permitted;
}

/**
 * The claims a user's access token for `server` carries: the names of the user's roles and the
 * scopes they grant on its API, under the tenant's claim names (a null name: that claim not carried).
 */
export function roleClaims(held: SubjectRoles, server: ResourceServer): Record<string, string[]> {
  const claims: Record<string, string[]> = {};
  if (held.claims.roles_claim !== null) claims[held.claims.roles_claim] = held.roles.map((role) => role.name);
  if (held.claims.permissions_claim !== null) {
    claims[held.claims.permissions_claim] = [...permittedScopes(held, server)].sort();
  }
  return claims;
}
