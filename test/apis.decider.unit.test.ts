import { describe, expect, it } from 'vitest';
import { apiDecider } from '../commands/api.ts';
import type { ApiEvent } from '../events/api.ts';
import { validIdentifier } from '../src/http/apis.ts';
import { grantedScope } from '../src/oidc/provider.ts';
import { specFor } from './support/given-when-then.ts';

const api = specFor(apiDecider);

const settings = {
  name: 'Billing',
  scopes: [
    { value: 'invoices:read', description: 'Read invoices' },
    { value: 'invoices:write', description: '' },
  ],
  access_token_ttl_seconds: 3600,
};
const created = {
  type: 'api.created',
  data: { api_id: 'api_1', identifier: 'https://billing.example.com/api', ...settings },
} satisfies ApiEvent;
const create = {
  type: 'create_api' as const,
  api_id: 'api_1',
  identifier: 'https://billing.example.com/api',
  settings,
};
const granted = {
  type: 'api.grant.set',
  data: {
    api_id: 'api_1',
    application_id: 'app_1',
    scopes: ['invoices:read', 'invoices:write'],
    previous_scopes: null,
  },
} satisfies ApiEvent;

describe('api decider', () => {
  it('creates an API once; the same create again decides nothing, another is refused', () => {
    api([]).when(create).thenEmits([created]);
    api([created]).when(create).thenEmits([]);
    api([created])
      .when({ ...create, identifier: 'https://other.example.com/' })
      .thenThrows('api_exists');
  });

  it('records only what an update changes, with the previous values', () => {
    api([created])
      .when({ type: 'update_api', changes: { name: 'Billing', access_token_ttl_seconds: 600 } })
      .thenEmits([
        {
          type: 'api.updated',
          data: {
            api_id: 'api_1',
            changes: { access_token_ttl_seconds: 600 },
            previous: { access_token_ttl_seconds: 3600 },
          },
        },
      ]);
    api([created])
      .when({ type: 'update_api', changes: { scopes: settings.scopes } })
      .thenEmits([]);
  });

  it('grants only scopes the API defines, naming the one that is not (400)', () => {
    api([created])
      .when({ type: 'set_grant', application_id: 'app_1', scopes: ['invoices:read', 'invoices:read'] })
      .thenEmits([
        {
          type: 'api.grant.set',
          data: { api_id: 'api_1', application_id: 'app_1', scopes: ['invoices:read'], previous_scopes: null },
        },
      ]);
    let error: unknown;
    try {
      apiDecider.decide(
        { type: 'set_grant', application_id: 'app_1', scopes: ['invoices:read', 'payments:refund'] },
        apiDecider.evolve(apiDecider.initialState(), created),
      );
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ status: 400, code: 'invalid_request', errors: [{ path: 'scopes.1' }] });
    // The same grant again is a no-op; another one records what it replaced.
    api([created, granted])
      .when({ type: 'set_grant', application_id: 'app_1', scopes: granted.data.scopes })
      .thenEmits([]);
    api([created, granted])
      .when({ type: 'set_grant', application_id: 'app_1', scopes: ['invoices:write'] })
      .thenEmits([
        {
          type: 'api.grant.set',
          data: {
            api_id: 'api_1',
            application_id: 'app_1',
            scopes: ['invoices:write'],
            previous_scopes: ['invoices:read', 'invoices:write'],
          },
        },
      ]);
  });

  it('takes a scope removed from the API out of its grants, and ends them with the API', () => {
    const narrowed = {
      type: 'api.updated',
      data: { api_id: 'api_1', changes: { scopes: [settings.scopes[0] as (typeof settings.scopes)[0]] }, previous: {} },
    } satisfies ApiEvent;
    const state = [created, granted, narrowed].reduce(apiDecider.evolve, apiDecider.initialState());
    expect(state.status === 'active' && state.grants).toEqual({ app_1: ['invoices:read'] });
    api([created, granted])
      .when({ type: 'remove_grant', application_id: 'app_1' })
      .thenEmits([
        { type: 'api.grant.removed', data: { api_id: 'api_1', application_id: 'app_1', scopes: granted.data.scopes } },
      ]);
    api([created]).when({ type: 'remove_grant', application_id: 'app_1' }).thenThrows('not_found');
    const deleted = {
      type: 'api.deleted',
      data: { api_id: 'api_1', identifier: create.identifier },
    } satisfies ApiEvent;
    api([created, granted, deleted])
      .when({ type: 'set_grant', application_id: 'app_1', scopes: [] })
      .thenThrows('not_found');
    api([created, deleted]).when({ type: 'delete_api' }).thenThrows('not_found');
  });
});

describe('API identifiers and granted scopes', () => {
  it('accepts absolute https URIs without a fragment, http only for loopback names', () => {
    for (const ok of [
      'https://api.example.com',
      'https://api.example.com/v1?x=1',
      'http://localhost:8080/api',
      'http://127.0.0.1/',
    ])
      expect(validIdentifier(ok), ok).toBe(true);
    for (const bad of [
      'http://api.example.com/',
      'https://api.example.com/#frag',
      'https://api.example.com/#',
      'urn:example:api',
      '/relative',
      'https://user:pw@api.example.com/',
      'ftp://api.example.com/',
    ])
      expect(validIdentifier(bad), bad).toBe(false);
  });

  it('issues the requested scopes the API defines and the client was granted, nothing else', () => {
    const server = {
      apiId: 'api_1',
      identifier: 'https://billing.example.com/api',
      scopes: new Set(['invoices:read', 'invoices:write', 'payments:refund']),
      granted: new Set(['invoices:read', 'payments:refund']),
      accessTokenTtlSeconds: 3600,
    };
    expect(grantedScope('invoices:read invoices:write openid unknown', server)).toBe('invoices:read');
    expect(grantedScope('payments:refund  invoices:read invoices:read', server)).toBe('payments:refund invoices:read');
    expect(grantedScope('', server)).toBe('');
  });
});
