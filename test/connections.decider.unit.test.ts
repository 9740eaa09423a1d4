import { describe, expect, it } from 'vitest';
import { connectionDecider } from '../commands/connection.ts';
import type { ConnectionEvent, ConnectionSettings } from '../events/connection.ts';
import { DEFAULT_CLAIM_MAPPING } from '../services/connections.ts';
import { createConnectionBody, updateConnectionBody } from '../src/http/connections.ts';
import { IdpUnreachable } from '../src/sso/idp-fetch.ts';
import { federationFailure, mapClaims } from '../src/sso/oidc-connection.ts';
import { specFor } from './support/given-when-then.ts';

const connection = specFor(connectionDecider);

const settings: ConnectionSettings = {
  name: 'Acme Okta',
  oidc: {
    issuer: 'https://acme.okta.com',
    client_id: 'sigid',
    client_secret_id: 'cls_1',
    scopes: ['openid', 'email'],
    claim_mapping: DEFAULT_CLAIM_MAPPING,
  },
  role_mapping: {},
  link_existing_accounts: false,
};
const ids = { connection_id: 'con_1', organization_id: 'org_1' };
const created = {
  type: 'connection.created',
  data: { ...ids, protocol: 'oidc', enabled: true, ...settings },
} satisfies ConnectionEvent;
const create = { type: 'create_connection' as const, ...ids, enabled: true, settings };

describe('connection decider', () => {
  it('creates a connection once; the same create again decides nothing, another id on its stream is a conflict', () => {
    connection([]).when(create).thenEmits([created]);
    connection([created]).when(create).thenEmits([]);
    connection([created])
      .when({ ...create, connection_id: 'con_2' })
      .thenThrows('connection_exists');
  });

  it('records only what an update changes, with the previous values; a new secret id is a change of oidc', () => {
    connection([created])
      .when({ type: 'update_connection', changes: { name: 'Acme Okta' } })
      .thenEmits([]);
    const oidc = { ...settings.oidc, client_secret_id: 'cls_2' };
    connection([created])
      .when({ type: 'update_connection', changes: { name: 'Acme', oidc } })
      .thenEmits([
        {
          type: 'connection.updated',
          data: {
            connection_id: 'con_1',
            changes: { name: 'Acme', oidc },
            previous: { name: 'Acme Okta', oidc: settings.oidc },
          },
        },
      ]);
  });

  it('enables and disables, each once', () => {
    const disabled = { type: 'connection.disabled', data: ids } satisfies ConnectionEvent;
    connection([created]).when({ type: 'set_enabled', enabled: true }).thenEmits([]);
    connection([created]).when({ type: 'set_enabled', enabled: false }).thenEmits([disabled]);
    connection([created, disabled]).when({ type: 'set_enabled', enabled: false }).thenEmits([]);
    connection([created, disabled])
      .when({ type: 'set_enabled', enabled: true })
      .thenEmits([{ type: 'connection.enabled', data: ids }]);
  });

  it('links a user once, and nothing of a deleted or absent connection', () => {
    const linked = {
      type: 'connection.user.linked',
      data: { ...ids, sub: 'sub_1', account: 'new_account' },
    } satisfies ConnectionEvent;
    connection([created]).when({ type: 'link_user', sub: 'sub_1', account: 'new_account' }).thenEmits([linked]);
    connection([created, linked]).when({ type: 'link_user', sub: 'sub_1', account: 'new_account' }).thenEmits([]);
    const deleted = { type: 'connection.deleted', data: ids } satisfies ConnectionEvent;
    connection([created]).when({ type: 'delete_connection' }).thenEmits([deleted]);
    for (const command of [
      { type: 'delete_connection' as const },
      { type: 'link_user' as const, sub: 'sub_1', account: 'new_account' as const },
      { type: 'set_enabled' as const, enabled: false },
    ]) {
      connection([created, deleted]).when(command).thenThrows('not_found');
      connection([]).when(command).thenThrows('not_found');
    }
  });
});

describe('connection bodies and claim mapping', () => {
  const valid = {
    name: 'Acme',
    protocol: 'oidc',
    oidc: { issuer: 'https://acme.okta.com', client_id: 'x', client_secret: 'y' },
  };

  it('takes OIDC only (SAML later) and refuses issuers with a query, a fragment or credentials', () => {
    expect(createConnectionBody.safeParse(valid).success).toBe(true);
    expect(createConnectionBody.safeParse({ ...valid, protocol: 'saml' }).success).toBe(false);
    for (const issuer of [
      'https://a.test/?x',
      'https://a.test/#x',
      'https://u:p@a.test',
      'mailto:x@a.test',
      'a.test',
    ]) {
      expect(createConnectionBody.safeParse({ ...valid, oidc: { ...valid.oidc, issuer } }).success, issuer).toBe(false);
    }
    expect(updateConnectionBody.safeParse({}).success).toBe(false);
    expect(updateConnectionBody.safeParse({ protocol: 'oidc' }).success).toBe(false);
    expect(updateConnectionBody.safeParse({ enabled: false }).success).toBe(true);
  });

  it('maps claims: strings of one line, email_verified true or "true", roles a string or an array', () => {
    const mapping = { ...DEFAULT_CLAIM_MAPPING, roles: 'groups', name: 'displayName' };
    expect(
      mapClaims(
        {
          email: ' jane@acme.test ',
          email_verified: 'true',
          displayName: 'Jane Doe',
          name: 'ignored',
          given_name: 'Jane\u0000',
          family_name: 7,
          groups: ['admins', 3, 'staff'],
        },
        mapping,
      ),
    ).toEqual({
      email: 'jane@acme.test',
      email_verified: true,
      name: 'Jane Doe',
      given_name: null,
      family_name: null,
      idp_roles: ['admins', 'staff'],
    });
    expect(mapClaims({ email: 'not-an-address', email_verified: 1, groups: 'admins' }, mapping)).toMatchObject({
      email: null,
      email_verified: false,
      idp_roles: ['admins'],
    });
  });

  it('tells the person what failed without the IdP’s own words', () => {
    expect(federationFailure(new IdpUnreachable('ECONNREFUSED')).reason).toBe('idp_unreachable');
    expect(federationFailure(new Error('<script>')).text).not.toContain('<script>');
  });
});
