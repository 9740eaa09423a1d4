import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ReadModels } from '../../read-models/database.ts';
import type { Database } from '../db/database.ts';
import { MasterKeyRing } from '../secrets/keyring.ts';
import { SealedSecrets } from '../secrets/sealed-secrets.ts';

const CACHE_LIMIT = 10_000;

/**
 * One data key per data subject, stored wrapped by the master key (through the sealed-secrets
 * store's keyring, kind `subject-key`, with the id of the key that wrapped it). Destroying a
 * subject's key is crypto-shredding: every personal field ever written about them becomes
 * unreadable, in every copy of the stream, while the events themselves stay whole and in order.
 */
export class SubjectKeys {
  readonly #db: Kysely<ReadModels>;
  readonly #secrets: SealedSecrets;
  /** Unwrapped keys (null: destroyed). Dropped on destroy; bounded. A re-wrap leaves them valid. */
  readonly #cache = new Map<string, Buffer | null>();

  constructor(secrets: SealedSecrets) {
    this.#db = secrets.db;
    this.#secrets = secrets;
  }

  /** The subject's key, made on first use. Null when it was destroyed: nothing new is written about them. */
  async keyFor(tenantId: string, subjectId: string): Promise<Buffer | null> {
    const existing = await this.find(tenantId, subjectId);
    if (existing !== undefined) return existing;
    const { keyId, sealed } = this.#secrets.seal('subject-key', tenantId, subjectId, randomBytes(32));
    await this.#db
      .insertInto('subject_keys')
      .values({ tenant_id: tenantId, subject_id: subjectId, wrapped_key: sealed, key_id: keyId, destroyed_at: null })
      .onConflict((oc) => oc.columns(['tenant_id', 'subject_id']).doNothing())
      .execute();
    this.#cache.delete(cacheKey(tenantId, subjectId));
    return (await this.find(tenantId, subjectId)) ?? null;
  }

  /** The subject's key; null when destroyed; undefined when none was ever made. */
  async find(tenantId: string, subjectId: string): Promise<Buffer | null | undefined> {
    const id = cacheKey(tenantId, subjectId);
    if (this.#cache.has(id)) return this.#cache.get(id);
    const row = await this.#db
      .selectFrom('subject_keys')
      .select(['wrapped_key', 'key_id'])
      .where('tenant_id', '=', tenantId)
      .where('subject_id', '=', subjectId)
      .executeTakeFirst();
    if (!row) return undefined;
    const key = row.wrapped_key
      ? this.#secrets.open('subject-key', tenantId, subjectId, row.key_id, row.wrapped_key)
      : null;
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(id, key);
    return key;
  }

  /** Destroys the subject's key for good. Returns false when there was none to destroy. */
  async destroy(tenantId: string, subjectId: string): Promise<boolean> {
    const result = await this.#db
      .insertInto('subject_keys')
      .values({ tenant_id: tenantId, subject_id: subjectId, wrapped_key: null, key_id: null, destroyed_at: new Date() })
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'subject_id']).doUpdateSet((eb) => ({
          wrapped_key: null,
          key_id: null,
          destroyed_at: eb.fn.coalesce('subject_keys.destroyed_at', eb.val(new Date())),
        })),
      )
      .executeTakeFirst();
    this.#cache.set(cacheKey(tenantId, subjectId), null);
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }
}

/** Subject keys on `db` under one master key, outside a whole Sigid (tools, tests, benches). */
export function subjectKeysFor(db: Database, masterKey: Uint8Array = randomBytes(32)): SubjectKeys {
  return new SubjectKeys(new SealedSecrets(db, new MasterKeyRing(masterKey)));
}

const cacheKey = (tenantId: string, subjectId: string) => `${tenantId}\u0000${subjectId}`;
