import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import {
  confirmTotpEnrollment,
  mfaMethodsOf,
  startTotpEnrollment,
  useRecoveryCode,
  verifyTotp,
} from '../services/mfa.ts';
import { loadConfig } from '../src/config.ts';
import { seededRandom } from '../src/random.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { runChild } from './support/crash-child.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { settled } from './support/settled.ts';

const BASE = Math.floor(Date.now() / 30_000) * 30_000 + 15_000;
const at = (steps: number) => new Date(BASE + steps * 30_000);
const codeAt = (secret: string, time: Date) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: time.getTime() });

/**
 * Confirming an enrollment is two durable steps (the recovery codes' sealed hashes, then the events);
 * a challenge is one (its event), then the answer. A process killed after each: a seed or codes
 * whose event never landed work nowhere, and the same request retried (the same seeded randomness,
 * as an Idempotency-Key gives) finishes it with the same codes; a code whose use was recorded never
 * works again, even though the process that recorded it never answered.
 */
describe.runIf(postgresReachable)('second factors killed between their steps', () => {
  const masterKey = randomBytes(32).toString('base64');
  let database: { url: string; drop: () => Promise<void> };
  let sigid: Sigid;
  let counter = 0;
  const context = () =>
    useCase({ tenantId: PLATFORM_TENANT, actor: { type: 'system', id: 'test' }, correlationId: 'test' });

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
    runChild('mfa-child.ts', {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: masterKey,
      ...env,
    });

  async function pending() {
    const result = await signUpWithPassword(
      sigid,
      { email: `mfa-crash-${++counter}-${randomBytes(3).toString('hex')}@example.com`, password: 'a password to keep' },
      context(),
    );
    if (result.status !== 'created') throw new Error('exists');
    const started = await startTotpEnrollment(sigid, result.accountId, context());
    return { accountId: result.accountId, ...started };
  }

  async function mfaEvents(accountId: string): Promise<string[]> {
    return (await sigid.log.readStream(`platform-mfa-${accountId}`)).map((event) => event.type);
  }

  for (const failpoint of ['mfa.confirm:after-recovery-codes', 'after-append:mfa']) {
    it(`killed at ${failpoint} while confirming, the retried confirmation enrolls once, with the same codes`, async () => {
      const { accountId, enrollmentId, secret } = await pending();
      const seed = randomBytes(32);
      const code = codeAt(secret, at(0));
      const exited = await child({
        SIGID_FAILPOINTS: failpoint,
        MFA_ACTION: 'confirm',
        MFA_ACCOUNT: accountId,
        MFA_ENROLLMENT: enrollmentId,
        MFA_CODE: code,
        MFA_SEED: seed.toString('hex'),
        MFA_AT: at(0).toISOString(),
      });
      expect(exited).toBe('SIGKILL');
      if (failpoint === 'mfa.confirm:after-recovery-codes') {
        // Nothing landed: no factor, and neither the seed nor the sealed codes work.
        expect(await mfaEvents(accountId)).toEqual([]);
        const sealed = await sigid.db.query<{ activated: boolean }>(
          `select activated_at is not null as activated from sealed_secrets where owner_id = $1 and kind = 'recovery-code'`,
          [accountId],
        );
        expect(sealed.rows).toEqual([{ activated: false }]);
        expect(await verifyTotp(sigid, accountId, codeAt(secret, at(1)), context(), at(1))).toBe(false);
      } else {
        expect(await mfaEvents(accountId)).toEqual(['mfa.totp_enrolled', 'mfa.recovery_codes_issued']);
      }

      const retried = await confirmTotpEnrollment(
        sigid,
        accountId,
        enrollmentId,
        code,
        useCase(
          { tenantId: PLATFORM_TENANT, actor: { type: 'system', id: 'retry' }, correlationId: 'retry' },
          seededRandom(seed, at(0)),
        ),
        at(0),
      );
      expect(retried?.recoveryCodes).toHaveLength(10);
      expect(await mfaEvents(accountId)).toEqual(['mfa.totp_enrolled', 'mfa.recovery_codes_issued']);
      await settled(sigid);
      expect((await mfaMethodsOf(sigid, accountId)).recovery_codes_remaining).toBe(10);
      expect(await verifyTotp(sigid, accountId, codeAt(secret, at(1)), context(), at(1))).toBe(true);
      expect(await useRecoveryCode(sigid, accountId, retried?.recoveryCodes[9] as string, context())).toBe(true);
      // Exactly one batch of codes is current.
      const { rows } = await sigid.db.query<{ count: number }>(
        `select count(*)::int as count from sealed_secrets
         where owner_id = $1 and kind = 'recovery-code' and activated_at is not null and expires_at is null`,
        [accountId],
      );
      expect(rows).toEqual([{ count: 1 }]);
    });
  }

  async function enrolled() {
    const { accountId, enrollmentId, secret } = await pending();
    const confirmed = await confirmTotpEnrollment(
      sigid,
      accountId,
      enrollmentId,
      codeAt(secret, at(0)),
      context(),
      at(0),
    );
    if (!confirmed) throw new Error('refused');
    return { accountId, secret, recoveryCodes: confirmed.recoveryCodes };
  }

  it('killed after recording a recovery code’s use, that code never works again', async () => {
    const { accountId, recoveryCodes } = await enrolled();
    const code = recoveryCodes[3] as string;
    const exited = await child({
      SIGID_FAILPOINTS: 'after-append:mfa',
      MFA_ACTION: 'recovery',
      MFA_ACCOUNT: accountId,
      MFA_CODE: code,
      MFA_SEED: randomBytes(32).toString('hex'),
      MFA_AT: at(0).toISOString(),
    });
    expect(exited).toBe('SIGKILL');
    expect(await useRecoveryCode(sigid, accountId, code, context())).toBe(false);
    expect(await useRecoveryCode(sigid, accountId, recoveryCodes[4] as string, context())).toBe(true);
    await settled(sigid);
    expect((await mfaMethodsOf(sigid, accountId)).recovery_codes_remaining).toBe(8);
  });

  it('killed after recording a TOTP code’s use, that code never works again', async () => {
    const { accountId, secret } = await enrolled();
    const code = codeAt(secret, at(1));
    const exited = await child({
      SIGID_FAILPOINTS: 'after-append:mfa',
      MFA_ACTION: 'verify',
      MFA_ACCOUNT: accountId,
      MFA_CODE: code,
      MFA_SEED: randomBytes(32).toString('hex'),
      MFA_AT: at(1).toISOString(),
    });
    expect(exited).toBe('SIGKILL');
    expect(await verifyTotp(sigid, accountId, code, context(), at(1))).toBe(false);
    expect(await verifyTotp(sigid, accountId, codeAt(secret, at(2)), context(), at(2))).toBe(true);
  });
});
