import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { type Kysely, sql } from 'kysely';
import type { ReadModels } from '../read-models/database.ts';
import { parseMasterKey } from '../src/crypto/aead.ts';
import { masterKeyId, SealedValueUnreadable } from '../src/secrets/keyring.ts';
import type { SealedSecrets, SecretKind } from '../src/secrets/sealed-secrets.ts';

/** The tables that hold sealed values, each with its column of key ids. */
export const sealedTables = ['sealed_secrets', 'subject_keys', 'idempotency_keys'] as const;
export type SealedTable = (typeof sealedTables)[number];

export interface RotationProgress {
  table: SealedTable;
  /** Values re-wrapped in this table so far. */
  rewrapped: number;
}

export interface RotationResult {
  /** The key every value is now sealed under. */
  keyId: string;
  rewrapped: Record<SealedTable, number>;
  /** Values no configured key opens (left as they are; `sigid master-key status` shows their key ids). */
  unreadable: number;
}

/**
 * Re-wraps every sealed value (each secret in the store, each subject key, each stored idempotent
 * answer) that is not under the current master key: opened with whichever configured key sealed
 * it, sealed again under the current one, in batches of `batchSize`. Resumable (it only ever picks
 * what is not yet under the current key) and safe while servers run: each row is rewritten only if
 * it still holds the value read, so a concurrent write or delete wins, and every process that has
 * both keys reads both forms meanwhile. Plaintexts never change, so caches stay valid.
 */
export async function rotateMasterKey(
  secrets: SealedSecrets,
  options: { batchSize?: number; onProgress?: (progress: RotationProgress) => void } = {},
): Promise<RotationResult> {
  const batchSize = options.batchSize ?? 500;
  const current = secrets.keyring.current.id;
  const db = secrets.db;
  const result: RotationResult = {
    keyId: current,
    rewrapped: { sealed_secrets: 0, subject_keys: 0, idempotency_keys: 0 },
    unreadable: 0,
  };
  const rewrap = (kind: SecretKind, scope: string, id: string, keyId: string | null, sealed: Uint8Array) => {
    try {
      return secrets.seal(kind, scope, id, secrets.open(kind, scope, id, keyId, sealed));
    } catch (error) {
      if (!(error instanceof SealedValueUnreadable)) throw error;
      result.unreadable++;
      return undefined;
    }
  };

  let after: [string, string, string] | undefined;
  for (;;) {
    const rows = await db
      .selectFrom('sealed_secrets')
      .select(['tenant_id', 'kind', 'id', 'key_id', 'sealed'])
      .where((eb) => eb('key_id', 'is distinct from', current))
      .$if(after !== undefined, (query) =>
        query.where((eb) =>
          eb(eb.refTuple('tenant_id', 'kind', 'id'), '>', eb.tuple(...(after as [string, string, string]))),
        ),
      )
      .orderBy('tenant_id')
      .orderBy('kind')
      .orderBy('id')
      .limit(batchSize)
      .execute();
    await db.transaction().execute(async (trx) => {
      for (const row of rows) {
        const wrapped = rewrap(row.kind as SecretKind, row.tenant_id, row.id, row.key_id, row.sealed);
        if (!wrapped) continue;
        const updated = await trx
          .updateTable('sealed_secrets')
          .set({ key_id: wrapped.keyId, sealed: wrapped.sealed })
          .where('tenant_id', '=', row.tenant_id)
          .where('kind', '=', row.kind)
          .where('id', '=', row.id)
          .where((eb) => eb('key_id', 'is not distinct from', row.key_id))
          .where('sealed', '=', row.sealed)
          .executeTakeFirst();
        result.rewrapped.sealed_secrets += Number(updated.numUpdatedRows);
      }
    });
    options.onProgress?.({ table: 'sealed_secrets', rewrapped: result.rewrapped.sealed_secrets });
    const last = rows[rows.length - 1];
    if (!last || rows.length < batchSize) break;
    after = [last.tenant_id, last.kind, last.id];
  }

  let afterSubject: [string, string] | undefined;
  for (;;) {
    const rows = await db
      .selectFrom('subject_keys')
      .select(['tenant_id', 'subject_id', 'key_id', 'wrapped_key'])
      .where('wrapped_key', 'is not', null)
      .where((eb) => eb('key_id', 'is distinct from', current))
      .$if(afterSubject !== undefined, (query) =>
        query.where((eb) =>
          eb(eb.refTuple('tenant_id', 'subject_id'), '>', eb.tuple(...(afterSubject as [string, string]))),
        ),
      )
      .orderBy('tenant_id')
      .orderBy('subject_id')
      .limit(batchSize)
      .execute();
    await db.transaction().execute(async (trx) => {
      for (const row of rows) {
        if (!row.wrapped_key) continue;
        const wrapped = rewrap('subject-key', row.tenant_id, row.subject_id, row.key_id, row.wrapped_key);
        if (!wrapped) continue;
        const updated = await trx
          .updateTable('subject_keys')
          .set({ key_id: wrapped.keyId, wrapped_key: wrapped.sealed })
          .where('tenant_id', '=', row.tenant_id)
          .where('subject_id', '=', row.subject_id)
          .where((eb) => eb('key_id', 'is not distinct from', row.key_id))
          .where('wrapped_key', '=', row.wrapped_key)
          .executeTakeFirst();
        result.rewrapped.subject_keys += Number(updated.numUpdatedRows);
      }
    });
    options.onProgress?.({ table: 'subject_keys', rewrapped: result.rewrapped.subject_keys });
    const last = rows[rows.length - 1];
    if (!last || rows.length < batchSize) break;
    afterSubject = [last.tenant_id, last.subject_id];
  }

  let afterAnswer: [string, string] | undefined;
  for (;;) {
    const rows = await db
      .selectFrom('idempotency_keys')
      .select(['scope', 'key', 'response_key_id', 'response'])
      .where('response', 'is not', null)
      .where((eb) => eb('response_key_id', 'is distinct from', current))
      .$if(afterAnswer !== undefined, (query) =>
        query.where((eb) => eb(eb.refTuple('scope', 'key'), '>', eb.tuple(...(afterAnswer as [string, string])))),
      )
      .orderBy('scope')
      .orderBy('key')
      .limit(batchSize)
      .execute();
    await db.transaction().execute(async (trx) => {
      for (const row of rows) {
        if (!row.response) continue;
        const wrapped = rewrap('idempotency', row.scope, row.key, row.response_key_id, row.response);
        if (!wrapped) continue;
        const updated = await trx
          .updateTable('idempotency_keys')
          .set({ response_key_id: wrapped.keyId, response: wrapped.sealed })
          .where('scope', '=', row.scope)
          .where('key', '=', row.key)
          .where((eb) => eb('response_key_id', 'is not distinct from', row.response_key_id))
          .where('response', '=', row.response)
          .executeTakeFirst();
        result.rewrapped.idempotency_keys += Number(updated.numUpdatedRows);
      }
    });
    options.onProgress?.({ table: 'idempotency_keys', rewrapped: result.rewrapped.idempotency_keys });
    const last = rows[rows.length - 1];
    if (!last || rows.length < batchSize) break;
    afterAnswer = [last.scope, last.key];
  }
  return result;
}

/** How many sealed values each table holds under each key id (null: sealed before key ids). */
export async function sealedValuesByKey(
  db: Kysely<ReadModels>,
): Promise<Array<{ table: SealedTable; key_id: string | null; count: number }>> {
  const counts = await Promise.all([
    db
      .selectFrom('sealed_secrets')
      .select(['key_id', sql<number>`count(*)::int`.as('count')])
      .groupBy('key_id')
      .execute()
      .then((rows) => rows.map((row) => ({ table: 'sealed_secrets' as const, ...row }))),
    db
      .selectFrom('subject_keys')
      .select(['key_id', sql<number>`count(*)::int`.as('count')])
      .where('wrapped_key', 'is not', null)
      .groupBy('key_id')
      .execute()
      .then((rows) => rows.map((row) => ({ table: 'subject_keys' as const, ...row }))),
    db
      .selectFrom('idempotency_keys')
      .select(['response_key_id as key_id', sql<number>`count(*)::int`.as('count')])
      .where('response', 'is not', null)
      .groupBy('response_key_id')
      .execute()
      .then((rows) => rows.map((row) => ({ table: 'idempotency_keys' as const, ...row }))),
  ]);
  return counts.flat();
}

/**
 * Embedded installs keep their key in `master.key`: a rotation first moves it to
 * `master.key.previous` (still read) and writes a new `master.key`. Does nothing when a rotation is
 * already under way (`master.key.previous` holds another key), so a rerun resumes it. Returns the
 * new key's id and whether it made one.
 */
export function stageEmbeddedMasterKey(keyPath: string): { keyId: string; made: boolean } {
  const previousPath = `${keyPath}.previous`;
  const current = parseMasterKey(readFileSync(keyPath, 'utf8').trim());
  if (existsSync(previousPath)) {
    const previous = parseMasterKey(readFileSync(previousPath, 'utf8').trim());
    if (!previous.equals(current)) return { keyId: masterKeyId(current), made: false };
  }
  // The old key is kept before the new one replaces it: a crash at any step loses no key.
  writeFileSync(`${previousPath}.tmp`, current.toString('base64'), { mode: 0o600 });
  renameSync(`${previousPath}.tmp`, previousPath);
  const next = randomBytes(32);
  writeFileSync(`${keyPath}.tmp`, next.toString('base64'), { mode: 0o600 });
  renameSync(`${keyPath}.tmp`, keyPath);
  return { keyId: masterKeyId(next), made: true };
}

/** Forgets an embedded install's previous key once nothing is sealed under it. */
export function finishEmbeddedRotation(keyPath: string): void {
  rmSync(`${keyPath}.previous`, { force: true });
}
