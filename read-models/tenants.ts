import type { ColumnType, Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'tenants';

export type TenantStatus = 'active' | 'suspended' | 'deleted';

export interface TenantsTable {
  tenant_id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  revision: number;
  /** Branding (`tenant.branding.changed`): null is the default (services/tenant-settings.ts). */
  display_name: ColumnType<string | null, string | null | undefined>;
  logo_uri: ColumnType<string | null, string | null | undefined>;
  primary_color: ColumnType<string | null, string | null | undefined>;
  background_color: ColumnType<string | null, string | null | undefined>;
  /** The MFA policy (`tenant.mfa_policy.changed`). */
  mfa_mode: ColumnType<'off' | 'optional' | 'required', 'off' | 'optional' | 'required' | undefined>;
  mfa_required_for_applications: ColumnType<string[], string | undefined, string>;
  /** How access tokens carry roles (`tenant.role_claims.changed`; the defaults in migrations/2026_12_05_0201_roles.ts). */
  roles_claim: ColumnType<string | null, string | null | undefined>;
  permissions_claim: ColumnType<string | null, string | null | undefined>;
  enforce_permissions: ColumnType<boolean, boolean | undefined>;
  /** Which unregistered clients the issuer takes (`tenant.client_registration.changed`; off by default). */
  client_id_metadata_documents: ColumnType<boolean, boolean | undefined>;
  dynamic_registration: ColumnType<boolean, boolean | undefined>;
  created_at: Date;
  updated_at: Date;
}

export type TenantRow = Selectable<TenantsTable>;
export type NewTenantRow = Insertable<TenantsTable>;

/** The database as far as this table goes: the read-model database type is the intersection of these. */
export type TenantsModel = { [tableName]: TenantsTable };

/** Tenants are the platform operator's view: the one read model not scoped by a caller's tenant. */
export function findTenant<DB extends TenantsModel>(db: Kysely<DB>, tenantId: string): Promise<TenantRow | undefined> {
  return narrow<TenantsModel>(db)
    .selectFrom('tenants')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
}

export function findTenantBySlug<DB extends TenantsModel>(
  db: Kysely<DB>,
  slug: string,
): Promise<TenantRow | undefined> {
  return narrow<TenantsModel>(db).selectFrom('tenants').selectAll().where('slug', '=', slug).executeTakeFirst();
}

export function listTenants<DB extends TenantsModel>(
  db: Kysely<DB>,
  options: { limit: number; after?: string | undefined; includeDeleted?: boolean },
): Promise<TenantRow[]> {
  let query = narrow<TenantsModel>(db).selectFrom('tenants').selectAll().orderBy('tenant_id').limit(options.limit);
  if (options.after) query = query.where('tenant_id', '>', options.after);
  if (!options.includeDeleted) query = query.where('status', '!=', 'deleted');
  return query.execute();
}
