import type { KeyObject } from 'node:crypto';
import { open, seal } from '../crypto/aead.ts';
import type { Queryable } from '../db/database.ts';
import { secretKey } from './signature.ts';

/**
 * Webhook signing secrets, kept sealed (AES-256-GCM under the master key, bound to tenant and
 * secret id) in `webhook_secrets`; events carry only the secret's id. An endpoint signs with its
 * current secret and, during a rotation's overlap window, with the previous one too.
 */

const context = (tenantId: string, secretId: string) => `sigid:webhook-secret:${tenantId}:${secretId}`;

export async function storeWebhookSecret(
  db: Queryable,
  masterKey: Uint8Array,
  input: { tenantId: string; endpointId: string; secretId: string; secret: string },
): Promise<void> {
  // A retried request stores the same secret again: the first copy stays.
  await db.query(
    'insert into webhook_secrets (tenant_id, secret_id, endpoint_id, sealed) values ($1, $2, $3, $4) on conflict do nothing',
    [
      input.tenantId,
      input.secretId,
      input.endpointId,
      seal(masterKey, Buffer.from(input.secret), context(input.tenantId, input.secretId)),
    ],
  );
}

/** Makes every other secret of the endpoint expire at `expiresAt` (sooner if it already expires sooner). */
export async function expireOtherSecrets(
  db: Queryable,
  tenantId: string,
  endpointId: string,
  keepSecretId: string,
  expiresAt: Date,
): Promise<void> {
  await db.query(
    `update webhook_secrets set expires_at = least(coalesce(expires_at, $4::timestamptz), $4::timestamptz)
     where tenant_id = $1 and endpoint_id = $2 and secret_id <> $3`,
    [tenantId, endpointId, keepSecretId, expiresAt],
  );
}

export async function deleteWebhookSecrets(db: Queryable, tenantId: string, endpointId: string): Promise<void> {
  await db.query('delete from webhook_secrets where tenant_id = $1 and endpoint_id = $2', [tenantId, endpointId]);
}

/** The keys an endpoint signs with now, newest first: the current secret, then any still in overlap. */
export async function signingKeys(
  db: Queryable,
  masterKey: Uint8Array,
  tenantId: string,
  endpointId: string,
  now: Date = new Date(),
): Promise<KeyObject[]> {
  const { rows } = await db.query<{ secret_id: string; sealed: Uint8Array }>(
    `select secret_id, sealed from webhook_secrets
     where tenant_id = $1 and endpoint_id = $2 and (expires_at is null or expires_at > $3)
     order by created_at desc, secret_id desc`,
    [tenantId, endpointId, now],
  );
  return rows.map((row) => secretKey(open(masterKey, row.sealed, context(tenantId, row.secret_id)).toString()));
}
