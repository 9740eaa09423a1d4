import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { findInvitation } from '../read-models/invitations.ts';
import { findOrganizationMember } from '../read-models/organization-members.ts';
import { useCase } from '../services/context.ts';
import {
  acceptInvitation,
  applyInvitationGrants,
  createInvitation,
  INVITATION_ACTOR,
  openInvitation,
} from '../services/invitations.ts';
import { createOrganization } from '../services/organizations.ts';
import { createRole } from '../services/roles.ts';
import { createTenant } from '../services/tenants.ts';
import { loadConfig } from '../src/config.ts';
import { signLink } from '../src/email/links.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { runChild } from './support/crash-child.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { settled } from './support/settled.ts';

const password = 'an invited passphrase';

/**
 * Accepting an invitation writes several streams: the account and its link, the user, the
 * invitation's acceptance, the role assignments or the organization membership, and the record of
 * what was granted. A process killed between them (SIGKILL at a named step), then this process (its
 * invitation grants worker, or the person submitting the link again): the grants are there exactly
 * once, recorded once, and a link whose acceptance was never recorded still works, once.
 */
describe.runIf(postgresReachable)('invitations killed while being accepted', { timeout: 120_000 }, () => {
  const masterKey = randomBytes(32).toString('base64');
  let database: { url: string; drop: () => Promise<void> };
  let sigid: Sigid;
  let tenantId: string;
  const system = { actor: { type: 'system', id: 'test' } as const, correlationId: 'test' };
  const admin = () => useCase({ tenantId, ...system });

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const config = loadConfig({}, { databaseUrl: database.url, masterKey, dataDir: undefined, logLevel: 'silent' });
    sigid = await createSigid(config, { logger: pino({ level: 'silent' }) });
    sigid.start();
    const slug = `crash-${randomBytes(3).toString('hex')}`;
    tenantId = (
      await createTenant(sigid, { name: 'Crash Inc', slug }, useCase({ tenantId: PLATFORM_TENANT, ...system }))
    ).tenantId;
    await settle();
  });
  afterAll(async () => {
    await sigid?.close();
    await database?.drop();
  });

  const settle = async () => settled(sigid);

  const child = (env: Record<string, string>) =>
    runChild('invitation-child.ts', {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: masterKey,
      INVITATION_TENANT: tenantId,
      INVITATION_PASSWORD: password,
      ...env,
    });

  const role = async (name: string) =>
    (await createRole(sigid, { name: `${name} ${randomBytes(2).toString('hex')}` }, admin())).roleId;

  /** An invitation, and the token of its link (as the e-mail carries it). */
  async function invitation(input: { roles: string[]; organization_id?: string }) {
    await settle();
    const email = `crash.${randomBytes(4).toString('hex')}@example.test`;
    const { invitationId } = await createInvitation(sigid, { email, ...input }, admin());
    await settle();
    const row = await findInvitation(sigid.readModels, tenantId, invitationId);
    if (!row) throw new Error('no invitation');
    const token = signLink(sigid.secrets.keyring, {
      linkId: row.message_id,
      tenantId,
      purpose: 'accept_invitation',
      subject: invitationId,
      expiresAt: row.expires_at,
    });
    return { invitationId, token };
  }

  async function count(type: string, where: Record<string, string>) {
    const clauses = Object.keys(where).map((field, index) => `data->>'${field}' = $${index + 3}`);
    const { rows } = await sigid.db.query<{ count: number }>(
      `select count(*)::int as count from sigid_events where tenant_id = $1 and event_type = $2 and ${clauses.join(' and ')}`,
      [tenantId, type, ...Object.values(where)],
    );
    return rows[0]?.count ?? 0;
  }

  /** Waits (the grants worker of this process runs) until the invitation's grants are recorded. */
  async function recorded(invitationId: string) {
    const deadline = Date.now() + 20_000;
    while ((await count('invitation.grants.applied', { invitation_id: invitationId })) === 0) {
      if (Date.now() > deadline) throw new Error('the grants were never recorded');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await settle();
  }

  const acceptedSub = async (invitationId: string) => {
    await settle();
    return String((await findInvitation(sigid.readModels, tenantId, invitationId))?.accepted_sub);
  };

  /** Runs the grants again, as another worker or a retried request would: nothing more is written. */
  async function again(invitationId: string) {
    const head = await sigid.store.headPosition();
    const written = await applyInvitationGrants(sigid, tenantId, invitationId, {
      tenantId,
      actor: INVITATION_ACTOR,
      correlationId: 'again',
    });
    expect(written.position).toBeNull();
    expect(await sigid.store.headPosition()).toBe(head);
  }

  it('killed after the acceptance is recorded, before any grant: the worker grants the roles, once', async () => {
    const roles = [await role('Editor'), await role('Billing')];
    const { invitationId, token } = await invitation({ roles });
    expect(await child({ SIGID_FAILPOINTS: 'invitation.accept:after-accepted', INVITATION_TOKEN: token })).toBe(
      'SIGKILL',
    );
    const sub = await acceptedSub(invitationId);
    expect(sub).toMatch(/^sub_/);
    await recorded(invitationId);
    for (const roleId of roles) expect(await count('role.assigned', { role_id: roleId, sub })).toBe(1);
    expect(await count('invitation.grants.applied', { invitation_id: invitationId })).toBe(1);
    await again(invitationId);
  });

  it('killed midway through the grants (one role assigned): the rest are granted, each once', async () => {
    const roles = [await role('First'), await role('Second')];
    const { invitationId, token } = await invitation({ roles });
    expect(await child({ SIGID_FAILPOINTS: 'invitation.grants:after-role', INVITATION_TOKEN: token })).toBe('SIGKILL');
    const sub = await acceptedSub(invitationId);
    await recorded(invitationId);
    for (const roleId of roles) expect(await count('role.assigned', { role_id: roleId, sub })).toBe(1);
    expect(await count('invitation.grants.applied', { invitation_id: invitationId })).toBe(1);
    await again(invitationId);
  });

  it('killed after making the organization membership, before recording it: member once, recorded once', async () => {
    const roles = [await role('Lead')];
    const organizationId = (await createOrganization(sigid, { name: `org-${randomBytes(3).toString('hex')}` }, admin()))
      .organizationId;
    const { invitationId, token } = await invitation({ roles, organization_id: organizationId });
    expect(await child({ SIGID_FAILPOINTS: 'invitation.grants:before-record', INVITATION_TOKEN: token })).toBe(
      'SIGKILL',
    );
    const sub = await acceptedSub(invitationId);
    await recorded(invitationId);
    expect(await count('organization.member.added', { organization_id: organizationId, sub })).toBe(1);
    expect(await count('organization.member.updated', { organization_id: organizationId, sub })).toBe(0);
    expect(await findOrganizationMember(sigid.readModels, tenantId, organizationId, sub)).toMatchObject({ roles });
    expect(await count('role.assigned', { sub })).toBe(0);
    await again(invitationId);
  });

  it('killed mid-accept before anything of the invitation is recorded: the link still works, once', async () => {
    const roles = [await role('Late')];
    const { invitationId, token } = await invitation({ roles });
    expect(await child({ SIGID_FAILPOINTS: 'invitation.accept:before-accepted', INVITATION_TOKEN: token })).toBe(
      'SIGKILL',
    );
    await settle();
    expect(await count('invitation.accepted', { invitation_id: invitationId })).toBe(0);
    // The person had signed up before the process died: the same link now signs them in.
    const opened = await openInvitation(sigid, tenantId, token);
    expect(opened).toMatchObject({ ok: true, hasAccount: true });
    if (!opened.ok) return;
    const accepted = await acceptInvitation(sigid, opened, password, admin());
    expect(accepted).toMatchObject({ ok: true, sub: expect.stringMatching(/^sub_/) });
    const sub = await acceptedSub(invitationId);
    expect(await count('role.assigned', { role_id: roles[0] as string, sub })).toBe(1);
    expect(await count('invitation.grants.applied', { invitation_id: invitationId })).toBe(1);
    expect(await openInvitation(sigid, tenantId, token)).toEqual({ ok: false, reason: 'used' });
  });
});
