import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * Invitations: a tenant invites a person by e-mail, with roles and optionally an organization; once
 * accepted, the roles are granted (in the organization when it names one) and what was granted recorded. The invitation's address is personal data, sealed under the invitation's
 * own subject key. Its link (an e-mail message's signed link) is single-use: accepting ends the
 * invitation, and a resend's new link replaces the old one.
 */

export const invitationCreated = defineEvent({
  type: 'invitation.created',
  version: 1,
  description:
    'A person was invited by e-mail to join the tenant, with roles and optionally an organization; the message carrying the link is `message_id`.',
  schema: z.object({
    invitation_id: z.string(),
    email: z.string(),
    roles: z.array(z.string()),
    organization_id: z.string().nullable(),
    expires_at: z.string(),
    message_id: z.string(),
  }),
  personal: { subject: (data) => data.invitation_id, fields: ['email'] },
});

export const invitationResent = defineEvent({
  type: 'invitation.resent',
  version: 1,
  description: "An invitation was sent again with a new link and expiry; the previous message's link stops working.",
  schema: z.object({ invitation_id: z.string(), message_id: z.string(), expires_at: z.string() }),
});

export const invitationRevoked = defineEvent({
  type: 'invitation.revoked',
  version: 1,
  description: 'An invitation was revoked: its link stops working.',
  schema: z.object({ invitation_id: z.string() }),
});

export const invitationAccepted = defineEvent({
  type: 'invitation.accepted',
  version: 1,
  description:
    'An invitation was accepted at the hosted pages: the person (signed up or in) is the user `sub`; its roles and organization are granted next (`invitation.grants.applied`).',
  schema: z.object({
    invitation_id: z.string(),
    sub: z.string(),
    roles: z.array(z.string()),
    organization_id: z.string().nullable(),
  }),
});

/** Why a grant of an accepted invitation was not made. */
export const grantSkipReasons = ['deleted', 'organization_deleted', 'user_deleted'] as const;

export const invitationGrantsApplied = defineEvent({
  type: 'invitation.grants.applied',
  version: 1,
  description:
    'What an accepted invitation granted: without an organization its roles as tenant-level role assignments, with one the membership with those roles in it; `skipped` names each role or organization not granted (deleted since the invitation, or the user deleted).',
  schema: z.object({
    invitation_id: z.string(),
    sub: z.string(),
    /** The organization the user was made a member of, or null (none asked, or it was skipped). */
    organization_id: z.string().nullable(),
    /** The roles granted: tenant-level assignments, or the member's roles in `organization_id`. */
    roles: z.array(z.string()),
    skipped: z.array(
      z.object({ kind: z.enum(['role', 'organization']), id: z.string(), reason: z.enum(grantSkipReasons) }),
    ),
  }),
});

export const invitationEvents = [
  invitationCreated,
  invitationResent,
  invitationRevoked,
  invitationAccepted,
  invitationGrantsApplied,
] as const;

export type InvitationEvent = EventOf<(typeof invitationEvents)[number]>;
