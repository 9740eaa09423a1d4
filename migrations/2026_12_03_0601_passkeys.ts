import { type Kysely, sql } from 'kysely';

/**
 * Passkeys: the `passkeys` read model (projected from `passkey.*`: a credential found by its id at
 * a usernameless sign-in), and `webauthn_challenges`, the ceremonies' single-use challenges
 * (operational state: a row lives two minutes and is deleted when used).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table passkeys (
      credential_id text primary key,
      passkey_id text not null unique,
      account_id text not null,
      public_key text not null,
      counter bigint not null,
      transports jsonb not null,
      device_type text not null,
      backed_up boolean not null,
      created_at timestamptz not null,
      last_used_at timestamptz
    )`.execute(db);
  await sql`create index passkeys_account on passkeys (account_id)`.execute(db);
  await sql`
    create table webauthn_challenges (
      id text primary key,
      challenge text not null,
      account_id text,
      expires_at timestamptz not null
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table webauthn_challenges`.execute(db);
  await sql`drop table passkeys`.execute(db);
}
