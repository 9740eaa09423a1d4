import { afterAll, beforeAll, describe, it } from 'vitest';
import { apiKeysProjection } from '../projections/api-keys.ts';
import { apisProjection } from '../projections/apis.ts';
import { applicationsProjection } from '../projections/applications.ts';
import { invitationsProjection } from '../projections/invitations.ts';
import { organizationsProjection } from '../projections/organizations.ts';
import { policiesProjection } from '../projections/policies.ts';
import { rolesProjection } from '../projections/roles.ts';
import { tenantsProjection } from '../projections/tenants.ts';
import { usersProjection } from '../projections/users.ts';
import { webhookEndpointsProjection } from '../projections/webhook-endpoints.ts';
import { withDefaults } from '../src/applications/client-metadata.ts';
import { type GivenEvent, openProjectionSpecs, SPEC_TENANT, SPEC_TIME } from './support/projection-spec.ts';

let specs: Awaited<ReturnType<typeof openProjectionSpecs>>;
beforeAll(async () => {
  specs = await openProjectionSpecs();
});
afterAll(() => specs?.close());

/** A tenant row's settings columns before any `tenant.branding.changed` or `tenant.mfa_policy.changed`. */
const noSettings = {
  display_name: null,
  logo_uri: null,
  primary_color: null,
  background_color: null,
  mfa_mode: 'optional',
  mfa_required_for_applications: [],
  roles_claim: 'roles',
  permissions_claim: 'permissions',
  enforce_permissions: false,
  dynamic_registration: false,
  client_id_metadata_documents: false,
};

describe('tenants projection', () => {
  const given = (...events: Parameters<ReturnType<typeof specs.specFor>>[0]) =>
    specs.specFor(tenantsProjection)(events);
  const created = { type: 'tenant.created', data: { tenant_id: SPEC_TENANT, slug: 'acme', name: 'Acme' } } as const;

  it('creates a tenant row at revision 0', async () => {
    await given(created).thenRows('tenants', [
      {
        tenant_id: SPEC_TENANT,
        slug: 'acme',
        name: 'Acme',
        status: 'active',
        revision: 0,
        ...noSettings,
        created_at: SPEC_TIME,
        updated_at: SPEC_TIME,
      },
    ]);
  });

  it('renames, suspends, reactivates and deletes, the row at the last revision', async () => {
    await given(
      created,
      { type: 'tenant.renamed', data: { name: 'Acme Inc', previous_name: 'Acme' } },
      { type: 'tenant.suspended', data: { reason: null } },
      { type: 'tenant.reactivated', data: {} },
      { type: 'tenant.renamed', data: { name: 'Acme Corp', previous_name: 'Acme Inc' } },
      { type: 'tenant.deleted', data: {} },
    ).thenRows('tenants', [
      {
        tenant_id: SPEC_TENANT,
        slug: 'acme',
        name: 'Acme Corp',
        status: 'deleted',
        revision: 5,
        ...noSettings,
        created_at: SPEC_TIME,
        updated_at: SPEC_TIME,
      },
    ]);
  });

  it('sets and resets branding fields one event at a time, the others kept', async () => {
    await given(
      created,
      {
        type: 'tenant.branding.changed',
        data: { display_name: 'Acme Login', primary_color: '#112233', logo_uri: 'https://cdn.acme.example/l.svg' },
      },
      { type: 'tenant.branding.changed', data: { primary_color: null, background_color: '#ffffff' } },
    ).thenRows('tenants', [
      expectRow({
        revision: 2,
        display_name: 'Acme Login',
        logo_uri: 'https://cdn.acme.example/l.svg',
        primary_color: null,
        background_color: '#ffffff',
      }),
    ]);
  });

  it('keeps the last MFA policy', async () => {
    await given(
      created,
      { type: 'tenant.mfa_policy.changed', data: { mode: 'off', required_for_applications: ['app_a'] } },
      { type: 'tenant.mfa_policy.changed', data: { mode: 'required', required_for_applications: ['app_b', 'app_c'] } },
    ).thenRows('tenants', [
      expectRow({ revision: 2, mfa_mode: 'required', mfa_required_for_applications: ['app_b', 'app_c'] }),
    ]);
  });

  it('applies an event at or below the row revision once only (a replayed event changes nothing)', async () => {
    await given(
      created,
      { type: 'tenant.renamed', data: { name: 'Second', previous_name: 'Acme' }, revision: 2 },
      { type: 'tenant.renamed', data: { name: 'First', previous_name: 'Acme' }, revision: 1 },
    ).thenRows('tenants', [expectRow({ name: 'Second', revision: 2 })]);
  });

  function expectRow(values: Record<string, unknown>) {
    return {
      tenant_id: SPEC_TENANT,
      slug: 'acme',
      name: 'Acme',
      status: 'active',
      revision: 0,
      ...noSettings,
      created_at: SPEC_TIME,
      updated_at: SPEC_TIME,
      ...values,
    };
  }
});

describe('api_keys projection', () => {
  const spec = () => specs.specFor(apiKeysProjection);
  const stream = `${SPEC_TENANT}-key`;

  it('lists a created key with its creator, and marks it revoked once', async () => {
    const later = new Date('2026-12-02T00:00:00.000Z');
    await spec()([
      { type: 'api_key.created', data: { key_id: 'key_1', name: 'ci' }, stream },
      { type: 'api_key.created', data: { key_id: 'key_2', name: 'deploy' }, stream },
      { type: 'api_key.revoked', data: { key_id: 'key_1' }, stream, time: later },
      { type: 'api_key.revoked', data: { key_id: 'key_1' }, stream },
    ]).thenRows('api_keys', [
      {
        tenant_id: SPEC_TENANT,
        key_id: 'key_1',
        name: 'ci',
        created_by: 'system:spec',
        created_at: SPEC_TIME,
        revoked_at: later,
      },
      {
        tenant_id: SPEC_TENANT,
        key_id: 'key_2',
        name: 'deploy',
        created_by: 'system:spec',
        created_at: SPEC_TIME,
        revoked_at: null,
      },
    ]);
  });
});

describe('webhook_endpoints projection', () => {
  const spec = () => specs.specFor(webhookEndpointsProjection);
  const stream = `${SPEC_TENANT}-whk_1`;
  const created: GivenEvent = {
    type: 'webhook.endpoint.created',
    stream,
    data: {
      endpoint_id: 'whk_1',
      url: 'https://example.com/hook',
      event_types: ['tenant.*'],
      description: null,
      secret_id: 'whs_1',
    },
  };
  const row = {
    tenant_id: SPEC_TENANT,
    endpoint_id: 'whk_1',
    url: 'https://example.com/hook',
    event_types: ['tenant.*'],
    description: null,
    status: 'enabled',
    disabled_reason: null,
    disabled_detail: null,
    disabled_at: null,
    secret_id: 'whs_1',
    revision: 0,
    created_at: SPEC_TIME,
    updated_at: SPEC_TIME,
  };

  it('updates, rotates, disables with a reason and enables again', async () => {
    await spec()([
      created,
      {
        type: 'webhook.endpoint.updated',
        stream,
        data: { endpoint_id: 'whk_1', changes: { event_types: ['*'], description: 'all' }, previous: {} },
      },
      {
        type: 'webhook.endpoint.secret_rotated',
        stream,
        data: {
          endpoint_id: 'whk_1',
          secret_id: 'whs_2',
          previous_secret_id: 'whs_1',
          previous_secret_expires_at: '2026-12-02T12:00:00.000Z',
        },
      },
      {
        type: 'webhook.endpoint.disabled',
        stream,
        data: { endpoint_id: 'whk_1', reason: 'gone', detail: 'The receiver answered 410 Gone.' },
      },
    ]).thenRows('webhook_endpoints', [
      {
        ...row,
        event_types: ['*'],
        description: 'all',
        secret_id: 'whs_2',
        status: 'disabled',
        disabled_reason: 'gone',
        disabled_detail: 'The receiver answered 410 Gone.',
        disabled_at: SPEC_TIME,
        revision: 3,
      },
    ]);
    await spec()([
      created,
      { type: 'webhook.endpoint.disabled', stream, data: { endpoint_id: 'whk_1', reason: 'manual', detail: null } },
      { type: 'webhook.endpoint.enabled', stream, data: { endpoint_id: 'whk_1' } },
    ]).thenRows('webhook_endpoints', [{ ...row, revision: 2 }]);
  });

  it('removes a deleted endpoint', async () => {
    await spec()([created, { type: 'webhook.endpoint.deleted', stream, data: { endpoint_id: 'whk_1' } }]).thenRows(
      'webhook_endpoints',
      [],
    );
  });
});

describe('applications projection', () => {
  const spec = () => specs.specFor(applicationsProjection);
  const stream = `${SPEC_TENANT}-app_1`;
  const metadata = withDefaults('web', { client_name: 'Dashboard', redirect_uris: ['https://app.example.com/cb'] });
  const created: GivenEvent = {
    type: 'application.created',
    stream,
    data: { application_id: 'app_1', client_id: 'dashboard', kind: 'web', ...metadata, secret_id: 'cls_1' },
  };
  const row = {
    tenant_id: SPEC_TENANT,
    application_id: 'app_1',
    client_id: 'dashboard',
    kind: 'web',
    ...metadata,
    secret_id: 'cls_1',
    previous_secret_expires_at: null,
    revision: 0,
    created_at: SPEC_TIME,
    updated_at: SPEC_TIME,
  };

  it('keeps every metadata field, applies changes and rotations once, never a secret', async () => {
    const later = new Date('2026-12-02T00:00:00.000Z');
    await spec()([
      created,
      {
        type: 'application.updated',
        stream,
        time: later,
        data: {
          application_id: 'app_1',
          changes: { redirect_uris: ['https://app.example.com/a', 'https://app.example.com/b'], logo_uri: null },
          previous: { redirect_uris: metadata.redirect_uris },
        },
      },
      {
        type: 'application.secret_rotated',
        stream,
        time: later,
        data: {
          application_id: 'app_1',
          secret_id: 'cls_2',
          previous_secret_id: 'cls_1',
          previous_secret_expires_at: '2026-12-03T00:00:00.000Z',
        },
      },
      // Replayed: an event at or below the row's revision changes nothing.
      {
        type: 'application.updated',
        stream,
        revision: 1,
        data: { application_id: 'app_1', changes: { client_name: 'Stale' }, previous: {} },
      },
    ]).thenRows('applications', [
      {
        ...row,
        redirect_uris: ['https://app.example.com/a', 'https://app.example.com/b'],
        secret_id: 'cls_2',
        previous_secret_expires_at: new Date('2026-12-03T00:00:00.000Z'),
        revision: 2,
        updated_at: later,
      },
    ]);
  });

  it('removes a deleted application', async () => {
    await spec()([
      created,
      { type: 'application.deleted', stream, data: { application_id: 'app_1', client_id: 'dashboard' } },
    ]).thenRows('applications', []);
  });
});

describe('apis projection', () => {
  const spec = () => specs.specFor(apisProjection);
  const stream = `${SPEC_TENANT}-api_1`;
  const scopes = [
    { value: 'invoices:read', description: 'Read invoices' },
    { value: 'invoices:write', description: '' },
  ];
  const created: GivenEvent = {
    type: 'api.created',
    stream,
    data: {
      api_id: 'api_1',
      identifier: 'https://billing.example.com/api',
      name: 'Billing',
      scopes,
      access_token_ttl_seconds: 3600,
    },
  };

  it('keeps an API with its scopes, applies a change once', async () => {
    const later = new Date('2026-12-02T00:00:00.000Z');
    await spec()([
      created,
      {
        type: 'api.updated',
        stream,
        time: later,
        data: {
          api_id: 'api_1',
          changes: { name: 'Billing v2', scopes: [scopes[1] as (typeof scopes)[1]] },
          previous: {},
        },
      },
      // Replayed: an event at or below the row's revision changes nothing.
      { type: 'api.updated', stream, revision: 1, data: { api_id: 'api_1', changes: { name: 'Stale' }, previous: {} } },
    ]).thenRows('apis', [
      {
        tenant_id: SPEC_TENANT,
        api_id: 'api_1',
        name: 'Billing v2',
        identifier: 'https://billing.example.com/api',
        scopes: [scopes[1]],
        access_token_ttl_seconds: 3600,
        revision: 1,
        created_at: SPEC_TIME,
        updated_at: later,
      },
    ]);
  });

  it('removes a deleted API', async () => {
    await spec()([
      created,
      { type: 'api.deleted', stream, data: { api_id: 'api_1', identifier: 'https://billing.example.com/api' } },
    ]).thenRows('apis', []);
  });
});

describe('organizations projection', () => {
  const spec = () => specs.specFor(organizationsProjection);
  const stream = `${SPEC_TENANT}-org_1`;
  const later = new Date('2026-12-02T00:00:00.000Z');
  const created: GivenEvent = {
    type: 'organization.created',
    stream,
    data: { organization_id: 'org_1', name: 'acme', display_name: 'Acme', metadata: { tier: 'gold' } },
  };
  const domainAdded: GivenEvent = {
    type: 'organization.domain.added',
    stream,
    data: { organization_id: 'org_1', domain: 'acme.com', record_name: '_sigid-challenge.acme.com', token: 'tok' },
  };

  it('keeps an organization, applies a change once, and moves its revision with its members and domains', async () => {
    const given: GivenEvent[] = [
      created,
      {
        type: 'organization.updated',
        stream,
        data: { organization_id: 'org_1', changes: { display_name: 'Acme Corp' }, previous: {} },
      },
      // Replayed: an event at or below the row's revision changes nothing.
      {
        type: 'organization.updated',
        stream,
        revision: 1,
        data: { organization_id: 'org_1', changes: { display_name: 'Stale' }, previous: {} },
      },
      { type: 'organization.member.added', stream, data: { organization_id: 'org_1', sub: 'sub_1', roles: ['rol_a'] } },
      {
        type: 'organization.member.updated',
        stream,
        time: later,
        data: { organization_id: 'org_1', sub: 'sub_1', roles: ['rol_b'], previous_roles: ['rol_a'] },
      },
      domainAdded,
      {
        type: 'organization.domain.verified',
        stream,
        time: later,
        data: { organization_id: 'org_1', domain: 'acme.com' },
      },
    ];
    await spec()(given).thenRows('organizations', [
      {
        tenant_id: SPEC_TENANT,
        organization_id: 'org_1',
        name: 'acme',
        display_name: 'Acme Corp',
        metadata: { tier: 'gold' },
        revision: 5,
        created_at: SPEC_TIME,
        updated_at: later,
      },
    ]);
    await spec()(given).thenRows('organization_members', [
      {
        tenant_id: SPEC_TENANT,
        organization_id: 'org_1',
        sub: 'sub_1',
        roles: ['rol_b'],
        created_at: SPEC_TIME,
        updated_at: later,
      },
    ]);
    await spec()(given).thenRows('organization_domains', [
      {
        tenant_id: SPEC_TENANT,
        organization_id: 'org_1',
        domain: 'acme.com',
        record_name: '_sigid-challenge.acme.com',
        token: 'tok',
        verified_at: later,
        created_at: SPEC_TIME,
      },
    ]);
  });

  it('removes a deleted organization with its members and domains', async () => {
    const given: GivenEvent[] = [
      created,
      { type: 'organization.member.added', stream, data: { organization_id: 'org_1', sub: 'sub_1', roles: [] } },
      domainAdded,
      { type: 'organization.member.removed', stream, data: { organization_id: 'org_1', sub: 'sub_1', roles: [] } },
      {
        type: 'organization.domain.removed',
        stream,
        data: { organization_id: 'org_1', domain: 'acme.com', verified: false },
      },
      { type: 'organization.deleted', stream, data: { organization_id: 'org_1', name: 'acme' } },
    ];
    await spec()(given).thenRows('organizations', []);
    await spec()(given).thenRows('organization_members', []);
    await spec()(given).thenRows('organization_domains', []);
  });
});

describe('roles projection', () => {
  const spec = () => specs.specFor(rolesProjection);
  const stream = `${SPEC_TENANT}-rol_1`;
  const permissions = [{ api_id: 'api_1', scope: 'invoices:read' }];
  const created: GivenEvent = {
    type: 'role.created',
    stream,
    data: { role_id: 'rol_1', name: 'Clerk', description: '', permissions },
  };
  const assigned = (sub: string): GivenEvent => ({
    type: 'role.assigned',
    stream,
    data: { role_id: 'rol_1', sub, organization_id: null },
  });

  it('keeps a role and its holders, applies a change once, and moves the revision with its assignments', async () => {
    const later = new Date('2026-12-02T00:00:00.000Z');
    const history: GivenEvent[] = [
      created,
      {
        type: 'role.updated',
        stream,
        time: later,
        data: { role_id: 'rol_1', changes: { name: 'Senior clerk' }, previous: {} },
      },
      // Replayed: an event at or below the row's revision changes nothing.
      {
        type: 'role.updated',
        stream,
        revision: 1,
        data: { role_id: 'rol_1', changes: { name: 'Stale' }, previous: {} },
      },
      assigned('sub_a'),
      assigned('sub_b'),
      {
        type: 'role.unassigned',
        stream,
        data: { role_id: 'rol_1', sub: 'sub_a', organization_id: null, reason: 'unassigned' },
      },
      // A replayed assignment (at a revision already seen) does not come back.
      { ...assigned('sub_a'), revision: 3 },
    ];
    await spec()(history).thenRows('roles', [
      {
        tenant_id: SPEC_TENANT,
        role_id: 'rol_1',
        name: 'Senior clerk',
        description: '',
        permissions,
        revision: 4,
        created_at: SPEC_TIME,
        updated_at: SPEC_TIME,
      },
    ]);
    await spec()(history).thenRows('role_assignments', [
      { tenant_id: SPEC_TENANT, role_id: 'rol_1', sub: 'sub_b', organization_id: null, created_at: SPEC_TIME },
    ]);
  });

  it('removes a deleted role and every assignment of it', async () => {
    const history: GivenEvent[] = [
      created,
      assigned('sub_a'),
      {
        type: 'role.unassigned',
        stream,
        data: { role_id: 'rol_1', sub: 'sub_a', organization_id: null, reason: 'role_deleted' },
      },
      { type: 'role.deleted', stream, data: { role_id: 'rol_1', name: 'Clerk' } },
    ];
    await spec()(history).thenRows('roles', []);
    await spec()(history).thenRows('role_assignments', []);
  });
});

describe('policies projection', () => {
  const spec = () => specs.specFor(policiesProjection);
  const stream = `${SPEC_TENANT}-pol_1`;
  const cedar = 'permit(principal, action == SigID::Action::"read", resource);';
  const created: GivenEvent = {
    type: 'policy.created',
    stream,
    data: { policy_id: 'pol_1', name: 'Readers', description: '', cedar, enabled: true, version: 1 },
  };

  it('keeps a policy at its latest version, applies a change once', async () => {
    const later = new Date('2026-12-05T00:00:00.000Z');
    const cedar2 = 'permit(principal, action == SigID::Action::"list", resource);';
    await spec()([
      created,
      {
        type: 'policy.updated',
        stream,
        time: later,
        data: { policy_id: 'pol_1', name: 'Listers', description: 'd', cedar: cedar2, version: 2 },
      },
      { type: 'policy.disabled', stream, time: later, data: { policy_id: 'pol_1' } },
      // Replayed: an event at or below the row's revision changes nothing.
      {
        type: 'policy.updated',
        stream,
        revision: 1,
        data: { policy_id: 'pol_1', name: 'Stale', description: '', cedar, version: 2 },
      },
    ]).thenRows('policies', [
      {
        tenant_id: SPEC_TENANT,
        policy_id: 'pol_1',
        name: 'Listers',
        description: 'd',
        cedar: cedar2,
        enabled: false,
        version: 2,
        revision: 2,
        created_at: SPEC_TIME,
        updated_at: later,
      },
    ]);
  });

  it('removes a deleted policy', async () => {
    await spec()([created, { type: 'policy.deleted', stream, data: { policy_id: 'pol_1' } }]).thenRows('policies', []);
  });
});

describe('users projection', () => {
  const spec = () => specs.specFor(usersProjection);
  const stream = `${SPEC_TENANT}-sub_1`;
  const created: GivenEvent = {
    type: 'user.created',
    stream,
    data: { sub: 'sub_1', email: 'ada@example.com', email_verified: true },
  };
  const row = {
    tenant_id: SPEC_TENANT,
    sub: 'sub_1',
    email: 'ada@example.com',
    email_verified: true,
    name: null,
    given_name: null,
    family_name: null,
    picture: null,
    metadata: {},
    status: 'active',
    revision: 0,
    created_at: SPEC_TIME,
    updated_at: SPEC_TIME,
    last_sign_in_at: null,
    deleted_at: null,
  };

  it('keeps a user with its profile, applies a change once, and follows sign-ins and blocks', async () => {
    const later = new Date('2026-12-02T00:00:00.000Z');
    await spec()([
      created,
      {
        type: 'user.updated',
        stream,
        data: { sub: 'sub_1', changes: { name: 'Ada', metadata: { plan: 'pro' } }, previous: {} },
      },
      // Replayed: an event at or below the row's revision changes nothing.
      { type: 'user.updated', stream, revision: 1, data: { sub: 'sub_1', changes: { name: 'Stale' }, previous: {} } },
      { type: 'user.blocked', stream, data: { sub: 'sub_1' } },
      {
        type: 'sign_in.succeeded',
        stream: `${SPEC_TENANT}-sign_ins`,
        time: later,
        data: { sub: 'sub_1', client_id: 'app_1', amr: ['pwd'], interaction_id: 'i' },
      },
    ]).thenRows('users', [
      { ...row, name: 'Ada', metadata: { plan: 'pro' }, status: 'blocked', revision: 2, last_sign_in_at: later },
    ]);
  });

  it('keeps a deleted user as a tombstone with nothing personal', async () => {
    const later = new Date('2026-12-02T00:00:00.000Z');
    await spec()([
      created,
      { type: 'user.updated', stream, data: { sub: 'sub_1', changes: { name: 'Ada' }, previous: {} } },
      { type: 'user.deleted', stream, time: later, data: { sub: 'sub_1' } },
    ]).thenRows('users', [
      {
        ...row,
        email: null,
        email_verified: false,
        status: 'deleted',
        revision: 2,
        updated_at: later,
        deleted_at: later,
      },
    ]);
  });
});

describe('invitations projection', () => {
  const spec = () => specs.specFor(invitationsProjection);
  const stream = `${SPEC_TENANT}-inv_1`;
  const expires = '2026-12-08T12:00:00.000Z';
  const created: GivenEvent = {
    type: 'invitation.created',
    stream,
    data: {
      invitation_id: 'inv_1',
      email: 'grace@example.com',
      roles: ['editor'],
      organization_id: null,
      expires_at: expires,
      message_id: 'eml_1',
    },
  };

  it('follows a resend and an acceptance, each once', async () => {
    const later = '2026-12-09T12:00:00.000Z';
    await spec()([
      created,
      { type: 'invitation.resent', stream, data: { invitation_id: 'inv_1', message_id: 'eml_2', expires_at: later } },
      // Replayed: an event at or below the row's revision changes nothing.
      {
        type: 'invitation.resent',
        stream,
        revision: 1,
        data: { invitation_id: 'inv_1', message_id: 'eml_x', expires_at: later },
      },
      {
        type: 'invitation.accepted',
        stream,
        data: { invitation_id: 'inv_1', sub: 'sub_1', roles: ['editor'], organization_id: null },
      },
    ]).thenRows('invitations', [
      {
        tenant_id: SPEC_TENANT,
        invitation_id: 'inv_1',
        email: 'grace@example.com',
        roles: ['editor'],
        organization_id: null,
        status: 'accepted',
        expires_at: new Date(later),
        message_id: 'eml_2',
        accepted_sub: 'sub_1',
        revision: 2,
        created_at: SPEC_TIME,
        updated_at: SPEC_TIME,
      },
    ]);
  });
});
