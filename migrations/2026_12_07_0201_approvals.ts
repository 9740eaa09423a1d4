import { type Kysely, sql } from 'kysely';

/**
 * CIBA: applications get a token delivery mode and a notification endpoint (null for those created
 * before); the approvals read model holds each approval request, its decision and whether the
 * issuer was told it (the delivery worker finds the decisions not delivered yet by the partial index).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table applications add column backchannel_token_delivery_mode text`.execute(db);
  await sql`alter table applications add column backchannel_client_notification_endpoint text`.execute(db);
  await sql`
    create table approvals (
      tenant_id text not null,
      approval_id text not null,
      client_id text not null,
      sub text not null,
      status text not null,
      scopes jsonb not null,
      resource text,
      resource_scopes jsonb not null,
      binding_message text,
      delivery_mode text not null,
      expires_at timestamptz not null,
      decided_at timestamptz,
      delivered boolean not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, approval_id)
    )`.execute(db);
  await sql`create index approvals_sub on approvals (tenant_id, sub, approval_id)`.execute(db);
  await sql`create index approvals_undelivered on approvals (decided_at) where status <> 'pending' and not delivered`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table approvals`.execute(db);
  await sql`alter table applications drop column backchannel_client_notification_endpoint`.execute(db);
  await sql`alter table applications drop column backchannel_token_delivery_mode`.execute(db);
}
