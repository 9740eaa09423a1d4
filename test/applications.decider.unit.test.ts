import { describe, expect, it } from 'vitest';
import { applicationDecider } from '../commands/application.ts';
import type { ApplicationEvent } from '../events/application.ts';
import { applicationMetadataIssues, withDefaults } from '../src/applications/client-metadata.ts';
import { redirectUriMatches, redirectUriRefusal } from '../src/applications/redirect-uris.ts';
import { specFor } from './support/given-when-then.ts';

const application = specFor(applicationDecider);

const metadata = withDefaults('web', { client_name: 'Dashboard', redirect_uris: ['https://app.example.com/cb'] });
const created = {
  type: 'application.created',
  data: { application_id: 'app_1', client_id: 'dashboard', kind: 'web', ...metadata, secret_id: 'cls_a' },
} satisfies ApplicationEvent;
const create = {
  type: 'create_application' as const,
  application_id: 'app_1',
  client_id: 'dashboard',
  kind: 'web' as const,
  metadata,
  secret_id: 'cls_a',
};
const deleted = {
  type: 'application.deleted',
  data: { application_id: 'app_1', client_id: 'dashboard' },
} satisfies ApplicationEvent;

describe('application decider', () => {
  it('creates an application once, naming its secret by id only', () => {
    application([]).when(create).thenEmits([created]);
    // The same create again (a retried request, the same ids): already done; another: refused.
    application([created]).when(create).thenEmits([]);
    application([created])
      .when({ ...create, secret_id: 'cls_b' })
      .thenThrows('application_exists');
    application([created])
      .when({ ...create, client_id: 'other' })
      .thenThrows('application_exists');
  });

  it('refuses to create metadata the kind does not allow', () => {
    application([])
      .when({ ...create, metadata: { ...metadata, token_endpoint_auth_method: 'none' } })
      .thenThrows('invalid_client_metadata');
    application([])
      .when({ ...create, metadata: { ...metadata, redirect_uris: ['http://app.example.com/cb'] } })
      .thenThrows('invalid_redirect_uri');
  });

  it('records only what an update changes, with the previous values', () => {
    application([created])
      .when({
        type: 'update_application',
        changes: {
          client_name: 'Dashboard',
          redirect_uris: ['https://app.example.com/cb', 'https://app.example.com/cb2'],
          access_token_ttl_seconds: 600,
        },
      })
      .thenEmits([
        {
          type: 'application.updated',
          data: {
            application_id: 'app_1',
            changes: {
              redirect_uris: ['https://app.example.com/cb', 'https://app.example.com/cb2'],
              access_token_ttl_seconds: 600,
            },
            previous: { redirect_uris: ['https://app.example.com/cb'], access_token_ttl_seconds: 3600 },
          },
        },
      ]);
    application([created])
      .when({ type: 'update_application', changes: { client_name: 'Dashboard', grant_types: metadata.grant_types } })
      .thenEmits([]);
  });

  it('checks an update against what the application becomes', () => {
    const updated = {
      type: 'application.updated',
      data: {
        application_id: 'app_1',
        changes: { grant_types: ['authorization_code'] },
        previous: { grant_types: ['authorization_code', 'refresh_token'] },
      },
    } satisfies ApplicationEvent;
    // A web application may drop PKCE, never its redirect URIs while it signs users in.
    application([created, updated])
      .when({ type: 'update_application', changes: { require_pkce: false } })
      .thenEmits([
        {
          type: 'application.updated',
          data: { application_id: 'app_1', changes: { require_pkce: false }, previous: { require_pkce: true } },
        },
      ]);
    application([created, updated])
      .when({ type: 'update_application', changes: { redirect_uris: [] } })
      .thenThrows('invalid_client_metadata');
    application([created])
      .when({ type: 'update_application', changes: { grant_types: ['implicit'] } })
      .thenThrows('invalid_client_metadata');
  });

  it('rotates the secret, naming the one it replaces and when that one stops working; a retry records nothing', () => {
    const rotated = {
      type: 'application.secret_rotated',
      data: {
        application_id: 'app_1',
        secret_id: 'cls_b',
        previous_secret_id: 'cls_a',
        previous_secret_expires_at: '2026-12-03T00:00:00.000Z',
      },
    } satisfies ApplicationEvent;
    const rotate = {
      type: 'rotate_client_secret' as const,
      secret_id: 'cls_b',
      previous_secret_expires_at: '2026-12-03T00:00:00.000Z',
    };
    application([created]).when(rotate).thenEmits([rotated]);
    application([created, rotated]).when(rotate).thenEmits([]);
    application([created, rotated])
      .when({ ...rotate, secret_id: 'cls_c' })
      .thenEmits([{ ...rotated, data: { ...rotated.data, secret_id: 'cls_c', previous_secret_id: 'cls_b' } }]);
  });

  it('has no secret to rotate on a public application', () => {
    const spa = {
      type: 'application.created',
      data: {
        ...created.data,
        kind: 'spa',
        ...withDefaults('spa', { client_name: 'SPA', redirect_uris: ['https://spa.example.com/cb'] }),
        secret_id: null,
      },
    } satisfies ApplicationEvent;
    application([spa])
      .when({
        type: 'rotate_client_secret',
        secret_id: 'cls_b',
        previous_secret_expires_at: '2026-12-03T00:00:00.000Z',
      })
      .thenThrows('public_client');
  });

  it('deletes, then refuses everything on the deleted application', () => {
    application([created]).when({ type: 'delete_application' }).thenEmits([deleted]);
    application([created, deleted]).when({ type: 'delete_application' }).thenThrows('not_found');
    application([created, deleted])
      .when({ type: 'update_application', changes: { client_name: 'x' } })
      .thenThrows('not_found');
    application([created, deleted])
      .when({
        type: 'rotate_client_secret',
        secret_id: 'cls_b',
        previous_secret_expires_at: '2026-12-03T00:00:00.000Z',
      })
      .thenThrows('not_found');
    // A create retried after the delete does not bring the application back.
    application([created, deleted]).when(create).thenEmits([]);
    application([created, deleted])
      .when({ ...create, secret_id: 'cls_b' })
      .thenThrows('application_exists');
    application([]).when({ type: 'delete_application' }).thenThrows('not_found');
  });
});

describe('client metadata rules', () => {
  const issues = (kind: Parameters<typeof withDefaults>[0], given: Parameters<typeof withDefaults>[1]) =>
    applicationMetadataIssues(kind, withDefaults(kind, given)).map((issue) => issue.path);

  it('gives each kind its defaults, which it accepts', () => {
    const redirect_uris = ['https://app.example.com/cb'];
    expect(withDefaults('web', { client_name: 'w', redirect_uris })).toMatchObject({
      application_type: 'web',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      require_pkce: true,
    });
    expect(withDefaults('native', { client_name: 'n', redirect_uris })).toMatchObject({
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      require_pkce: true,
    });
    expect(withDefaults('m2m', { client_name: 'm' })).toMatchObject({
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      require_pkce: false,
    });
    for (const kind of ['web', 'spa', 'native'] as const)
      expect(issues(kind, { client_name: 'x', redirect_uris })).toEqual([]);
    expect(issues('m2m', { client_name: 'x' })).toEqual([]);
  });

  it('refuses combinations that make no sense, naming the field', () => {
    const redirect_uris = ['https://app.example.com/cb'];
    expect(
      issues('spa', { client_name: 'x', redirect_uris, token_endpoint_auth_method: 'client_secret_basic' }),
    ).toEqual(['token_endpoint_auth_method']);
    expect(issues('m2m', { client_name: 'x', redirect_uris })).toEqual(['redirect_uris']);
    expect(issues('m2m', { client_name: 'x', token_endpoint_auth_method: 'none' })).toEqual([
      'token_endpoint_auth_method',
    ]);
    expect(
      issues('spa', { client_name: 'x', redirect_uris, grant_types: ['authorization_code', 'client_credentials'] }),
    ).toEqual(['grant_types.1']);
    expect(issues('web', { client_name: 'x', redirect_uris, grant_types: ['implicit'] })).toEqual([
      'grant_types.0',
      'grant_types',
    ]);
    expect(issues('web', { client_name: 'x', redirect_uris, response_types: ['code id_token'] })).toEqual([
      'response_types.0',
      'response_types',
    ]);
    expect(issues('native', { client_name: 'x', redirect_uris, require_pkce: false })).toEqual(['require_pkce']);
    expect(issues('web', { client_name: 'x' })).toEqual(['redirect_uris']);
    expect(issues('web', { client_name: 'x', redirect_uris, application_type: 'native' })).toEqual([
      'application_type',
    ]);
    expect(issues('web', { client_name: 'x', redirect_uris, token_endpoint_auth_method: 'client_secret_jwt' })).toEqual(
      ['token_endpoint_auth_method'],
    );
    expect(issues('m2m', { client_name: 'x', allowed_origins: ['https://app.example.com'] })).toEqual([
      'allowed_origins',
    ]);
  });
});

describe('redirect URIs', () => {
  it('accepts https, loopback http, and private-use schemes for native apps only', () => {
    const accepted: Array<[Parameters<typeof redirectUriRefusal>[0], string]> = [
      ['web', 'https://app.example.com/callback?x=1'],
      ['web', 'http://localhost:3000/callback'],
      ['spa', 'http://127.0.0.1:8080/cb'],
      ['spa', 'http://[::1]/cb'],
      ['native', 'com.example.app:/oauth2redirect'],
      ['native', 'http://127.0.0.1/callback'],
      ['native', 'https://app.example.com/native'],
    ];
    for (const [kind, uri] of accepted) expect(redirectUriRefusal(kind, uri), `${kind} ${uri}`).toBeNull();
    const refused: Array<[Parameters<typeof redirectUriRefusal>[0], string]> = [
      ['web', 'http://app.example.com/cb'],
      ['web', 'https://app.example.com/cb#section'],
      ['web', '/relative/callback'],
      ['web', 'https://user:pass@app.example.com/cb'],
      ['web', 'https://*.example.com/cb'],
      ['web', 'https://APP.example.com/cb'],
      ['web', 'https://app.example.com:443/cb'],
      ['web', 'https:app.example.com/cb'],
      ['web', 'https://app.example.com/a b'],
      ['web', 'https://app.example.com\\@evil.example/cb'],
      ['web', 'com.example.app:/cb'],
      ['spa', 'javascript:alert(1)'],
      ['native', 'myapp:/cb'],
      ['native', 'javascript:alert(1)'],
      ['native', 'data:text/html,hi'],
      ['native', 'http://localhost.evil.example/cb'],
    ];
    for (const [kind, uri] of refused) expect(redirectUriRefusal(kind, uri), `${kind} ${uri}`).not.toBeNull();
  });

  it('matches exactly, except a native loopback URI on any port', () => {
    expect(redirectUriMatches('web', 'https://app.example.com/cb', 'https://app.example.com/cb')).toBe(true);
    expect(redirectUriMatches('web', 'https://app.example.com/cb', 'https://app.example.com/cb/')).toBe(false);
    expect(redirectUriMatches('web', 'http://127.0.0.1/cb', 'http://127.0.0.1:5000/cb')).toBe(false);
    expect(redirectUriMatches('native', 'http://127.0.0.1/cb', 'http://127.0.0.1:5000/cb')).toBe(true);
    expect(redirectUriMatches('native', 'http://127.0.0.1:1234/cb', 'http://127.0.0.1:5000/cb')).toBe(true);
    expect(redirectUriMatches('native', 'http://127.0.0.1/cb', 'http://127.0.0.1:5000/cb?x')).toBe(false);
    expect(redirectUriMatches('native', 'http://127.0.0.1/cb', 'http://[::1]:5000/cb')).toBe(false);
    expect(redirectUriMatches('native', 'https://app.example.com/cb', 'https://app.example.com:8443/cb')).toBe(false);
  });
});
