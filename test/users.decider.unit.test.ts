import { describe, it } from 'vitest';
import { accountDecider } from '../commands/account.ts';
import { invitationDecider } from '../commands/invitation.ts';
import { userDecider } from '../commands/user.ts';
import type { AccountEvent } from '../events/account.ts';
import type { InvitationEvent } from '../events/invitation.ts';
import type { UserEvent } from '../events/user.ts';
import { specFor } from './support/given-when-then.ts';

const user = specFor(userDecider);
const account = specFor(accountDecider);

const created = {
  type: 'user.created',
  data: { sub: 'sub_1', email: 'ada@example.com', email_verified: false },
} satisfies UserEvent;
const blocked = { type: 'user.blocked', data: { sub: 'sub_1' } } satisfies UserEvent;
const deleted = { type: 'user.deleted', data: { sub: 'sub_1' } } satisfies UserEvent;
const erased = { type: 'subject.personal_data.erased' as const, data: { subject_id: 'sub_1' } };

describe('user decider', () => {
  it('creates a user once: a retried link decides nothing', () => {
    user([])
      .when({ type: 'create_user', sub: 'sub_1', email: 'ada@example.com', email_verified: false })
      .thenEmits([created]);
    user([created])
      .when({ type: 'create_user', sub: 'sub_1', email: 'ada@example.com', email_verified: false })
      .thenEmits([]);
  });

  it('records only what a profile change changes, with the previous values', () => {
    user([created])
      .when({ type: 'update_profile', changes: { name: 'Ada', given_name: null, metadata: { plan: 'pro' } } })
      .thenEmits([
        {
          type: 'user.updated',
          data: {
            sub: 'sub_1',
            changes: { name: 'Ada', metadata: { plan: 'pro' } },
            previous: { name: null, metadata: {} },
          },
        },
      ]);
    user([created])
      .when({ type: 'update_profile', changes: { name: null } })
      .thenEmits([]);
  });

  it("follows the account's e-mail status only when it changed", () => {
    user([created]).when({ type: 'sync_account', email_verified: false }).thenEmits([]);
    user([created])
      .when({ type: 'sync_account', email_verified: true })
      .thenEmits([
        {
          type: 'user.updated',
          data: { sub: 'sub_1', changes: { email_verified: true }, previous: { email_verified: false } },
        },
      ]);
  });

  it('blocks and unblocks, each a no-op when already so', () => {
    user([created]).when({ type: 'block_user' }).thenEmits([blocked]);
    user([created, blocked]).when({ type: 'block_user' }).thenEmits([]);
    user([created, blocked])
      .when({ type: 'unblock_user' })
      .thenEmits([{ type: 'user.unblocked', data: { sub: 'sub_1' } }]);
    user([created]).when({ type: 'unblock_user' }).thenEmits([]);
  });

  it('deletes once; a deleted or unknown user takes no other command', () => {
    user([created, blocked]).when({ type: 'delete_user' }).thenEmits([deleted]);
    user([created, deleted]).when({ type: 'delete_user' }).thenEmits([]);
    user([created, deleted, erased]).when({ type: 'delete_user' }).thenEmits([]);
    for (const command of [
      { type: 'update_profile', changes: { name: 'x' } },
      { type: 'block_user' },
      { type: 'unblock_user' },
      { type: 'sync_account', email_verified: true },
    ] as const) {
      user([created, deleted]).when(command).thenThrows('not_found');
      user([]).when(command).thenThrows('not_found');
    }
    user([]).when({ type: 'delete_user' }).thenThrows('not_found');
    // A deleted user's sub is never made again.
    user([created, deleted])
      .when({ type: 'create_user', sub: 'sub_1', email: null, email_verified: false })
      .thenEmits([]);
  });
});

describe('account links', () => {
  const opened = {
    type: 'account.created',
    data: { account_id: 'acc_1', email: 'ada@example.com', method: 'password' },
  } satisfies AccountEvent;
  const linked = {
    type: 'account.linked',
    data: { account_id: 'acc_1', tenant_id: 'ten_1', sub: 'sub_1' },
  } satisfies AccountEvent;
  const unlinked = {
    type: 'account.unlinked',
    data: { account_id: 'acc_1', tenant_id: 'ten_1', sub: 'sub_1' },
  } satisfies AccountEvent;

  it('unlinks the sub it holds at a tenant, once; another sub or no link decides nothing', () => {
    account([opened, linked]).when({ type: 'unlink_tenant', tenant_id: 'ten_1', sub: 'sub_1' }).thenEmits([unlinked]);
    account([opened, linked, unlinked]).when({ type: 'unlink_tenant', tenant_id: 'ten_1', sub: 'sub_1' }).thenEmits([]);
    account([opened, linked]).when({ type: 'unlink_tenant', tenant_id: 'ten_1', sub: 'sub_2' }).thenEmits([]);
  });

  it('links the tenant again under a new sub once unlinked', () => {
    account([opened, linked]).when({ type: 'link_tenant', tenant_id: 'ten_1', sub: 'sub_2' }).thenEmits([]);
    account([opened, linked, unlinked])
      .when({ type: 'link_tenant', tenant_id: 'ten_1', sub: 'sub_2' })
      .thenEmits([{ type: 'account.linked', data: { account_id: 'acc_1', tenant_id: 'ten_1', sub: 'sub_2' } }]);
  });
});

describe('invitation decider', () => {
  const invitation = specFor(invitationDecider);
  const create = {
    type: 'create_invitation' as const,
    invitation_id: 'inv_1',
    email: 'grace@example.com',
    roles: ['editor'],
    organization_id: null,
    expires_at: '2026-12-09T00:00:00.000Z',
    message_id: 'eml_1',
  };
  const { type: _type, ...createdData } = create;
  const created = { type: 'invitation.created', data: createdData } satisfies InvitationEvent;
  const before = new Date('2026-12-08T00:00:00.000Z');
  const accepted = {
    type: 'invitation.accepted',
    data: { invitation_id: 'inv_1', sub: 'sub_1', roles: ['editor'], organization_id: null },
  } satisfies InvitationEvent;

  it('creates once; accepts once, through its current link, before it expires', () => {
    invitation([]).when(create).thenEmits([created]);
    invitation([created]).when(create).thenEmits([]);
    invitation([created])
      .when({ type: 'accept_invitation', sub: 'sub_1', link_id: 'eml_1', now: before })
      .thenEmits([accepted]);
    invitation([created, accepted])
      .when({ type: 'accept_invitation', sub: 'sub_2', link_id: 'eml_1', now: before })
      .thenThrows('invitation_not_pending');
    invitation([created])
      .when({ type: 'accept_invitation', sub: 'sub_1', link_id: 'eml_1', now: new Date('2026-12-09T00:00:00.000Z') })
      .thenThrows('invitation_not_pending');
  });

  it('a resend replaces the link; a revoke ends it; neither after acceptance', () => {
    const resent = {
      type: 'invitation.resent',
      data: { invitation_id: 'inv_1', message_id: 'eml_2', expires_at: '2026-12-10T00:00:00.000Z' },
    } satisfies InvitationEvent;
    invitation([created])
      .when({ type: 'resend_invitation', message_id: 'eml_2', expires_at: '2026-12-10T00:00:00.000Z' })
      .thenEmits([resent]);
    invitation([created, resent])
      .when({ type: 'accept_invitation', sub: 'sub_1', link_id: 'eml_1', now: before })
      .thenThrows('invitation_not_pending');
    invitation([created])
      .when({ type: 'revoke_invitation' })
      .thenEmits([{ type: 'invitation.revoked', data: { invitation_id: 'inv_1' } }]);
    invitation([created, accepted]).when({ type: 'revoke_invitation' }).thenThrows('invitation_not_pending');
    invitation([created, accepted])
      .when({ type: 'resend_invitation', message_id: 'eml_2', expires_at: '2026-12-10T00:00:00.000Z' })
      .thenThrows('invitation_not_pending');
    invitation([]).when({ type: 'revoke_invitation' }).thenThrows('not_found');
  });

  it("records an accepted invitation's grants once, for the user who accepted, and only once accepted", () => {
    const grants = {
      organization_id: null,
      roles: ['editor'],
      skipped: [{ kind: 'role' as const, id: 'rol_gone', reason: 'deleted' as const }],
    };
    const applied = {
      type: 'invitation.grants.applied',
      data: { invitation_id: 'inv_1', sub: 'sub_1', ...grants },
    } satisfies InvitationEvent;
    invitation([created, accepted])
      .when({ type: 'record_grants', ...grants })
      .thenEmits([applied]);
    invitation([created, accepted, applied])
      .when({ type: 'record_grants', ...grants })
      .thenEmits([]);
    invitation([created])
      .when({ type: 'record_grants', ...grants })
      .thenThrows('invitation_not_pending');
  });
});
