import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

/** The suites that run (part of) their cases on PostgreSQL: named when PostgreSQL is missing. */
function postgresSuites(): string[] {
  const dir = new URL('..', import.meta.url);
  return readdirSync(dir)
    .filter((name) => name.endsWith('.test.ts'))
    .filter((name) =>
      /postgresReachable|backends|createPostgresDatabase|freshPostgres/.test(readFileSync(new URL(name, dir), 'utf8')),
    );
}

/**
 * Finds out once whether PostgreSQL is reachable. Without it the PostgreSQL suites cannot run: that
 * is said loudly here, and in CI (CI=true) it fails the run instead of skipping in silence.
 */
export default async function setup() {
  const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    process.env.SIGID_TEST_POSTGRES = 'reachable';
  } catch (error) {
    const message = `PostgreSQL at ${url} is not reachable (${String(error)}): the PostgreSQL cases of these suites will NOT run: ${postgresSuites().join(', ')}. Start PostgreSQL or set TEST_DATABASE_URL.`;
    if (process.env.CI) throw new Error(message);
    process.env.SIGID_TEST_POSTGRES = 'unreachable';
    console.warn(`\n\u001b[41m\u001b[97m ${message} \u001b[0m\n`);
  } finally {
    await client.end().catch(() => {});
  }
}
