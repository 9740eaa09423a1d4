import type { Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'invitations';

export type InvitationStatus = 'pending' | 'accepted' | 'revoked';

/** A tenant's invitations: whom (the address), with which roles and organization, and how it ended. */
export interface InvitationsTable {
  tenant_id: string;
  invitation_id: string;
  /** Null once erased. */
  email: string | null;
  /** jsonb array of role ids. */
  roles: string[];
  organization_id: string | null;
  status: InvitationStatus;
  expires_at: Date;
  /** The message whose link is the one that works. */
  message_id: string;
  accepted_sub: string | null;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type InvitationRow = Selectable<InvitationsTable>;

/** The database as far as this table goes. */
export type InvitationsModel = { [tableName]: InvitationsTable };

export function findInvitation<DB extends InvitationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  invitationId: string,
): Promise<InvitationRow | undefined> {
  return narrow<InvitationsModel>(db)
    .selectFrom('invitations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('invitation_id', '=', invitationId)
    .executeTakeFirst();
}

export function listInvitations<DB extends InvitationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined; status?: InvitationStatus | undefined },
): Promise<InvitationRow[]> {
  let query = narrow<InvitationsModel>(db)
    .selectFrom('invitations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('invitation_id')
    .limit(options.limit);
  if (options.status) query = query.where('status', '=', options.status);
  if (options.after) query = query.where('invitation_id', '>', options.after);
  return query.execute();
}
