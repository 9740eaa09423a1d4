import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { checkPasswordSignIn, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { loadConfig } from '../src/config.ts';
import { seededRandom } from '../src/random.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { runChild } from './support/crash-child.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { settled } from './support/settled.ts';

/**
 * Sign-up is three durable steps (the e-mail's reservation, the sealed password hash, the account's
 * events). A process killed after each of them, then the same request retried (the same seeded
 * randomness, as an Idempotency-Key gives): one account, under the id the first run drew, whose
 * password works, and no second reservation or account.
 */
describe.runIf(postgresReachable)('sign-up killed between its steps', () => {
  const masterKey = randomBytes(32).toString('base64');
  let database: { url: string; drop: () => Promise<void> };
  let sigid: Sigid;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const config = loadConfig({}, { databaseUrl: database.url, masterKey, dataDir: undefined, logLevel: 'silent' });
    sigid = await createSigid(config, { logger: pino({ level: 'silent' }) });
    sigid.start();
  });
  afterAll(async () => {
    await sigid?.close();
    await database?.drop();
  });

  const child = (env: Record<string, string>) =>
    runChild('sign-up-child.ts', {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: masterKey,
      ...env,
    });

  for (const failpoint of ['account.sign-up:after-email', 'account.sign-up:after-password', 'after-append:account']) {
    it(`killed at ${failpoint}, the retried sign-up ends with one account whose password works`, async () => {
      const seed = randomBytes(32);
      const at = new Date();
      const email = `crash-${randomBytes(4).toString('hex')}@example.com`;
      const password = 'a password to keep';
      const exited = await child({
        SIGID_FAILPOINTS: failpoint,
        SIGN_UP_SEED: seed.toString('hex'),
        SIGN_UP_AT: at.toISOString(),
        SIGN_UP_EMAIL: email,
        SIGN_UP_PASSWORD: password,
      });
      expect(exited).toBe('SIGKILL');

      const retried = await signUpWithPassword(
        sigid,
        { email, password },
        useCase(
          { tenantId: PLATFORM_TENANT, actor: { type: 'system', id: 'retry' }, correlationId: 'retry' },
          seededRandom(seed, at),
        ),
      );
      expect(retried.status).toBe('created');
      if (retried.status !== 'created') return;
      await settled(sigid);
      expect(await checkPasswordSignIn(sigid, email, password)).toBe(retried.accountId);
      const { rows } = await sigid.db.query<{ event_type: string; count: number }>(
        `select event_type, count(*)::int as count from sigid_events
         where stream_name = $1 or (event_type = 'reservation.claimed' and data->>'owner_id' = $2)
         group by event_type order by event_type`,
        [`platform-${retried.accountId}`, retried.accountId],
      );
      expect(rows).toEqual([
        { event_type: 'account.created', count: 1 },
        { event_type: 'account.password_set', count: 1 },
        { event_type: 'reservation.claimed', count: 1 },
      ]);
    });
  }
});
