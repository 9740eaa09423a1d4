import type { Insertable, Kysely, Selectable } from 'kysely';
import type { SigningKeyStatus } from '../commands/signing-keys.ts';
import type { PublicJwk, SigningAlg } from '../events/signing-key.ts';
import { narrow } from './narrow.ts';

export const tableName = 'signing_keys';

/** Every signing key of a tenant's issuer: public JWK, status and dates, never a private part. */
export interface SigningKeysTable {
  tenant_id: string;
  kid: string;
  alg: SigningAlg;
  status: SigningKeyStatus;
  public_jwk: PublicJwk;
  created_at: Date;
  activated_at: Date | null;
  /** Until when a superseded key stays published (null until it is superseded). */
  retire_at: Date | null;
  retired_at: Date | null;
  /** The revision of the tenant's signing-keys stream last applied to this row. */
  revision: number;
}

export type SigningKeyRow = Selectable<SigningKeysTable>;
export type NewSigningKeyRow = Insertable<SigningKeysTable>;

/** The database as far as this table goes. */
export type SigningKeysModel = { [tableName]: SigningKeysTable };

/** A public key as a JWKS lists it. */
export type PublishedJwk = PublicJwk & { kid: string; alg: SigningAlg; use: 'sig' };

export function listSigningKeys<DB extends SigningKeysModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined; statuses?: readonly SigningKeyStatus[] | undefined },
): Promise<SigningKeyRow[]> {
  let query = narrow<SigningKeysModel>(db)
    .selectFrom('signing_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('kid')
    .limit(options.limit);
  if (options.after) query = query.where('kid', '>', options.after);
  if (options.statuses) query = query.where('status', 'in', [...options.statuses]);
  return query.execute();
}

/** The order keys are listed in a key set: the signing ones first, then those about to sign, then the old ones. */
export const statusOrder: Readonly<Record<SigningKeyStatus, number>> = { active: 0, next: 1, retiring: 2, retired: 3 };

/**
 * The tenant's JWKS: the public keys a relying party should trust now, each with `kid`, `alg` and
 * `use`: the active keys (they sign), the next ones (published before they sign, so caches have them
 * when a rotation makes them active) and the superseded ones whose `retire_at` is still ahead (the
 * tokens they signed still verify). Active first, then next, then retiring; ES256 before RS256.
 */
export async function publicJwks<DB extends SigningKeysModel>(
  db: Kysely<DB>,
  tenantId: string,
  now: Date = new Date(),
): Promise<{ keys: PublishedJwk[] }> {
  const rows = await narrow<SigningKeysModel>(db)
    .selectFrom('signing_keys')
    .select(['kid', 'alg', 'status', 'public_jwk', 'retire_at'])
    .where('tenant_id', '=', tenantId)
    .where('status', '<>', 'retired')
    .execute();
  const published = rows
    .filter((row) => row.status !== 'retiring' || (row.retire_at !== null && row.retire_at > now))
    .sort(
      (a, b) =>
        statusOrder[a.status] - statusOrder[b.status] || a.alg.localeCompare(b.alg) || a.kid.localeCompare(b.kid),
    );
  return { keys: published.map((row) => ({ ...row.public_jwk, kid: row.kid, alg: row.alg, use: 'sig' })) };
}

/**
 * When the tenant's key set next changes by itself: the earliest `retire_at` of a key still
 * published (null: none is retiring). A provider built from `signingKeySet` keeps publishing a
 * retiring key until it is built again, so the OIDC layer rebuilds it then.
 */
export async function nextRetireAt<DB extends SigningKeysModel>(
  db: Kysely<DB>,
  tenantId: string,
  now: Date = new Date(),
): Promise<Date | null> {
  const row = await narrow<SigningKeysModel>(db)
    .selectFrom('signing_keys')
    .select((eb) => eb.fn.min('retire_at').as('retire_at'))
    .where('tenant_id', '=', tenantId)
    .where('status', '=', 'retiring')
    .where('retire_at', '>', now)
    .executeTakeFirst();
  return row?.retire_at ? new Date(row.retire_at) : null;
}
