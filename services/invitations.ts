import { accountAggregate } from '../commands/account.ts';
import type { Aggregate } from '../commands/aggregate.ts';
import { invitationAggregate } from '../commands/invitation.ts';
import { organizationAggregate } from '../commands/organization.ts';
import { roleAggregate } from '../commands/role.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { userAggregate } from '../commands/user.ts';
import type { SigidEvent } from '../events/catalog.ts';
import type { grantSkipReasons } from '../events/invitation.ts';
import { findAccount } from '../read-models/accounts.ts';
import { findInvitation, type InvitationRow } from '../read-models/invitations.ts';
import { findOrganization } from '../read-models/organizations.ts';
import { findRole } from '../read-models/roles.ts';
import { findTenant } from '../read-models/tenants.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ConflictError, NotFoundError, ProblemError, type ProblemIssue } from '../src/errors.ts';
import type { WriteContext } from '../src/event-log.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import { accountOfEmail, checkPasswordSignIn, linkAccount, signUpWithPassword } from './accounts.ts';
import { type UseCase, type Written, writtenTogether } from './context.ts';
import { checkLink, queueEmail } from './email.ts';
import { userBlocked } from './sign-in.ts';

type Change = UseCase & { ifMatch?: number | undefined };

/** How long an invitation's link works when the request does not say: 7 days (the longest a link may). */
export const DEFAULT_INVITATION_TTL_SECONDS = 7 * 24 * 3600;

export interface NewInvitation {
  email: string;
  roles?: string[] | undefined;
  organization_id?: string | null | undefined;
  expires_in_seconds?: number | undefined;
}

/** An aggregate instance's state as its stream has it now (the write side, not a read model). */
async function currentState<Command, State, Event extends SigidEvent>(
  sigid: Sigid,
  aggregate: Aggregate<Command, State, Event>,
  tenantId: string,
  id: string,
): Promise<State> {
  const history = await sigid.log.readStream(aggregate.stream(tenantId, id));
  return history.reduce(
    (current, event) => aggregate.decider.evolve(current, event as never),
    aggregate.decider.initialState(),
  );
}

const invitationState = (sigid: Sigid, tenantId: string, invitationId: string) =>
  currentState(sigid, invitationAggregate, tenantId, invitationId);

/**
 * Checks what an invitation promises: each role one of the tenant's roles (`roles.<index>`,
 * `unknown_role`) and the organization one of its organizations (`organization_id`,
 * `unknown_organization`); a 400 naming each one that is not, before anything is written.
 */
async function checkGrants(sigid: Sigid, tenantId: string, roles: string[], organizationId: string | null) {
  const issues: ProblemIssue[] = [];
  for (const [index, roleId] of roles.entries()) {
    if (!(await findRole(sigid.readModels, tenantId, roleId))) {
      issues.push({ path: `roles.${index}`, message: `No role ${roleId} in this tenant.`, code: 'unknown_role' });
    }
  }
  if (organizationId !== null && !(await findOrganization(sigid.readModels, tenantId, organizationId))) {
    issues.push({
      path: 'organization_id',
      message: `No organization ${organizationId} in this tenant.`,
      code: 'unknown_organization',
    });
  }
  if (issues.length > 0) {
    throw new ProblemError(
      'invalid_request',
      "An invitation's roles and organization must be the tenant's own.",
      issues,
    );
  }
}

/** Queues the invitation's e-mail: a signed link to the tenant's `/invitation` page, expiring with it. */
async function sendInvitation(sigid: Sigid, invitationId: string, email: string, expiresAt: Date, context: UseCase) {
  const tenant = await findTenant(sigid.readModels, context.tenantId);
  if (!tenant) throw new NotFoundError('The tenant');
  return queueEmail(
    sigid,
    {
      tenantId: context.tenantId,
      subjectId: invitationId,
      to: email,
      template: 'invitation',
      params: {},
      link: { url: `${sigid.config.publicUrl}/t/${tenant.slug}/invitation`, expiresAt },
    },
    context,
  );
}

/**
 * Invites a person: queues the e-mail with its signed link (`email.queued`), then records
 * `invitation.created` naming that message. Ids come from `context.random`, so a request retried
 * with its Idempotency-Key repeats each step as a no-op; a process that dies between the two has
 * sent a link the page refuses (no such invitation) until the retry records it.
 */
export async function createInvitation(
  sigid: Sigid,
  input: NewInvitation,
  context: UseCase,
): Promise<{ invitationId: string; written: Written }> {
  const roles = [...new Set(input.roles ?? [])];
  const organizationId = input.organization_id ?? null;
  await checkGrants(sigid, context.tenantId, roles, organizationId);
  const invitationId = context.random.id('inv');
  const expiresAt = new Date(Date.now() + (input.expires_in_seconds ?? DEFAULT_INVITATION_TTL_SECONDS) * 1000);
  const email = input.email.trim();
  const queued = await sendInvitation(sigid, invitationId, email, expiresAt, context);
  failpoint('invitation.create:after-email');
  const created = await handleCommand(
    sigid.log,
    invitationAggregate,
    invitationId,
    {
      type: 'create_invitation',
      invitation_id: invitationId,
      email,
      roles,
      organization_id: organizationId,
      expires_at: expiresAt.toISOString(),
      message_id: queued.messageId,
    },
    context,
  );
  return { invitationId, written: writtenTogether(queued.written, created) };
}

/** Sends a pending invitation again with a new link and expiry; the old link stops working. */
export async function resendInvitation(
  sigid: Sigid,
  invitation: InvitationRow,
  expiresInSeconds: number | undefined,
  context: Change,
): Promise<Written> {
  const state = await invitationState(sigid, context.tenantId, invitation.invitation_id);
  if (state.status !== 'pending')
    throw new ConflictError('invitation_not_pending', `The invitation was ${state.status} already.`);
  if (!invitation.email) throw new NotFoundError('The invitation');
  const expiresAt = new Date(Date.now() + (expiresInSeconds ?? DEFAULT_INVITATION_TTL_SECONDS) * 1000);
  const { ifMatch: _pinned, ...write } = context;
  const queued = await sendInvitation(sigid, invitation.invitation_id, invitation.email, expiresAt, write);
  const resent = await handleCommand(
    sigid.log,
    invitationAggregate,
    invitation.invitation_id,
    { type: 'resend_invitation', message_id: queued.messageId, expires_at: expiresAt.toISOString() },
    context,
  );
  return writtenTogether(queued.written, resent);
}

/** Revokes a pending invitation: its link stops working. */
export function revokeInvitation(sigid: Sigid, invitationId: string, context: Change): Promise<Written> {
  return handleCommand(sigid.log, invitationAggregate, invitationId, { type: 'revoke_invitation' }, context);
}

export type OpenedInvitation =
  | { ok: true; invitation: InvitationRow & { email: string }; linkId: string; hasAccount: boolean }
  | { ok: false; reason: 'invalid' | 'expired' | 'used' | 'wrong_purpose' };

/**
 * What an invitation link opens: the pending invitation it is the current link of, or why not (a
 * bad or foreign token, an expired one, one replaced by a resend, a revoked or accepted invitation).
 */
export async function openInvitation(sigid: Sigid, tenantId: string, token: string): Promise<OpenedInvitation> {
  const checked = await checkLink(sigid, token, 'accept_invitation', tenantId);
  if (!checked.ok) return checked;
  const invitation = await findInvitation(sigid.readModels, tenantId, checked.link.subject);
  if (!invitation || invitation.email === null || invitation.message_id !== checked.link.linkId)
    return { ok: false, reason: 'invalid' };
  if (invitation.status === 'accepted') return { ok: false, reason: 'used' };
  if (invitation.status === 'revoked') return { ok: false, reason: 'invalid' };
  if (invitation.expires_at.getTime() <= Date.now()) return { ok: false, reason: 'expired' };
  const hasAccount = (await accountOfEmail(sigid, invitation.email)) !== undefined;
  return { ok: true, invitation: { ...invitation, email: invitation.email }, linkId: checked.link.linkId, hasAccount };
}

/**
 * Accepts an invitation at the hosted pages: signs the person in with the password of the account
 * the invited address has, or signs them up with it (the link proves the address, so it is
 * verified); links the account to the tenant (its user), records `invitation.accepted` with the
 * invitation's roles and organization, then grants them (`applyInvitationGrants`) and waits for the
 * read models, so the person's next token carries them. Each step before the acceptance is safe to
 * run again: a person whose first try died midway submits the form again and signs in where they
 * had signed up. Grants a crash left undone after it are made by the invitation grants worker.
 */
export async function acceptInvitation(
  sigid: Sigid,
  opened: Extract<OpenedInvitation, { ok: true }>,
  password: string,
  context: UseCase,
): Promise<{ ok: true; sub: string } | { ok: false; reason: 'invalid_credentials' | 'user_blocked' }> {
  const email = opened.invitation.email;
  let accountId: string | null;
  if (opened.hasAccount) {
    accountId = await checkPasswordSignIn(sigid, email, password);
  } else {
    const made = await signUpWithPassword(sigid, { email, password }, context);
    accountId = made.status === 'created' ? made.accountId : null;
    if (made.status === 'created') {
      await sigid.projections.waitFor(made.written.position ?? 0, 5000, { types: made.written.types });
    }
  }
  if (!accountId) return { ok: false, reason: 'invalid_credentials' };
  const account = await findAccount(sigid.readModels, accountId);
  if (account && !account.email_verified) {
    const verified = await handleCommand(
      sigid.log,
      accountAggregate,
      accountId,
      { type: 'verify_email' },
      { ...context, tenantId: PLATFORM_TENANT },
    );
    if (verified.position !== null) await sigid.projections.waitFor(verified.position, 5000, { types: verified.types });
  }
  const { sub } = await linkAccount(sigid, accountId, context.tenantId, context);
  if (await userBlocked(sigid, context.tenantId, sub)) return { ok: false, reason: 'user_blocked' };
  failpoint('invitation.accept:before-accepted');
  const invitationId = opened.invitation.invitation_id;
  await handleCommand(
    sigid.log,
    invitationAggregate,
    invitationId,
    { type: 'accept_invitation', sub, link_id: opened.linkId, now: new Date() },
    { ...context, actor: { type: 'user', id: sub } },
  );
  failpoint('invitation.accept:after-accepted');
  const granted = await applyInvitationGrants(sigid, context.tenantId, invitationId, {
    tenantId: context.tenantId,
    actor: INVITATION_ACTOR,
    correlationId: context.correlationId,
  });
  // Read your writes: the person's first token, right after this page, carries what was granted.
  if (granted.position !== null) await sigid.projections.waitFor(granted.position, 5000, { types: granted.types });
  return { ok: true, sub };
}

/** The actor an accepted invitation's grants are written under. */
export const INVITATION_ACTOR = { type: 'system', id: 'invitations' } as const;

type Skipped = { kind: 'role' | 'organization'; id: string; reason: (typeof grantSkipReasons)[number] };

/**
 * Grants what an accepted invitation promises, then records it (`invitation.grants.applied`, with
 * what was skipped): without an organization its roles as tenant-level role assignments; with one
 * the membership of that organization holding those roles (added to any it holds), and no
 * tenant-level role. A role or organization deleted since the invitation is skipped, as is
 * everything when the user was deleted. Every step is idempotent (an assignment or a membership
 * role held already writes nothing, and the record is made once), so running it again after a
 * crash — the acceptance's own request, or the invitation grants worker after a restart — grants
 * each thing once. A no-op for an invitation not accepted, or whose grants are recorded.
 */
export async function applyInvitationGrants(
  sigid: Sigid,
  tenantId: string,
  invitationId: string,
  context: WriteContext,
): Promise<Written> {
  const write = { ...context, tenantId };
  const invitation = await invitationState(sigid, tenantId, invitationId);
  if (invitation.status !== 'accepted' || invitation.sub === null || invitation.grants_applied) {
    return { position: null, types: [] };
  }
  const sub = invitation.sub;
  const writes: Written[] = [];
  const skipped: Skipped[] = [];
  const granted: string[] = [];
  let organizationId: string | null = null;
  const user = await currentState(sigid, userAggregate, tenantId, sub);
  if (user.status === 'absent' || user.status === 'deleted') {
    for (const id of invitation.roles) skipped.push({ kind: 'role', id, reason: 'user_deleted' });
    if (invitation.organization_id !== null) {
      skipped.push({ kind: 'organization', id: invitation.organization_id, reason: 'user_deleted' });
    }
  } else {
    const live: string[] = [];
    for (const roleId of invitation.roles) {
      const role = await currentState(sigid, roleAggregate, tenantId, roleId);
      if (role.status === 'active') live.push(roleId);
      else skipped.push({ kind: 'role', id: roleId, reason: 'deleted' });
    }
    if (invitation.organization_id === null) {
      for (const roleId of live) {
        try {
          writes.push(
            await handleCommand(
              sigid.log,
              roleAggregate,
              roleId,
              { type: 'assign_role', assignment: { sub, organization_id: null } },
              write,
            ),
          );
          granted.push(roleId);
        } catch (error) {
          // Deleted between the look and the assignment.
          if (!(error instanceof NotFoundError)) throw error;
          skipped.push({ kind: 'role', id: roleId, reason: 'deleted' });
        }
        failpoint('invitation.grants:after-role');
      }
    } else {
      try {
        writes.push(
          await handleCommand(
            sigid.log,
            organizationAggregate,
            invitation.organization_id,
            { type: 'grant_member_roles', sub, roles: live },
            write,
          ),
        );
        organizationId = invitation.organization_id;
        granted.push(...live);
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        skipped.push({ kind: 'organization', id: invitation.organization_id, reason: 'deleted' });
        for (const id of live) skipped.push({ kind: 'role', id, reason: 'organization_deleted' });
      }
    }
  }
  failpoint('invitation.grants:before-record');
  writes.push(
    await handleCommand(
      sigid.log,
      invitationAggregate,
      invitationId,
      { type: 'record_grants', organization_id: organizationId, roles: granted, skipped },
      write,
    ),
  );
  return writtenTogether(...writes);
}
