import type { ApplicationMetadata } from '../events/application.ts';
import type { ApplicationsTable } from '../read-models/applications.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/** The `applications` read model: one row per live application, never a secret (only its id). */
export const applicationsProjection = defineProjection({
  name: 'applications',
  version: 1,
  tables: ['applications'],
  on: {
    async 'application.created'(trx, event) {
      const { application_id, client_id, kind, secret_id, ...metadata } = event.data;
      await trx
        .insertInto('applications')
        .values({
          tenant_id: event.tenantId,
          application_id,
          client_id,
          kind,
          ...columns(metadata),
          secret_id,
          previous_secret_expires_at: null,
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        } as ApplicationsTable)
        .onConflict((oc) => oc.columns(['tenant_id', 'application_id']).doNothing())
        .execute();
    },
    'application.updated': (trx, event) => update(trx, event, columns(event.data.changes)),
    'application.secret_rotated': (trx, event) =>
      update(trx, event, {
        secret_id: event.data.secret_id,
        previous_secret_expires_at: new Date(event.data.previous_secret_expires_at),
      }),
    async 'application.deleted'(trx, event) {
      await trx
        .deleteFrom('applications')
        .where('tenant_id', '=', event.tenantId)
        .where('application_id', '=', event.data.application_id)
        .execute();
    },
  },
});

const JSON_COLUMNS = new Set<string>([
  'redirect_uris',
  'post_logout_redirect_uris',
  'grant_types',
  'response_types',
  'allowed_origins',
]);

/** Metadata as columns: a jsonb column is written as its JSON text (pg would send a JS array as a PostgreSQL array). */
function columns(metadata: Partial<ApplicationMetadata>): Partial<ApplicationsTable> {
  return Object.fromEntries(
    Object.entries(metadata).map(([field, value]) => [field, JSON_COLUMNS.has(field) ? JSON.stringify(value) : value]),
  ) as Partial<ApplicationsTable>;
}

/** Applies a change once: a row already at or past this revision has seen it. */
async function update(
  trx: ProjectionTransaction,
  event: { tenantId: string; revision: number; time: Date; data: { application_id: string } },
  values: Partial<ApplicationsTable>,
): Promise<void> {
  await trx
    .updateTable('applications')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('application_id', '=', event.data.application_id)
    .where('revision', '<', event.revision)
    .execute();
}
