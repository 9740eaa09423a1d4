import { createHash, timingSafeEqual } from 'node:crypto';
import type { CompiledQuery, InferResult, Kysely } from 'kysely';
import type { ReadModels } from '../read-models/database.ts';
import type { Queryable } from './db/database.ts';
import { type RandomSource, systemRandom } from './random.ts';
import { SealedValueUnreadable } from './secrets/keyring.ts';
import type { SealedSecrets } from './secrets/sealed-secrets.ts';

/**
 * Bearer credentials. A key is `sigid_sk_<id>_<secret>` (tenant admin) or `sigid_op_<id>_<secret>`
 * (platform operator). Only SHA-256 of the 256-bit secret is stored (a tenant key's sealed in the
 * sealed-secrets store), never in an event; the id part finds the row without scanning.
 */
const KEY_PATTERN = /^sigid_(sk|op)_([0-9a-hjkmnp-tv-z]{26})_([A-Za-z0-9_-]{43})$/;

export interface ParsedKey {
  kind: 'sk' | 'op';
  keyId: string;
  secret: string;
}

export function parseKey(token: string): ParsedKey | null {
  const match = KEY_PATTERN.exec(token);
  if (!match) return null;
  const kind = match[1] as 'sk' | 'op';
  return { kind, keyId: `${kind === 'sk' ? 'key' : 'op'}_${match[2]}`, secret: match[3] as string };
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function sameHash(stored: Uint8Array, secret: string): boolean {
  const candidate = hashSecret(secret);
  return stored.length === candidate.length && timingSafeEqual(Buffer.from(stored), candidate);
}

export function mintKey(
  kind: 'sk' | 'op',
  random: RandomSource = systemRandom,
): { keyId: string; token: string; hash: Buffer } {
  const keyId = random.id(kind === 'sk' ? 'key' : 'op');
  const secret = random.bytes(32).toString('base64url');
  const token = `sigid_${kind}_${keyId.slice(keyId.indexOf('_') + 1)}_${secret}`;
  return { keyId, token, hash: hashSecret(secret) };
}

/**
 * Stores a tenant key's hash, sealed and inactive; called before its `api_key.created` event is
 * appended, which activates it (the `secrets` reactor). A key whose event never landed never works.
 */
export async function storeApiKeySecret(
  secrets: SealedSecrets,
  tenantId: string,
  keyId: string,
  hash: Buffer,
): Promise<void> {
  await secrets.put(tenantId, 'api-key', keyId, hash);
}

/** Stands for the key id while kysely compiles the check once; replaced by the real one per call. */
const KEY_ID_PARAMETER = '\u0000key_id';

/** The check's one query: the active hash of this key, if its `api_keys` row exists and is not revoked. */
const activeKeyQuery = (db: Kysely<ReadModels>) =>
  db
    .selectFrom('sealed_secrets as s')
    .innerJoin('api_keys as k', (join) => join.onRef('k.tenant_id', '=', 's.tenant_id').onRef('k.key_id', '=', 's.id'))
    .select(['s.tenant_id', 's.kind', 's.id', 's.key_id', 's.sealed'])
    .where('s.kind', '=', 'api-key')
    .where('s.id', '=', KEY_ID_PARAMETER)
    .where('s.activated_at', 'is not', null)
    .where('k.revoked_at', 'is', null);

let activeKeySql: CompiledQuery | undefined;
/** Per store (so per keyring): opened hashes by key id, valid while the sealed bytes stay the same. Bounded. */
const openedBy = new WeakMap<SealedSecrets, Map<string, { sealed: Buffer; hash: Buffer }>>();
const OPENED_LIMIT = 10_000;

/**
 * The tenant a tenant admin key belongs to, or null when the key is unknown, wrong, not yet
 * recorded, or revoked: its hash must be active in the store and its `api_keys` row must exist and
 * not be revoked, so the event log, not a separate delete, decides. One prepared query per request;
 * a hash once opened is kept in memory (a hash, never a key) while its sealed bytes stay the same.
 */
export async function verifyApiKey(secrets: SealedSecrets, parsed: ParsedKey): Promise<string | null> {
  if (parsed.kind !== 'sk') return null;
  activeKeySql ??= activeKeyQuery(secrets.db).compile();
  const { rows } = await secrets.database.query<InferResult<ReturnType<typeof activeKeyQuery>>[number]>(
    activeKeySql.sql,
    activeKeySql.parameters.map((value) => (value === KEY_ID_PARAMETER ? parsed.keyId : value)),
    'sigid_verify_api_key',
  );
  const row = rows[0];
  if (!row) return null;
  const sealed = Buffer.from(row.sealed);
  let opened = openedBy.get(secrets);
  if (!opened) {
    opened = new Map();
    openedBy.set(secrets, opened);
  }
  let stored = opened.get(row.id);
  if (!stored?.sealed.equals(sealed)) {
    try {
      stored = { sealed, hash: secrets.openRow(row) };
    } catch (error) {
      if (error instanceof SealedValueUnreadable) return null;
      throw error;
    }
    if (opened.size >= OPENED_LIMIT) opened.delete(opened.keys().next().value as string);
    opened.set(row.id, stored);
  }
  return sameHash(stored.hash, parsed.secret) ? row.tenant_id : null;
}

export async function createOperatorKey(db: Queryable): Promise<{ keyId: string; token: string }> {
  const { keyId, token, hash } = mintKey('op');
  await db.query('insert into operator_keys (key_id, secret_hash) values ($1, $2)', [keyId, hash]);
  return { keyId, token };
}

export async function hasOperatorKeys(db: Queryable): Promise<boolean> {
  const { rows } = await db.query('select 1 from operator_keys limit 1');
  return rows.length > 0;
}

/** Whether `token` is the configured SIGID_OPERATOR_KEY or an operator key made by the CLI. */
export async function verifyOperatorKey(db: Queryable, token: string, configured: string | undefined) {
  if (configured) {
    const expected = hashSecret(configured);
    if (timingSafeEqual(expected, hashSecret(token))) return 'env';
  }
  const parsed = parseKey(token);
  if (parsed?.kind !== 'op') return null;
  const { rows } = await db.query<{ secret_hash: Uint8Array }>(
    'select secret_hash from operator_keys where key_id = $1',
    [parsed.keyId],
  );
  const row = rows[0];
  return row && sameHash(row.secret_hash, parsed.secret) ? parsed.keyId : null;
}
