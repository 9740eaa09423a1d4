import type { Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'organization_domains';

/** An organization's domains: pending (with the TXT proof to publish) or verified (unique in the tenant). */
export interface OrganizationDomainsTable {
  tenant_id: string;
  organization_id: string;
  /** Lowercase, IDNA A-label form. */
  domain: string;
  /** The TXT record that proves the domain: `_sigid-challenge.<domain>`. */
  record_name: string;
  /** The value the TXT record must hold: a public proof, not a secret (kept out of logs all the same). */
  token: string;
  /** Null while pending. */
  verified_at: Date | null;
  created_at: Date;
}

export type OrganizationDomainRow = Selectable<OrganizationDomainsTable>;
export type NewOrganizationDomainRow = Insertable<OrganizationDomainsTable>;

/** The database as far as this table goes. */
export type OrganizationDomainsModel = { [tableName]: OrganizationDomainsTable };

export function findOrganizationDomain<DB extends OrganizationDomainsModel>(
  db: Kysely<DB>,
  tenantId: string,
  organizationId: string,
  domain: string,
): Promise<OrganizationDomainRow | undefined> {
  return narrow<OrganizationDomainsModel>(db)
    .selectFrom('organization_domains')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('organization_id', '=', organizationId)
    .where('domain', '=', domain)
    .executeTakeFirst();
}

export function listOrganizationDomains<DB extends OrganizationDomainsModel>(
  db: Kysely<DB>,
  tenantId: string,
  organizationId: string,
  options: { limit: number; after?: string | undefined },
): Promise<OrganizationDomainRow[]> {
  let query = narrow<OrganizationDomainsModel>(db)
    .selectFrom('organization_domains')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('organization_id', '=', organizationId)
    .orderBy('domain')
    .limit(options.limit);
  if (options.after) query = query.where('domain', '>', options.after);
  return query.execute();
}

/** The organization of the tenant that has verified exactly this domain, or undefined. */
export function findVerifiedDomain<DB extends OrganizationDomainsModel>(
  db: Kysely<DB>,
  tenantId: string,
  domain: string,
): Promise<OrganizationDomainRow | undefined> {
  return narrow<OrganizationDomainsModel>(db)
    .selectFrom('organization_domains')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('domain', '=', domain)
    .where('verified_at', 'is not', null)
    .executeTakeFirst();
}
