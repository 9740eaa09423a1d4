import { randomBytes } from 'node:crypto';
import { connectPostgres, type Database, openEmbedded } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

/** The PostgreSQL the suites use: TEST_DATABASE_URL, or the machine's local server. */
export const postgresAdminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Set by test/support/global-setup.ts after it tried to connect. */
export const postgresReachable = process.env.SIGID_TEST_POSTGRES === 'reachable';

/** A new, empty PostgreSQL database of its own (not migrated); `drop` removes it. */
export async function createPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `sigid_test_${randomBytes(6).toString('hex')}`;
  const admin = connectPostgres(postgresAdminUrl, { max: 1 });
  await admin.query(`create database ${name}`);
  await admin.close();
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const cleanup = connectPostgres(postgresAdminUrl, { max: 1 });
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.close();
    },
  };
}

/** A new, migrated, empty PostgreSQL database of its own; dropped by the returned `drop`. */
export async function freshPostgres(): Promise<{ db: Database; url: string; drop: () => Promise<void> }> {
  const database = await createPostgresDatabase();
  const db = connectPostgres(database.url);
  await migrateToLatest(db);
  return {
    db,
    url: database.url,
    async drop() {
      await db.close();
      await database.drop();
    },
  };
}

/** A new, migrated, in-memory PGlite. */
export async function freshEmbedded(): Promise<{ db: Database; drop: () => Promise<void> }> {
  const db = await openEmbedded(undefined);
  await migrateToLatest(db);
  return { db, drop: () => db.close() };
}

export interface Backend {
  name: 'pglite' | 'postgres';
  open(): Promise<{ db: Database; drop: () => Promise<void> }>;
}

/** Every database backend this run can reach: embedded always, PostgreSQL when reachable. */
export const backends: Backend[] = [
  { name: 'pglite', open: freshEmbedded },
  ...(postgresReachable ? [{ name: 'postgres' as const, open: freshPostgres }] : []),
];
