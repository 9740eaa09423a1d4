import { type Kysely, sql } from 'kysely';

/** The invitations read model: a tenant's invitations, newest id last, listed by status. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table invitations (
      tenant_id text not null,
      invitation_id text not null,
      email text,
      roles jsonb not null,
      organization_id text,
      status text not null,
      expires_at timestamptz not null,
      message_id text not null,
      accepted_sub text,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, invitation_id)
    )`.execute(db);
  await sql`create index invitations_status on invitations (tenant_id, status, invitation_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table invitations`.execute(db);
}
