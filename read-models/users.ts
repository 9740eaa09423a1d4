import { type Kysely, type Selectable, sql } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'users';

export type UserStatus = 'active' | 'blocked' | 'deleted';

/** A tenant's users by their pairwise sub: the tenant's copy of the e-mail address and the profile it owns. */
export interface UsersTable {
  tenant_id: string;
  sub: string;
  /** The account's address as the tenant holds it (null once deleted: erased). */
  email: string | null;
  email_verified: boolean;
  name: string | null;
  given_name: string | null;
  family_name: string | null;
  picture: string | null;
  /** jsonb: a small object the tenant owns. */
  metadata: Record<string, unknown>;
  status: UserStatus;
  revision: number;
  created_at: Date;
  updated_at: Date;
  last_sign_in_at: Date | null;
  deleted_at: Date | null;
}

export type UserRow = Selectable<UsersTable>;

/** The database as far as this table goes. */
export type UsersModel = { [tableName]: UsersTable };

/** A user of the tenant, tombstones included (the caller decides what a deleted one answers). */
export function findUser<DB extends UsersModel>(
  db: Kysely<DB>,
  tenantId: string,
  sub: string,
): Promise<UserRow | undefined> {
  return narrow<UsersModel>(db)
    .selectFrom('users')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('sub', '=', sub)
    .executeTakeFirst();
}

/** `%`, `_` and `\` taken literally in a LIKE pattern. */
const likeLiteral = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

export interface UserSearch {
  limit: number;
  after?: string | undefined;
  /** The e-mail address or its beginning, any case. */
  email?: string | undefined;
  /** A part of the name, any case. */
  name?: string | undefined;
  /** Without it, every user but the deleted ones. */
  status?: UserStatus | undefined;
}

/** A page of the tenant's users, oldest first (subs are time-ordered). */
export function listUsers<DB extends UsersModel>(db: Kysely<DB>, tenantId: string, search: UserSearch) {
  let query = narrow<UsersModel>(db)
    .selectFrom('users')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('sub')
    .limit(search.limit);
  query = search.status
    ? query.where('status', '=', search.status)
    : query.where('status', '!=', 'deleted' satisfies UserStatus);
  if (search.email)
    query = query.where(sql<string>`lower(email)`, 'like', `${likeLiteral(search.email.toLowerCase())}%`);
  if (search.name) query = query.where('name', 'ilike', `%${likeLiteral(search.name)}%`);
  if (search.after) query = query.where('sub', '>', search.after);
  return query.execute();
}
