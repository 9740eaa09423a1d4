import type { InvitationsTable } from '../read-models/invitations.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

type InvitationEventAt = { tenantId: string; revision: number; time: Date; data: { invitation_id: string } };

/** The `invitations` read model: one row per invitation, whatever became of it. */
export const invitationsProjection = defineProjection({
  name: 'invitations',
  version: 1,
  tables: ['invitations'],
  on: {
    async 'invitation.created'(trx, event) {
      const { invitation_id, email, roles, organization_id, expires_at, message_id } = event.data;
      await trx
        .insertInto('invitations')
        .values({
          tenant_id: event.tenantId,
          invitation_id,
          email,
          roles: JSON.stringify(roles) as unknown as InvitationsTable['roles'],
          organization_id,
          status: 'pending',
          expires_at: new Date(expires_at),
          message_id,
          accepted_sub: null,
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'invitation_id']).doNothing())
        .execute();
    },
    async 'invitation.resent'(trx, event) {
      await update(trx, event, { message_id: event.data.message_id, expires_at: new Date(event.data.expires_at) });
    },
    async 'invitation.revoked'(trx, event) {
      await update(trx, event, { status: 'revoked' });
    },
    async 'invitation.accepted'(trx, event) {
      await update(trx, event, { status: 'accepted', accepted_sub: event.data.sub });
    },
    // What was granted is in the event (and the role and organization read models); the row's revision moves.
    async 'invitation.grants.applied'(trx, event) {
      await update(trx, event, {});
    },
  },
});

/** Applies a change once: a row already at or past this revision has seen it. */
async function update(
  trx: ProjectionTransaction,
  event: InvitationEventAt,
  values: Partial<InvitationsTable>,
): Promise<void> {
  await trx
    .updateTable('invitations')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('invitation_id', '=', event.data.invitation_id)
    .where('revision', '<', event.revision)
    .execute();
}
