import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { open, seal } from './aead.ts';

const CACHE_LIMIT = 10_000;

/**
 * One data key per data subject, stored wrapped by the master key. Destroying a subject's key is
 * crypto-shredding: every personal field ever written about them becomes unreadable, in every copy
 * of the stream, while the events themselves stay whole and in order.
 */
export class SubjectKeys {
  readonly #db: Queryable;
  readonly #masterKey: Buffer;
  /** Unwrapped keys (null: destroyed). Dropped on destroy; bounded. */
  readonly #cache = new Map<string, Buffer | null>();

  constructor(db: Queryable, masterKey: Buffer) {
    this.#db = db;
    this.#masterKey = masterKey;
  }

  /** The subject's key, made on first use. Null when it was destroyed: nothing new is written about them. */
  async keyFor(tenantId: string, subjectId: string): Promise<Buffer | null> {
    const existing = await this.find(tenantId, subjectId);
    if (existing !== undefined) return existing;
    const key = randomBytes(32);
    await this.#db.query(
      `insert into subject_keys (tenant_id, subject_id, wrapped_key) values ($1, $2, $3)
       on conflict (tenant_id, subject_id) do nothing`,
      [tenantId, subjectId, seal(this.#masterKey, key, wrapContext(tenantId, subjectId))],
    );
    this.#cache.delete(cacheKey(tenantId, subjectId));
    return (await this.find(tenantId, subjectId)) ?? null;
  }

  /** The subject's key; null when destroyed; undefined when none was ever made. */
  async find(tenantId: string, subjectId: string): Promise<Buffer | null | undefined> {
    const id = cacheKey(tenantId, subjectId);
    if (this.#cache.has(id)) return this.#cache.get(id);
    const { rows } = await this.#db.query<{ wrapped_key: Uint8Array | null }>(
      'select wrapped_key from subject_keys where tenant_id = $1 and subject_id = $2',
      [tenantId, subjectId],
    );
    const row = rows[0];
    if (!row) return undefined;
    const key = row.wrapped_key ? open(this.#masterKey, row.wrapped_key, wrapContext(tenantId, subjectId)) : null;
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(id, key);
    return key;
  }

  /** Destroys the subject's key for good. Returns false when there was none to destroy. */
  async destroy(tenantId: string, subjectId: string): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      `insert into subject_keys (tenant_id, subject_id, wrapped_key, destroyed_at) values ($1, $2, null, now())
       on conflict (tenant_id, subject_id) do update set wrapped_key = null, destroyed_at = coalesce(subject_keys.destroyed_at, now())`,
      [tenantId, subjectId],
    );
    this.#cache.set(cacheKey(tenantId, subjectId), null);
    return rowCount > 0;
  }
}

const cacheKey = (tenantId: string, subjectId: string) => `${tenantId}\u0000${subjectId}`;
const wrapContext = (tenantId: string, subjectId: string) => `sigid:subject-key:${tenantId}:${subjectId}`;
