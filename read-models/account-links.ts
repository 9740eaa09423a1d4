import type { Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'account_links';

/**
 * Which tenants an account is linked to, under which pairwise `sub`. Only SigID's own sign-in reads
 * this table: a tenant's read models and events name the `sub` alone, never the account.
 */
export interface AccountLinksTable {
  account_id: string;
  tenant_id: string;
  sub: string;
  created_at: Date;
}

export type AccountLinkRow = Selectable<AccountLinksTable>;

/** The database as far as this table goes. */
export type AccountLinksModel = { [tableName]: AccountLinksTable };

/** The account's sub at a tenant, if it is linked there. */
export function findAccountLink<DB extends AccountLinksModel>(
  db: Kysely<DB>,
  accountId: string,
  tenantId: string,
): Promise<AccountLinkRow | undefined> {
  return narrow<AccountLinksModel>(db)
    .selectFrom('account_links')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
}

/** The account behind a tenant's sub (for the issuer, which knows only the sub). */
export function findLinkBySub<DB extends AccountLinksModel>(
  db: Kysely<DB>,
  tenantId: string,
  sub: string,
): Promise<AccountLinkRow | undefined> {
  return narrow<AccountLinksModel>(db)
    .selectFrom('account_links')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('sub', '=', sub)
    .executeTakeFirst();
}
