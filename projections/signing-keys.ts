import type { SigningKeysTable } from '../read-models/signing-keys.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/** The `signing_keys` read model: every key of every tenant's issuer, public JWK and status (private parts live sealed). */
export const signingKeysProjection = defineProjection({
  name: 'signing_keys',
  version: 1,
  tables: ['signing_keys'],
  on: {
    async 'signing_key.created'(trx, event) {
      await trx
        .insertInto('signing_keys')
        .values({
          tenant_id: event.tenantId,
          kid: event.data.kid,
          alg: event.data.alg,
          status: event.data.status,
          // A jsonb column is written as its JSON text.
          public_jwk: JSON.stringify(event.data.public_jwk) as unknown as SigningKeysTable['public_jwk'],
          created_at: event.time,
          activated_at: event.data.status === 'active' ? event.time : null,
          retire_at: null,
          retired_at: null,
          revision: event.revision,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'kid']).doNothing())
        .execute();
    },
    'signing_key.activated': (trx, event) => update(trx, event, { status: 'active', activated_at: event.time }),
    'signing_key.superseded': (trx, event) =>
      update(trx, event, { status: 'retiring', retire_at: new Date(event.data.retire_at) }),
    'signing_key.retired': (trx, event) => update(trx, event, { status: 'retired', retired_at: event.time }),
    // The tenant's private parts are destroyed with it (the `secrets` reactor): its keys go from here too.
    async 'tenant.deleted'(trx, event) {
      await trx.deleteFrom('signing_keys').where('tenant_id', '=', event.tenantId).execute();
    },
  },
});

/** Applies a change once: a row at or past this revision of the tenant's signing-keys stream has seen it. */
async function update(
  trx: ProjectionTransaction,
  event: { tenantId: string; revision: number; data: { kid: string } },
  values: Partial<SigningKeysTable>,
): Promise<void> {
  await trx
    .updateTable('signing_keys')
    .set({ ...values, revision: event.revision })
    .where('tenant_id', '=', event.tenantId)
    .where('kid', '=', event.data.kid)
    .where('revision', '<', event.revision)
    .execute();
}
