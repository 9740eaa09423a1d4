import { describe, expect, it } from 'vitest';
import { roleDecider } from '../commands/role.ts';
import { tenantDecider } from '../commands/tenant.ts';
import type { RoleEvent } from '../events/role.ts';
import type { TenantEvent } from '../events/tenant.ts';
import { updateRoleClaimsBody } from '../src/http/tenant-settings.ts';
import { grantedScope } from '../src/oidc/provider.ts';
import { permittedScopes, roleClaims, type SubjectRoles } from '../src/oidc/roles.ts';
import { specFor } from './support/given-when-then.ts';

const role = specFor(roleDecider);
const tenant = specFor(tenantDecider);

const read = { api_id: 'api_1', scope: 'invoices:read' };
const write = { api_id: 'api_1', scope: 'invoices:write' };
const settings = { name: 'Accountant', description: 'Keeps the books', permissions: [read] };
const created = { type: 'role.created', data: { role_id: 'rol_1', ...settings } } satisfies RoleEvent;
const create = { type: 'create_role' as const, role_id: 'rol_1', settings };
const tenantLevel = (sub: string) => ({ sub, organization_id: null });
const assigned = (sub: string) =>
  ({ type: 'role.assigned', data: { role_id: 'rol_1', ...tenantLevel(sub) } }) satisfies RoleEvent;

describe('role decider', () => {
  it('creates a role once, its permissions without duplicates; the same create again decides nothing', () => {
    role([])
      .when({ ...create, settings: { ...settings, permissions: [read, read] } })
      .thenEmits([created]);
    role([created]).when(create).thenEmits([]);
    role([created])
      .when({ ...create, role_id: 'rol_2' })
      .thenThrows('role_exists');
  });

  it('records only what an update changes, with the previous values', () => {
    role([created])
      .when({ type: 'update_role', changes: { name: 'Accountant', permissions: [read, write] } })
      .thenEmits([
        {
          type: 'role.updated',
          data: { role_id: 'rol_1', changes: { permissions: [read, write] }, previous: { permissions: [read] } },
        },
      ]);
    role([created])
      .when({ type: 'update_role', changes: { description: 'Keeps the books', permissions: [read, read] } })
      .thenEmits([]);
  });

  it('assigns a role once per holder and takes it back; taking what is not held is 404', () => {
    role([created])
      .when({ type: 'assign_role', assignment: tenantLevel('sub_a') })
      .thenEmits([assigned('sub_a')]);
    role([created, assigned('sub_a')])
      .when({ type: 'assign_role', assignment: tenantLevel('sub_a') })
      .thenEmits([]);
    // The same sub in an organization is another assignment.
    role([created, assigned('sub_a')])
      .when({ type: 'assign_role', assignment: { sub: 'sub_a', organization_id: 'org_1' } })
      .thenEmits([{ type: 'role.assigned', data: { role_id: 'rol_1', sub: 'sub_a', organization_id: 'org_1' } }]);
    role([created, assigned('sub_a')])
      .when({ type: 'unassign_role', assignment: tenantLevel('sub_a') })
      .thenEmits([
        {
          type: 'role.unassigned',
          data: { role_id: 'rol_1', sub: 'sub_a', organization_id: null, reason: 'unassigned' },
        },
      ]);
    role([created])
      .when({ type: 'unassign_role', assignment: tenantLevel('sub_a') })
      .thenThrows('not_found');
  });

  it('deletes a role with every assignment in one decision; a deleted role takes no command', () => {
    const unassigned = {
      type: 'role.unassigned',
      data: { role_id: 'rol_1', sub: 'sub_b', organization_id: null, reason: 'unassigned' },
    } satisfies RoleEvent;
    role([created, assigned('sub_a'), assigned('sub_b'), unassigned, assigned('sub_c')])
      .when({ type: 'delete_role' })
      .thenEmits([
        {
          type: 'role.unassigned',
          data: { role_id: 'rol_1', sub: 'sub_a', organization_id: null, reason: 'role_deleted' },
        },
        {
          type: 'role.unassigned',
          data: { role_id: 'rol_1', sub: 'sub_c', organization_id: null, reason: 'role_deleted' },
        },
        { type: 'role.deleted', data: { role_id: 'rol_1', name: 'Accountant' } },
      ]);
    const deleted = { type: 'role.deleted', data: { role_id: 'rol_1', name: 'Accountant' } } satisfies RoleEvent;
    role([created, deleted])
      .when({ type: 'assign_role', assignment: tenantLevel('sub_a') })
      .thenThrows('not_found');
    role([created, deleted]).when({ type: 'delete_role' }).thenThrows('not_found');
    role([])
      .when({ type: 'update_role', changes: { name: 'x' } })
      .thenThrows('not_found');
  });
});

describe('role claims', () => {
  const tenantCreated = {
    type: 'tenant.created',
    data: { tenant_id: 'ten_1', slug: 'acme', name: 'Acme' },
  } satisfies TenantEvent;

  it('records a change of the role claims as the whole new setting, and nothing when it is the same', () => {
    tenant([tenantCreated])
      .when({ type: 'set_role_claims', claims: { roles_claim: 'https://acme.example/roles' } })
      .thenEmits([
        {
          type: 'tenant.role_claims.changed',
          data: {
            roles_claim: 'https://acme.example/roles',
            permissions_claim: 'permissions',
            enforce_permissions: false,
          },
        },
      ]);
    tenant([tenantCreated])
      .when({ type: 'set_role_claims', claims: { roles_claim: 'roles', enforce_permissions: false } })
      .thenEmits([]);
    // Two claims of one name: refused, whichever side names it.
    tenant([tenantCreated])
      .when({ type: 'set_role_claims', claims: { roles_claim: 'permissions' } })
      .thenThrows('invalid_request');
    tenant([tenantCreated])
      .when({ type: 'set_role_claims', claims: { roles_claim: null, permissions_claim: 'roles' } })
      .thenEmits([
        {
          type: 'tenant.role_claims.changed',
          data: { roles_claim: null, permissions_claim: 'roles', enforce_permissions: false },
        },
      ]);
  });

  it('refuses claim names that JWT or OpenID Connect already mean something by', () => {
    for (const name of ['sub', 'scope', 'aud', 'client_id', 'email', 'has space', '', 'a'.repeat(201)]) {
      expect(updateRoleClaimsBody.safeParse({ roles_claim: name }).success, name).toBe(false);
    }
    expect(
      updateRoleClaimsBody.safeParse({ roles_claim: null, permissions_claim: 'https://x.example/perms' }).success,
    ).toBe(true);
  });

  const server = {
    apiId: 'api_1',
    identifier: 'https://billing.example.com/api',
    scopes: new Set(['invoices:read', 'invoices:write', 'payments:refund']),
    granted: new Set(['invoices:read', 'invoices:write', 'payments:refund']),
    accessTokenTtlSeconds: 3600,
  };
  const held: SubjectRoles = {
    claims: { roles_claim: 'roles', permissions_claim: 'permissions', enforce_permissions: true },
    roles: [
      {
        name: 'Accountant',
        permissions: [read, { api_id: 'api_2', scope: 'payments:refund' }, { api_id: 'api_1', scope: 'gone' }],
      },
      { name: 'Clerk', permissions: [read] },
    ],
  };

  it("puts the roles and the permissions on this API (that it still defines) under the tenant's names", () => {
    expect([...permittedScopes(held, server)]).toEqual(['invoices:read']);
    expect(roleClaims(held, server)).toEqual({ roles: ['Accountant', 'Clerk'], permissions: ['invoices:read'] });
    expect(
      roleClaims({ ...held, claims: { ...held.claims, roles_claim: null, permissions_claim: 'p' } }, server),
    ).toEqual({
      p: ['invoices:read'],
    });
  });

  it("limits a scope to the roles' permissions when asked to", () => {
    const asked = 'invoices:write invoices:read payments:refund';
    expect(grantedScope(asked, server)).toBe(asked);
    expect(grantedScope(asked, server, permittedScopes(held, server))).toBe('invoices:read');
    expect(grantedScope(asked, server, new Set())).toBe('');
  });
});
