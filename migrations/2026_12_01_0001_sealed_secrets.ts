import { type Kysely, sql } from 'kysely';

/**
 * One sealed-secrets store. API key hashes and webhook signing secrets move into `sealed_secrets`
 * (one row per tenant, kind and id; `owner_id` groups a kind's secrets under the thing they belong
 * to, such as an endpoint), which every later kind of secret joins. Subject keys and stored
 * idempotent answers keep their own rows (a tombstone, a claim) but record, like every sealed
 * value, the id of the master key that sealed them, so a rotation can find what is left to re-wrap.
 *
 * A migration has no master key: moved values keep their bytes. Webhook secrets were already sealed
 * with the associated data the store uses (`sigid:webhook-secret:{tenant}:{id}`) and get key id null
 * ("sealed before key ids": opened with the configured keys); API key hashes were stored bare and get
 * key id `unsealed`, which SigID seals on its next start. A secret moved here is active: its event
 * was appended long ago (`activated_position` null: before any event that activates a secret).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table sealed_secrets (
      tenant_id text not null,
      kind text not null,
      id text not null,
      owner_id text,
      key_id text,
      sealed bytea not null,
      activated_at timestamptz,
      activated_position bigint,
      expires_at timestamptz,
      created_at timestamptz not null default now(),
      primary key (tenant_id, kind, id)
    )`.execute(db);
  // Bearer keys name their id, not their tenant.
  await sql`create index sealed_secrets_by_id on sealed_secrets (kind, id)`.execute(db);
  await sql`create index sealed_secrets_by_owner on sealed_secrets (tenant_id, kind, owner_id) where owner_id is not null`.execute(
    db,
  );
  await sql`
    insert into sealed_secrets (tenant_id, kind, id, owner_id, key_id, sealed, activated_at, expires_at, created_at)
    select tenant_id, 'webhook-secret', secret_id, endpoint_id, null, sealed, created_at, expires_at, created_at
    from webhook_secrets`.execute(db);
  await sql`
    insert into sealed_secrets (tenant_id, kind, id, owner_id, key_id, sealed, activated_at, expires_at, created_at)
    select tenant_id, 'api-key', key_id, null, 'unsealed', secret_hash, created_at, null, created_at
    from api_key_secrets`.execute(db);
  await sql`drop table webhook_secrets`.execute(db);
  await sql`drop table api_key_secrets`.execute(db);
  await sql`alter table subject_keys add column key_id text`.execute(db);
  await sql`alter table idempotency_keys add column response_key_id text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table idempotency_keys drop column response_key_id`.execute(db);
  await sql`alter table subject_keys drop column key_id`.execute(db);
  await sql`
    create table api_key_secrets (
      key_id text primary key,
      tenant_id text not null,
      secret_hash bytea not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table webhook_secrets (
      tenant_id text not null,
      secret_id text not null,
      endpoint_id text not null,
      sealed bytea not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz,
      primary key (tenant_id, secret_id)
    )`.execute(db);
  await sql`create index webhook_secrets_endpoint on webhook_secrets (tenant_id, endpoint_id)`.execute(db);
  // Only what the old schema can hold comes back: bare hashes and values sealed before key ids.
  await sql`
    insert into api_key_secrets (key_id, tenant_id, secret_hash, created_at)
    select id, tenant_id, sealed, created_at from sealed_secrets where kind = 'api-key' and key_id = 'unsealed'`.execute(
    db,
  );
  await sql`
    insert into webhook_secrets (tenant_id, secret_id, endpoint_id, sealed, created_at, expires_at)
    select tenant_id, id, owner_id, sealed, created_at, expires_at from sealed_secrets
    where kind = 'webhook-secret' and key_id is null`.execute(db);
  await sql`drop table sealed_secrets`.execute(db);
}
