import { describe, expect, it } from 'vitest';
import { organizationDecider } from '../commands/organization.ts';
import type { OrganizationEvent } from '../events/organization.ts';
import { normaliseDomain } from '../src/organizations/domains.ts';
import { specFor } from './support/given-when-then.ts';

const organization = specFor(organizationDecider);

const settings = { display_name: 'Acme Corp', metadata: { tier: 'gold' } };
const created = {
  type: 'organization.created',
  data: { organization_id: 'org_1', name: 'acme', ...settings },
} satisfies OrganizationEvent;
const create = { type: 'create_organization' as const, organization_id: 'org_1', name: 'acme', settings };
const member = {
  type: 'organization.member.added',
  data: { organization_id: 'org_1', sub: 'sub_1', roles: ['rol_a'] },
} satisfies OrganizationEvent;
const domainAdded = {
  type: 'organization.domain.added',
  data: { organization_id: 'org_1', domain: 'acme.com', record_name: '_sigid-challenge.acme.com', token: 't1' },
} satisfies OrganizationEvent;
const domainVerified = {
  type: 'organization.domain.verified',
  data: { organization_id: 'org_1', domain: 'acme.com' },
} satisfies OrganizationEvent;

describe('organization decider', () => {
  it('creates an organization once; the same create again decides nothing, another is refused', () => {
    organization([]).when(create).thenEmits([created]);
    organization([created]).when(create).thenEmits([]);
    organization([created])
      .when({ ...create, name: 'other' })
      .thenThrows('organization_exists');
  });

  it('records only what an update changes, with the previous values', () => {
    organization([created])
      .when({ type: 'update_organization', changes: { display_name: 'Acme Corp', metadata: { tier: 'platinum' } } })
      .thenEmits([
        {
          type: 'organization.updated',
          data: {
            organization_id: 'org_1',
            changes: { metadata: { tier: 'platinum' } },
            previous: { metadata: { tier: 'gold' } },
          },
        },
      ]);
    organization([created]).when({ type: 'update_organization', changes: settings }).thenEmits([]);
  });

  it('grants member roles: a new member with them, roles added to a member, nothing when all are held', () => {
    organization([created])
      .when({ type: 'grant_member_roles', sub: 'sub_1', roles: ['rol_a', 'rol_a'] })
      .thenEmits([member]);
    organization([created, member])
      .when({ type: 'grant_member_roles', sub: 'sub_1', roles: ['rol_b', 'rol_a'] })
      .thenEmits([
        {
          type: 'organization.member.updated',
          data: { organization_id: 'org_1', sub: 'sub_1', roles: ['rol_a', 'rol_b'], previous_roles: ['rol_a'] },
        },
      ]);
    organization([created, member])
      .when({ type: 'grant_member_roles', sub: 'sub_1', roles: ['rol_a'] })
      .thenEmits([]);
    organization([created, member]).when({ type: 'grant_member_roles', sub: 'sub_1', roles: [] }).thenEmits([]);
    organization([]).when({ type: 'grant_member_roles', sub: 'sub_1', roles: [] }).thenThrows('not_found');
  });

  it('adds a member, replaces its roles, decides nothing for the same roles, removes it', () => {
    organization([created])
      .when({ type: 'set_member', sub: 'sub_1', roles: ['rol_a', 'rol_a'] })
      .thenEmits([member]);
    organization([created, member])
      .when({ type: 'set_member', sub: 'sub_1', roles: ['rol_a', 'rol_b'] })
      .thenEmits([
        {
          type: 'organization.member.updated',
          data: { organization_id: 'org_1', sub: 'sub_1', roles: ['rol_a', 'rol_b'], previous_roles: ['rol_a'] },
        },
      ]);
    organization([created, member])
      .when({ type: 'set_member', sub: 'sub_1', roles: ['rol_a'] })
      .thenEmits([]);
    organization([created, member])
      .when({ type: 'remove_member', sub: 'sub_1' })
      .thenEmits([
        { type: 'organization.member.removed', data: { organization_id: 'org_1', sub: 'sub_1', roles: ['rol_a'] } },
      ]);
    organization([created]).when({ type: 'remove_member', sub: 'sub_1' }).thenThrows('not_found');
  });

  it('adds a pending domain once, verifies it once, removes it saying whether it was verified', () => {
    const add = {
      type: 'add_domain' as const,
      domain: 'acme.com',
      record_name: '_sigid-challenge.acme.com',
      token: 't1',
    };
    organization([created]).when(add).thenEmits([domainAdded]);
    organization([created, domainAdded])
      .when({ ...add, token: 't2' })
      .thenEmits([]);
    organization([created]).when({ type: 'verify_domain', domain: 'acme.com' }).thenThrows('not_found');
    organization([created, domainAdded])
      .when({ type: 'verify_domain', domain: 'acme.com' })
      .thenEmits([domainVerified]);
    organization([created, domainAdded, domainVerified])
      .when({ type: 'verify_domain', domain: 'acme.com' })
      .thenEmits([]);
    organization([created, domainAdded, domainVerified])
      .when({ type: 'remove_domain', domain: 'acme.com' })
      .thenEmits([
        { type: 'organization.domain.removed', data: { organization_id: 'org_1', domain: 'acme.com', verified: true } },
      ]);
    organization([created]).when({ type: 'remove_domain', domain: 'acme.com' }).thenThrows('not_found');
  });

  it('deletes with its members and domains in the same write; a deleted organization takes no command', () => {
    organization([created, member, domainAdded, domainVerified])
      .when({ type: 'delete_organization' })
      .thenEmits([
        { type: 'organization.member.removed', data: { organization_id: 'org_1', sub: 'sub_1', roles: ['rol_a'] } },
        { type: 'organization.domain.removed', data: { organization_id: 'org_1', domain: 'acme.com', verified: true } },
        { type: 'organization.deleted', data: { organization_id: 'org_1', name: 'acme' } },
      ]);
    const deleted = { type: 'organization.deleted', data: { organization_id: 'org_1', name: 'acme' } } as const;
    organization([created, deleted]).when({ type: 'set_member', sub: 'sub_1', roles: [] }).thenThrows('not_found');
    organization([created, deleted]).when({ type: 'delete_organization' }).thenThrows('not_found');
    organization([]).when({ type: 'update_organization', changes: {} }).thenThrows('not_found');
  });
});

describe('organization domains', () => {
  it('normalises to lowercase A-labels without a trailing dot', () => {
    expect(normaliseDomain(' Acme.COM. ')).toEqual({ domain: 'acme.com' });
    expect(normaliseDomain('Bücher.example')).toEqual({ domain: 'xn--bcher-kva.example' });
    expect(normaliseDomain('eu.acme.co.uk')).toEqual({ domain: 'eu.acme.co.uk' });
  });

  it('refuses bare TLDs, public suffixes, IP addresses and what is no host name', () => {
    for (const value of [
      'com',
      'co.uk',
      'com.au',
      '10.0.0.1',
      '::1',
      '[::1]',
      'acme.123',
      'a_b.com',
      'acme.com/x',
      'a@acme.com',
      '',
    ]) {
      expect('refused' in normaliseDomain(value), value).toBe(true);
    }
  });
});
