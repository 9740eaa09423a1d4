import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionAggregate } from '../commands/connection.ts';
import { organizationAggregate } from '../commands/organization.ts';
import { roleAggregate } from '../commands/role.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { findOrganizationMember } from '../read-models/organization-members.ts';
import { findUser } from '../read-models/users.ts';
import { signUpWithPassword } from '../services/accounts.ts';
import { DEFAULT_CLAIM_MAPPING } from '../services/connections.ts';
import { useCase } from '../services/context.ts';
import { type FederatedIdentity, signInThroughConnection } from '../services/sso.ts';
import { handleCommand } from '../src/command-handler.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { runChild } from './support/crash-child.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { settled } from './support/settled.ts';

/**
 * An SSO sign-in's durable steps (the identity's reservation, the account, the tenant user, the
 * connection's link event, the profile, the membership), each killed with SIGKILL right after it in
 * a child process, then the person's next sign-in: the same sub every time, one account for the
 * identity, each event once, the membership with the mapped role. Also: linking an existing account
 * only by a trusted address (the IdP verified it, the organization verified its domain, the
 * connection allows it), and never across an unverified domain.
 */
describe.runIf(postgresReachable)('SSO sign-ins killed between their steps', { timeout: 180_000 }, () => {
  const masterKey = randomBytes(32).toString('base64');
  let database: { url: string; drop: () => Promise<void> };
  let sigid: Sigid;
  const tenantId = newId('ten');
  const organizationId = newId('org');
  const connectionId = newId('con');
  const roleId = newId('rol');
  const system = { tenantId, actor: { type: 'system', id: 'test' } as const, correlationId: 'test' };
  const connection: FederatedIdentity['connection'] = {
    connection_id: connectionId,
    organization_id: organizationId,
    role_mapping: { admins: roleId },
    link_existing_accounts: true,
    enabled: true,
  };
  const identity = (subject: string, email: string, emailVerified = true): FederatedIdentity => ({
    connection,
    issuer: 'https://idp.acme.test',
    subject,
    profile: {
      email,
      email_verified: emailVerified,
      name: 'Jane Doe',
      given_name: null,
      family_name: null,
      idp_roles: ['admins'],
    },
  });

  const settle = async () => settled(sigid);

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const config = loadConfig({}, { databaseUrl: database.url, masterKey, dataDir: undefined, logLevel: 'silent' });
    sigid = await createSigid(config, { logger: pino({ level: 'silent' }) });
    sigid.start();
    await handleCommand(
      sigid.log,
      roleAggregate,
      roleId,
      { type: 'create_role', role_id: roleId, settings: { name: 'admin', description: '', permissions: [] } },
      system,
    );
    await handleCommand(
      sigid.log,
      organizationAggregate,
      organizationId,
      [
        {
          type: 'create_organization',
          organization_id: organizationId,
          name: 'acme',
          settings: { display_name: 'Acme', metadata: {} },
        },
        { type: 'add_domain', domain: 'acme.test', record_name: '_sigid-challenge.acme.test', token: 't' },
        { type: 'verify_domain', domain: 'acme.test' },
      ],
      system,
    );
    await handleCommand(
      sigid.log,
      connectionAggregate,
      connectionId,
      {
        type: 'create_connection',
        connection_id: connectionId,
        organization_id: organizationId,
        enabled: true,
        settings: {
          name: 'Acme',
          oidc: {
            issuer: 'https://idp.acme.test',
            client_id: 'sigid',
            client_secret_id: 'cls_none',
            scopes: ['openid'],
            claim_mapping: { ...DEFAULT_CLAIM_MAPPING, roles: 'groups' },
          },
          role_mapping: connection.role_mapping,
          link_existing_accounts: true,
        },
      },
      system,
    );
    await settle();
  });
  afterAll(async () => {
    await sigid?.close();
    await database?.drop();
  });

  const child = (env: Record<string, string>) =>
    runChild('sso-child.ts', {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: masterKey,
      SIGID_EMAIL_WORKER: 'false',
      ...env,
    });

  async function count(type: string, where: string, value: string) {
    const { rows } = await sigid.db.query<{ count: number }>(
      `select count(*)::int as count from sigid_events where event_type = $1 and ${where} = $2`,
      [type, value],
    );
    return rows[0]?.count ?? 0;
  }

  for (const step of ['after-identity', 'after-account', 'after-user', 'after-link']) {
    it(`a first sign-in killed ${step.replace('-', ' ')} is completed by the next one, each step once`, async () => {
      const person = identity(`idp-${step}`, `${step}-${randomBytes(3).toString('hex')}@acme.test`);
      const killed = await child({
        SIGID_FAILPOINTS: `sso.sign-in:${step}`,
        SSO_INPUT: JSON.stringify({ tenantId, identity: person }),
      });
      expect(killed).toBe('SIGKILL');
      await settle();
      const next = await signInThroughConnection(sigid, tenantId, person, useCase(system));
      const again = await signInThroughConnection(sigid, tenantId, person, useCase(system));
      expect(again.sub).toBe(next.sub);
      expect(next.account).toBe('new_account');
      await settle();
      expect(await count('connection.user.linked', "data->>'sub'", next.sub)).toBe(1);
      expect(await count('user.created', "data->>'sub'", next.sub)).toBe(1);
      expect(await count('organization.member.added', "data->>'sub'", next.sub)).toBe(1);
      expect(await count('account.linked', "data->>'sub'", next.sub)).toBe(1);
      const { rows } = await sigid.db.query<{ account_id: string }>(
        'select account_id from account_links where tenant_id = $1 and sub = $2',
        [tenantId, next.sub],
      );
      expect(rows.length).toBe(1);
      expect(await count('account.created', "data->>'account_id'", rows[0]?.account_id as string)).toBe(1);
      expect(await findOrganizationMember(sigid.readModels, tenantId, organizationId, next.sub)).toMatchObject({
        roles: [roleId],
      });
      expect(await findUser(sigid.readModels, tenantId, next.sub)).toMatchObject({
        status: 'active',
        email: person.profile.email,
        email_verified: true,
        name: 'Jane Doe',
      });
    });
  }

  it('links an existing account only by an address the IdP verified in a domain the organization verified', async () => {
    const platform = useCase({ ...system, tenantId: PLATFORM_TENANT });
    const email = `existing-${randomBytes(3).toString('hex')}@acme.test`;
    const made = await signUpWithPassword(sigid, { email, password: 'a password to keep' }, platform);
    if (made.status !== 'created') throw new Error('sign-up');
    await settle();
    // The IdP does not say the address is verified: a new account, not the existing one.
    const unverified = await signInThroughConnection(sigid, tenantId, identity('idp-u', email, false), useCase(system));
    expect(unverified.account).toBe('new_account');
    // The IdP says so, for acme.test (verified by the organization): the existing account.
    const linked = await signInThroughConnection(sigid, tenantId, identity('idp-v', email), useCase(system));
    expect(linked.account).toBe('existing_account');
    expect(linked.sub).not.toBe(unverified.sub);
    await settle();
    const { rows } = await sigid.db.query<{ account_id: string }>(
      'select account_id from account_links where tenant_id = $1 and sub = $2',
      [tenantId, linked.sub],
    );
    expect(rows[0]?.account_id).toBe(made.accountId);
    // An address outside the organization's verified domains never reaches an existing account.
    const outsider = `someone-${randomBytes(3).toString('hex')}@elsewhere.test`;
    const other = await signUpWithPassword(sigid, { email: outsider, password: 'a password to keep' }, platform);
    if (other.status !== 'created') throw new Error('sign-up');
    await settle();
    const foreign = await signInThroughConnection(sigid, tenantId, identity('idp-f', outsider), useCase(system));
    expect(foreign.account).toBe('new_account');
    await settle();
    const { rows: foreignRows } = await sigid.db.query<{ account_id: string }>(
      'select account_id from account_links where tenant_id = $1 and sub = $2',
      [tenantId, foreign.sub],
    );
    expect(foreignRows[0]?.account_id).not.toBe(other.accountId);
    expect(await findUser(sigid.readModels, tenantId, foreign.sub)).toMatchObject({ email_verified: false });
  });
});
