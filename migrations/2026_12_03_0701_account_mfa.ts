import { type Kysely, sql } from 'kysely';

/**
 * SigID accounts' second factors, for reports and operators (global, like `accounts`): the enrolled
 * authenticator app and how many recovery codes are left. Projected from the accounts' mfa streams;
 * no seed or code hash (those are in `sealed_secrets`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table account_mfa (
      account_id text primary key,
      totp_factor_id text not null,
      totp_enrolled_at timestamptz not null,
      recovery_batch_id text,
      recovery_codes_remaining integer not null,
      updated_at timestamptz not null
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table account_mfa`.execute(db);
}
