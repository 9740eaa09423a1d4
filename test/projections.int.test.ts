import { afterAll, beforeAll, describe, it } from 'vitest';
import { apiKeysProjection } from '../projections/api-keys.ts';
import { applicationsProjection } from '../projections/applications.ts';
import { tenantsProjection } from '../projections/tenants.ts';
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
