import { createHash, timingSafeEqual } from 'node:crypto';
import type { Queryable } from './db/database.ts';
import { type RandomSource, systemRandom } from './random.ts';

/**
 * Bearer credentials. A key is `sigid_sk_<id>_<secret>` (tenant admin) or `sigid_op_<id>_<secret>`
 * (platform operator). Only SHA-256 of the 256-bit secret is stored, in a secrets table, never in an
 * event; the id part finds the row without scanning.
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

/** Stores a tenant key's hash; called before its `api_key.created` event is appended. */
export async function storeApiKeySecret(db: Queryable, tenantId: string, keyId: string, hash: Buffer): Promise<void> {
  // A retried request stores the same hash again (its ids and secret are the same): no conflict.
  await db.query(
    'insert into api_key_secrets (key_id, tenant_id, secret_hash) values ($1, $2, $3) on conflict do nothing',
    [keyId, tenantId, hash],
  );
}

/** Forgets a tenant key's hash: revocation takes effect on every node at once. */
export async function deleteApiKeySecret(db: Queryable, tenantId: string, keyId: string): Promise<void> {
  await db.query('delete from api_key_secrets where key_id = $1 and tenant_id = $2', [keyId, tenantId]);
}

/** The tenant a tenant admin key belongs to, or null when the key is unknown, revoked or wrong. */
export async function verifyApiKey(db: Queryable, parsed: ParsedKey): Promise<string | null> {
  if (parsed.kind !== 'sk') return null;
  const { rows } = await db.query<{ tenant_id: string; secret_hash: Uint8Array }>(
    'select tenant_id, secret_hash from api_key_secrets where key_id = $1',
    [parsed.keyId],
  );
  const row = rows[0];
  return row && sameHash(row.secret_hash, parsed.secret) ? row.tenant_id : null;
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
