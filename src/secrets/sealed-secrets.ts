import type { Kysely } from 'kysely';
import type { ReadModels } from '../../read-models/database.ts';
import type { SealedSecretRow } from '../../read-models/sealed-secrets.ts';
import type { Database, Queryable } from '../db/database.ts';
import type { MasterKeyRing } from './keyring.ts';

/**
 * Every kind of secret SigID keeps. A new kind (client secrets, signing keys, TOTP seeds, vault
 * tokens, wallet keys) is one more name here; the store, its follow-ups and the master-key rotation
 * then handle it. `subject-key` and `idempotency` (stored idempotent answers) are sealed by this
 * module but kept in their own tables (a subject key leaves a tombstone, an answer belongs to its
 * claim).
 */
export const secretKinds = [
  'api-key',
  'webhook-secret',
  'client-secret',
  'subject-key',
  'idempotency',
  'password',
  'pepper',
  'signing-key',
  /** A SigID account's TOTP seed (pending until its `mfa.totp_enrolled`, which clears its expiry). */
  'totp',
  /** A batch of a SigID account's recovery codes: their argon2id hashes under one salt, never the codes. */
  'recovery-code',
  /** An SSO connection's client secret at the customer's IdP (OIDC `client_secret`). */
  'connection-secret',
] as const;
export type SecretKind = (typeof secretKinds)[number];

/** A bare API key hash moved in by the sealed-secrets migration; sealed on the next start. */
export const UNSEALED = 'unsealed';

/** The associated data a value is sealed with: moved anywhere else (another tenant, kind or id), it fails. */
export const sealContext = (kind: SecretKind, scope: string, id: string) => `sigid:${kind}:${scope}:${id}`;

export interface PutOptions {
  /** What the secret belongs to (a webhook secret's endpoint): `deleteOwned` removes them together. */
  ownerId?: string | null;
  /**
   * False (the default): stored inactive, so it never authenticates or signs until its creating
   * event is seen (`activateSecret`). A secret whose event never landed stays inert.
   */
  active?: boolean;
  expiresAt?: Date | null;
}

/**
 * The sealed-secrets store: secrets put, read, expired and deleted by (tenant, kind, id), each sealed
 * with AES-256-GCM under the current master key, bound to tenant, kind and id as associated data,
 * with the id of the key that sealed it. Events carry only a secret's id. Follow-ups that an event
 * decides (activate, expire, delete) are the statement functions below, which the `secrets`
 * reactor (`projections/secrets.ts`) runs in its checkpoint's transaction.
 */
export class SealedSecrets {
  readonly db: Kysely<ReadModels>;
  /** The same database, for statements on hot paths that kysely built once and PostgreSQL prepares. */
  readonly database: Queryable;
  readonly keyring: MasterKeyRing;

  constructor(database: Database, keyring: MasterKeyRing) {
    this.db = database.kysely<ReadModels>();
    this.database = database;
    this.keyring = keyring;
  }

  /** Seals `value` for a table that keeps its own rows (subject keys, idempotent answers). */
  seal(kind: SecretKind, scope: string, id: string, value: Uint8Array): { keyId: string; sealed: Buffer } {
    return this.keyring.seal(value, sealContext(kind, scope, id));
  }

  /** Opens what `seal` made; throws SealedValueUnreadable when no configured master key opens it. */
  open(kind: SecretKind, scope: string, id: string, keyId: string | null, sealed: Uint8Array): Buffer {
    if (keyId === UNSEALED && kind === 'api-key') return Buffer.from(sealed);
    return this.keyring.open(keyId, sealed, sealContext(kind, scope, id));
  }

  /** Opens a row read from `sealed_secrets`. */
  openRow(row: Pick<SealedSecretRow, 'tenant_id' | 'kind' | 'id' | 'key_id' | 'sealed'>): Buffer {
    return this.open(row.kind as SecretKind, row.tenant_id, row.id, row.key_id, row.sealed);
  }

  /** Stores a new secret (inactive unless `active`); a second put of the same (tenant, kind, id) fails. */
  async put(tenantId: string, kind: SecretKind, id: string, value: Uint8Array, options: PutOptions = {}) {
    const { keyId, sealed } = this.seal(kind, tenantId, id, value);
    await this.db
      .insertInto('sealed_secrets')
      .values({
        tenant_id: tenantId,
        kind,
        id,
        owner_id: options.ownerId ?? null,
        key_id: keyId,
        sealed,
        activated_at: options.active ? new Date() : null,
        expires_at: options.expiresAt ?? null,
      })
      // A retried request (same ids, same secret, from its seeded source) stores it again: the first copy stays.
      .onConflict((oc) => oc.columns(['tenant_id', 'kind', 'id']).doNothing())
      .execute();
  }

  /** The secret, if it is active and not expired. */
  async get(tenantId: string, kind: SecretKind, id: string, now = new Date()): Promise<Buffer | undefined> {
    const row = await this.db
      .selectFrom('sealed_secrets')
      .select(['tenant_id', 'kind', 'id', 'key_id', 'sealed'])
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('id', '=', id)
      .where('activated_at', 'is not', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
    return row ? this.openRow(row) : undefined;
  }

  /**
   * The secrets under `ids` as stored, active or not yet, unexpired: for a caller that knows their
   * events landed (the ids come from the event stream) or that is about to append those events again
   * (a retried request reusing what its first run stored). Ids with no secret are absent from the map.
   */
  async getStored(
    tenantId: string,
    kind: SecretKind,
    ids: readonly string[],
    now = new Date(),
  ): Promise<Map<string, Buffer>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('sealed_secrets')
      .select(['tenant_id', 'kind', 'id', 'key_id', 'sealed'])
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('id', 'in', [...ids])
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .execute();
    return new Map(rows.map((row) => [row.id, this.openRow(row)]));
  }

  /**
   * The secret under `id` as stored (active or not yet), if `ownerId` holds it (never another's) and
   * it is unexpired at `now`: a pending secret its owner is about to confirm (a TOTP seed awaiting its
   * first code). `now` null: whatever its expiry, for a caller whose event stream says the secret is
   * current (a pending expiry the `secrets` reactor has not cleared yet must not lock anyone out).
   */
  async getOwned(
    tenantId: string,
    kind: SecretKind,
    id: string,
    ownerId: string,
    now: Date | null = new Date(),
  ): Promise<Buffer | undefined> {
    let query = this.db
      .selectFrom('sealed_secrets')
      .select(['tenant_id', 'kind', 'id', 'key_id', 'sealed'])
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('id', '=', id)
      .where('owner_id', '=', ownerId);
    if (now) query = query.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
    const row = await query.executeTakeFirst();
    return row ? this.openRow(row) : undefined;
  }

  /**
   * Deletes `ownerId`'s secrets of `kind` that were never activated and expired before `before`,
   * except `keep` (abandoned pending secrets: TOTP seeds whose enrollment was never confirmed).
   */
  async deleteAbandoned(tenantId: string, kind: SecretKind, ownerId: string, before: Date, keep: readonly string[]) {
    let query = this.db
      .deleteFrom('sealed_secrets')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('owner_id', '=', ownerId)
      .where('activated_at', 'is', null)
      .where('expires_at', '<', before);
    if (keep.length > 0) query = query.where('id', 'not in', [...keep]);
    await query.execute();
  }

  /** The active, unexpired secrets of one owner, newest first, each with when it expires (null: never). */
  async listOwned(
    tenantId: string,
    kind: SecretKind,
    ownerId: string,
    now = new Date(),
  ): Promise<Array<{ id: string; value: Buffer; expiresAt: Date | null }>> {
    const rows = await this.db
      .selectFrom('sealed_secrets')
      .select(['tenant_id', 'kind', 'id', 'key_id', 'sealed', 'expires_at'])
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('owner_id', '=', ownerId)
      .where('activated_at', 'is not', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('activated_at', 'desc')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map((row) => ({ id: row.id, value: this.openRow(row), expiresAt: row.expires_at }));
  }

  /**
   * Seals what a migration moved in bare (API key hashes, key id `unsealed`) under the current key.
   * Run at start; a no-op once done. Returns how many it sealed.
   */
  async sealMigrated(batchSize = 500): Promise<number> {
    let sealedCount = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('sealed_secrets')
        .select(['tenant_id', 'kind', 'id', 'key_id', 'sealed'])
        .where('key_id', '=', UNSEALED)
        .limit(batchSize)
        .execute();
      for (const row of rows) {
        const { keyId, sealed } = this.seal(row.kind as SecretKind, row.tenant_id, row.id, row.sealed);
        const result = await this.db
          .updateTable('sealed_secrets')
          .set({ key_id: keyId, sealed })
          .where('tenant_id', '=', row.tenant_id)
          .where('kind', '=', row.kind)
          .where('id', '=', row.id)
          .where('key_id', '=', UNSEALED)
          .executeTakeFirst();
        sealedCount += Number(result.numUpdatedRows);
      }
      if (rows.length < batchSize) return sealedCount;
    }
  }
}

/** Makes a secret usable: its creating event, at global `position`, has been seen. */
export async function activateSecret(
  db: Kysely<ReadModels>,
  tenantId: string,
  kind: SecretKind,
  id: string,
  event: { position: number; time: Date },
) {
  await db
    .updateTable('sealed_secrets')
    .set({ activated_at: event.time, activated_position: event.position })
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', kind)
    .where('id', '=', id)
    .where('activated_at', 'is', null)
    .execute();
}

/**
 * Makes a pending secret usable for good: activated by its event (as `activateSecret`), and no longer
 * expiring (a pending TOTP seed had until the end of its enrollment window to be confirmed).
 */
export async function activatePendingSecret(
  db: Kysely<ReadModels>,
  tenantId: string,
  kind: SecretKind,
  id: string,
  event: { position: number; time: Date },
) {
  await activateSecret(db, tenantId, kind, id, event);
  await db
    .updateTable('sealed_secrets')
    .set({ expires_at: null })
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', kind)
    .where('id', '=', id)
    .where('activated_position', '=', event.position)
    .execute();
}

/**
 * Makes every secret of `ownerId` that was activated before global `position` expire at `at`
 * (sooner, if it already expires sooner): a rotation retires the secrets in use before it, and
 * never one activated after it (a concurrent rotation's), so it gives the same result on a replay.
 */
export async function expireOwnedBefore(
  db: Kysely<ReadModels>,
  tenantId: string,
  kind: SecretKind,
  ownerId: string,
  position: number,
  at: Date,
) {
  await db
    .updateTable('sealed_secrets')
    .set((eb) => ({ expires_at: eb.fn('least', [eb.fn.coalesce('expires_at', eb.val(at)), eb.val(at)]) }))
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', kind)
    .where('owner_id', '=', ownerId)
    .where('activated_at', 'is not', null)
    .where((eb) => eb(eb.fn.coalesce('activated_position', eb.val(0)), '<', position))
    .execute();
}

/** Deletes one secret (a revoked API key's hash). */
export async function deleteSecret(db: Kysely<ReadModels>, tenantId: string, kind: SecretKind, id: string) {
  await db
    .deleteFrom('sealed_secrets')
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', kind)
    .where('id', '=', id)
    .execute();
}

/** Deletes every secret of `kind` that `ownerId` holds (a deleted endpoint's signing secrets). */
export async function deleteOwnedSecrets(db: Kysely<ReadModels>, tenantId: string, kind: SecretKind, ownerId: string) {
  await db
    .deleteFrom('sealed_secrets')
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', kind)
    .where('owner_id', '=', ownerId)
    .execute();
}

/**
 * Deletes every secret of `kind` that `ownerId` holds and that was activated before global `position`
 * (a removed second factor's): never one still pending, which a later event may yet activate.
 */
export async function deleteOwnedBefore(
  db: Kysely<ReadModels>,
  tenantId: string,
  kind: SecretKind,
  ownerId: string,
  position: number,
) {
  await db
    .deleteFrom('sealed_secrets')
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', kind)
    .where('owner_id', '=', ownerId)
    .where('activated_at', 'is not', null)
    .where((eb) => eb(eb.fn.coalesce('activated_position', eb.val(0)), '<', position))
    .execute();
}

/** Deletes every secret of a tenant, of every kind kept in the store. */
export async function deleteTenantSecrets(db: Kysely<ReadModels>, tenantId: string) {
  await db.deleteFrom('sealed_secrets').where('tenant_id', '=', tenantId).execute();
}
