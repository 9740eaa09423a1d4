import { sql } from 'kysely';
import { defineReactor, type ReactorTransaction } from './projection.ts';

/**
 * The `sessions` reactor: a session ended (`session.ended`), or a consent withdrawn
 * (`consent.revoked`, its grant and tokens), is removed from the issuer's storage in
 * the transaction that moves this reactor's checkpoint. The page that ends sessions deletes them at
 * once too; if it dies between its event and that delete, this removes them anyway, so no session
 * the audit log calls ended keeps working.
 */
export const sessionsReactor = defineReactor({
  name: 'sessions',
  version: 1,
  on: {
    async 'session.ended'(trx, event) {
      await trx
        .deleteFrom('oidc_payloads')
        .where('tenant_id', '=', event.tenantId)
        .where('model', '=', 'Session')
        .where(sql<string>`payload->>'uid'`, '=', event.data.session_id)
        .execute();
    },
    // A consent withdrawn: its grant and every token of it go (the page removes them at once too).
    async 'consent.revoked'(trx, event) {
      await trx
        .deleteFrom('oidc_payloads')
        .where('tenant_id', '=', event.tenantId)
        .where((eb) =>
          eb.or([
            eb('grant_id', '=', event.data.grant_id),
            eb.and([eb('model', '=', 'Grant'), eb('id', '=', event.data.grant_id)]),
          ]),
        )
        .execute();
    },
    // A user blocked or deleted: every session, grant, code and token of their sub at the tenant goes.
    async 'user.blocked'(trx, event) {
      await endEverything(trx, event.tenantId, event.data.sub);
    },
    async 'user.deleted'(trx, event) {
      await endEverything(trx, event.tenantId, event.data.sub);
    },
  },
});

/** Removes everything the issuer holds for a sub (oidc-provider's models all carry `accountId`). */
async function endEverything(trx: ReactorTransaction, tenantId: string, sub: string): Promise<void> {
  await trx
    .deleteFrom('oidc_payloads')
    .where('tenant_id', '=', tenantId)
    .where(sql<string>`payload->>'accountId'`, '=', sub)
    .execute();
}
