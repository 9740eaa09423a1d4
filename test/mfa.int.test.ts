import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { signUpWithPassword } from '../services/accounts.ts';
import { useCase, type Written } from '../services/context.ts';
import { erasePersonalData } from '../services/erasure.ts';
import {
  confirmTotpEnrollment,
  mfaMethodsOf,
  regenerateRecoveryCodes,
  removeTotp,
  startTotpEnrollment,
  useRecoveryCode,
  verifyTotp,
} from '../services/mfa.ts';
import { settled as allSettled } from './support/settled.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const person = { type: 'system', id: 'test' } as const;
const context = () => useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: 'test' });

/** The middle of the current 30-second step: the tests move their own clock on from here, step by step. */
const BASE = Math.floor(Date.now() / 30_000) * 30_000 + 15_000;
const at = (steps: number) => new Date(BASE + steps * 30_000);

describe('TOTP and recovery codes', () => {
  let t: TestSigid;
  let counter = 0;
  const settled = (written: Written) =>
    written.position === null ? Promise.resolve(true) : t.sigid.projections.waitFor(written.position);
  const settleAll = async () => allSettled(t.sigid);

  beforeAll(async () => {
    t = await startSigid();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function signUp(): Promise<{ accountId: string; email: string }> {
    const email = `mfa-${++counter}@example.com`;
    const result = await signUpWithPassword(t.sigid, { email, password: 'a password to keep' }, context());
    if (result.status !== 'created') throw new Error(`${email} exists`);
    await settled(result.written);
    return { accountId: result.accountId, email };
  }

  /** What an authenticator app shows for `secret` at `time`. */
  const codeAt = (secret: string, time: Date) =>
    TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: time.getTime() });

  /** An account with an authenticator app enrolled at step 0; its seed (base32) and recovery codes. */
  async function enrolled() {
    const { accountId, email } = await signUp();
    const started = await startTotpEnrollment(t.sigid, accountId, context());
    const confirmed = await confirmTotpEnrollment(
      t.sigid,
      accountId,
      started.enrollmentId,
      codeAt(started.secret, at(0)),
      context(),
      at(0),
    );
    if (!confirmed) throw new Error('the enrollment was refused');
    await settled(confirmed.written);
    return { accountId, email, secret: started.secret, recoveryCodes: confirmed.recoveryCodes };
  }

  async function challenges(accountId: string) {
    const events = await t.sigid.log.readStream(`platform-mfa-${accountId}`);
    return events
      .filter((event) => event.type === 'mfa.challenged' || event.type === 'mfa.recovery_code_used')
      .map((event) => {
        const data = event.data as { method?: string; outcome?: string; reason?: string | null; remaining?: number };
        return event.type === 'mfa.challenged'
          ? `${data.method} ${data.outcome}${data.reason ? ` ${data.reason}` : ''}`
          : `recovery_code used, ${data.remaining} left`;
      });
  }

  it('enrolls an authenticator app: nothing works until a first code confirms it; the seed and codes are in no event', async () => {
    const { accountId, email } = await signUp();
    const started = await startTotpEnrollment(t.sigid, accountId, context());
    expect(started.enrollmentId).toMatch(/^tot_/);
    expect(started.secret).toMatch(/^[A-Z2-7]{32}$/);
    const url = new URL(started.otpauthUrl);
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe(`/SigID:${email}`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      issuer: 'SigID',
      secret: started.secret,
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });

    // Pending: the seed signs nothing in, and the account shows no second factor.
    expect(await verifyTotp(t.sigid, accountId, codeAt(started.secret, at(1)), context(), at(1))).toBe(false);
    expect(await mfaMethodsOf(t.sigid, accountId)).toEqual({ totp: null, recovery_codes_remaining: 0 });

    const wrong = String((Number(codeAt(started.secret, at(0))) + 1) % 1_000_000).padStart(6, '0');
    expect(await confirmTotpEnrollment(t.sigid, accountId, started.enrollmentId, wrong, context(), at(0))).toBeNull();
    expect(await t.sigid.log.readStream(`platform-mfa-${accountId}`)).toEqual([]);

    const confirmed = await confirmTotpEnrollment(
      t.sigid,
      accountId,
      started.enrollmentId,
      codeAt(started.secret, at(0)),
      context(),
      at(0),
    );
    expect(confirmed?.recoveryCodes).toHaveLength(10);
    const codes = confirmed?.recoveryCodes ?? [];
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
    await settled(confirmed?.written as Written);

    const methods = await mfaMethodsOf(t.sigid, accountId);
    expect(methods.recovery_codes_remaining).toBe(10);
    expect(methods.totp?.enrolled_at).toBeInstanceOf(Date);

    const events = await t.sigid.log.readStream(`platform-mfa-${accountId}`);
    expect(events.map((event) => event.type)).toEqual(['mfa.totp_enrolled', 'mfa.recovery_codes_issued']);
    expect(events[1]?.data).toMatchObject({
      count: 10,
      code_ids: expect.arrayContaining([expect.stringMatching(/^rcv_/)]),
    });
    const { rows } = await t.sigid.db.query<{ data: unknown }>('select data from sigid_events');
    const text = JSON.stringify(rows);
    expect(text).not.toContain(started.secret);
    for (const code of codes) expect(text).not.toContain(code.replace('-', ''));
    expect(text).not.toContain(codes[0] as string);
    // Stored sealed: neither the seed nor any code is in the store's bytes.
    const stored = await t.sigid.db.query<{ kind: string; sealed: Uint8Array; activated_at: Date | null }>(
      `select kind, sealed, activated_at from sealed_secrets where owner_id = $1 and kind in ('totp', 'recovery-code')`,
      [accountId],
    );
    expect(stored.rows.map((row) => row.kind).sort()).toEqual(['recovery-code', 'totp']);
    expect(stored.rows.every((row) => row.activated_at !== null)).toBe(true);
    const seed = Buffer.from(Secret.fromBase32(started.secret).bytes);
    for (const row of stored.rows) {
      expect(Buffer.from(row.sealed).includes(seed)).toBe(false);
      expect(Buffer.from(row.sealed).toString('latin1')).not.toContain((codes[0] as string).slice(0, 5));
    }
  });

  it('accepts a code one step either side of the clock, never a step already used or an earlier one (a replay)', async () => {
    const { accountId, secret } = await enrolled();
    const verify = (code: string, steps: number) => verifyTotp(t.sigid, accountId, code, context(), at(steps));

    // The enrolling code's step is used.
    expect(await verify(codeAt(secret, at(0)), 0)).toBe(false);
    // At step 3: the previous step's code works, and then the same code again does not.
    expect(await verify(codeAt(secret, at(2)), 3)).toBe(true);
    expect(await verify(codeAt(secret, at(2)), 3)).toBe(false);
    // The next step's code works (a phone clock ahead); then this step's own code is too late.
    expect(await verify(codeAt(secret, at(4)), 3)).toBe(true);
    expect(await verify(codeAt(secret, at(3)), 3)).toBe(false);
    // Two steps away is wrong; so is a mistyped or malformed code.
    expect(await verify(codeAt(secret, at(7)), 5)).toBe(false);
    expect(await verify(codeAt(secret, at(3)), 5)).toBe(false);
    expect(await verify('12345', 5)).toBe(false);
    expect(await verify('abcdef', 5)).toBe(false);
    expect(await verify(codeAt(secret, at(5)), 5)).toBe(true);

    expect(await challenges(accountId)).toEqual([
      'totp failed code_reused',
      'totp succeeded',
      'totp failed code_reused',
      'totp succeeded',
      'totp failed code_reused',
      'totp failed wrong_code',
      'totp failed wrong_code',
      'totp failed wrong_code',
      'totp failed wrong_code',
      'totp succeeded',
    ]);
  });

  it('lets one of two concurrent checks of the same code through, and records the other as a replay', async () => {
    const { accountId, secret } = await enrolled();
    const code = codeAt(secret, at(1));
    const results = await Promise.all(
      Array.from({ length: 4 }, () => verifyTotp(t.sigid, accountId, code, context(), at(1))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await challenges(accountId)).sort()).toEqual([
      'totp failed code_reused',
      'totp failed code_reused',
      'totp failed code_reused',
      'totp succeeded',
    ]);
  });

  it('uses each recovery code once (however it is typed), counts what is left, and lets a concurrent duplicate fail', async () => {
    const { accountId, recoveryCodes } = await enrolled();
    const [first, second, third] = recoveryCodes as [string, string, string];
    expect(await useRecoveryCode(t.sigid, accountId, first, context())).toBe(true);
    expect(await useRecoveryCode(t.sigid, accountId, first, context())).toBe(false);
    // Upper case, without the hyphen, with spaces.
    expect(await useRecoveryCode(t.sigid, accountId, ` ${second.replace('-', '').toUpperCase()} `, context())).toBe(
      true,
    );
    expect(await useRecoveryCode(t.sigid, accountId, 'aaaaa-aaaaa', context())).toBe(false);
    expect(await useRecoveryCode(t.sigid, accountId, 'not a code at all', context())).toBe(false);
    const racing = await Promise.all([1, 2, 3].map(() => useRecoveryCode(t.sigid, accountId, third, context())));
    expect(racing.filter(Boolean)).toHaveLength(1);
    await settleAll();
    expect((await mfaMethodsOf(t.sigid, accountId)).recovery_codes_remaining).toBe(7);
    const outcomes = await challenges(accountId);
    expect(outcomes.slice(0, 7)).toEqual([
      'recovery_code succeeded',
      'recovery_code used, 9 left',
      'recovery_code failed code_reused',
      'recovery_code succeeded',
      'recovery_code used, 8 left',
      'recovery_code failed wrong_code',
      'recovery_code failed wrong_code',
    ]);
    expect(outcomes.slice(7).sort()).toEqual([
      'recovery_code failed code_reused',
      'recovery_code failed code_reused',
      'recovery_code succeeded',
      'recovery_code used, 7 left',
    ]);
  });

  it('regenerates recovery codes: the old ones stop, the new ones work', async () => {
    const { accountId, recoveryCodes } = await enrolled();
    expect(await useRecoveryCode(t.sigid, accountId, recoveryCodes[0] as string, context())).toBe(true);
    const regenerated = await regenerateRecoveryCodes(t.sigid, accountId, context());
    await settled(regenerated.written);
    expect(regenerated.recoveryCodes).toHaveLength(10);
    expect((await mfaMethodsOf(t.sigid, accountId)).recovery_codes_remaining).toBe(10);
    expect(await useRecoveryCode(t.sigid, accountId, recoveryCodes[1] as string, context())).toBe(false);
    expect(await useRecoveryCode(t.sigid, accountId, regenerated.recoveryCodes[0] as string, context())).toBe(true);
    const { accountId: without } = await signUp();
    await expect(regenerateRecoveryCodes(t.sigid, without, context())).rejects.toMatchObject({ code: 'not_found' });
  });

  it('replaces the factor when the account enrolls again: the old seed and old codes stop at once', async () => {
    const { accountId, secret, recoveryCodes } = await enrolled();
    const started = await startTotpEnrollment(t.sigid, accountId, context());
    // Until the new one is confirmed, the old factor still works.
    expect(await verifyTotp(t.sigid, accountId, codeAt(secret, at(1)), context(), at(1))).toBe(true);
    const confirmed = await confirmTotpEnrollment(
      t.sigid,
      accountId,
      started.enrollmentId,
      codeAt(started.secret, at(2)),
      context(),
      at(2),
    );
    expect(confirmed?.recoveryCodes).toHaveLength(10);
    expect(await verifyTotp(t.sigid, accountId, codeAt(secret, at(3)), context(), at(3))).toBe(false);
    expect(await verifyTotp(t.sigid, accountId, codeAt(started.secret, at(3)), context(), at(3))).toBe(true);
    expect(await useRecoveryCode(t.sigid, accountId, recoveryCodes[0] as string, context())).toBe(false);
    expect(await useRecoveryCode(t.sigid, accountId, confirmed?.recoveryCodes[0] as string, context())).toBe(true);
    // The same enrollment cannot be confirmed twice.
    expect(
      await confirmTotpEnrollment(
        t.sigid,
        accountId,
        started.enrollmentId,
        codeAt(started.secret, at(4)),
        context(),
        at(4),
      ),
    ).toBeNull();
    await settleAll();
    const seeds = await t.sigid.db.query<{ id: string; expired: boolean }>(
      `select id, coalesce(expires_at <= now(), false) as expired from sealed_secrets where owner_id = $1 and kind = 'totp' order by created_at`,
      [accountId],
    );
    expect(seeds.rows.map((row) => row.expired)).toEqual([true, false]);
  });

  it('keeps a pending enrollment to its account and its 15 minutes, and clears abandoned ones', async () => {
    const { accountId } = await signUp();
    const other = await signUp();
    const started = await startTotpEnrollment(t.sigid, accountId, context());
    const code = codeAt(started.secret, at(0));
    await expect(
      confirmTotpEnrollment(t.sigid, other.accountId, started.enrollmentId, code, context(), at(0)),
    ).rejects.toMatchObject({ code: 'not_found' });
    const late = new Date(Date.now() + 16 * 60_000);
    await expect(
      confirmTotpEnrollment(t.sigid, accountId, started.enrollmentId, codeAt(started.secret, late), context(), late),
    ).rejects.toMatchObject({ code: 'not_found' });
    await expect(startTotpEnrollment(t.sigid, 'acc_nobody', context())).rejects.toMatchObject({ code: 'not_found' });

    // An abandoned enrollment, long expired, is deleted when the account starts the next.
    await t.sigid.db.query(`update sealed_secrets set expires_at = now() - interval '1 hour' where id = $1`, [
      started.enrollmentId,
    ]);
    await startTotpEnrollment(t.sigid, accountId, context());
    const { rows } = await t.sigid.db.query<{ id: string }>(
      `select id from sealed_secrets where owner_id = $1 and kind = 'totp'`,
      [accountId],
    );
    expect(rows.map((row) => row.id)).not.toContain(started.enrollmentId);
    expect(rows).toHaveLength(1);
  });

  it('removes the authenticator app: its codes and the recovery codes stop, and the secrets are destroyed', async () => {
    const { accountId, secret, recoveryCodes } = await enrolled();
    const removed = await removeTotp(t.sigid, accountId, context());
    expect(removed.types).toEqual(['mfa.totp_removed']);
    expect(await verifyTotp(t.sigid, accountId, codeAt(secret, at(1)), context(), at(1))).toBe(false);
    expect(await useRecoveryCode(t.sigid, accountId, recoveryCodes[0] as string, context())).toBe(false);
    expect((await removeTotp(t.sigid, accountId, context())).position).toBeNull();
    await settled(removed);
    expect(await mfaMethodsOf(t.sigid, accountId)).toEqual({ totp: null, recovery_codes_remaining: 0 });
    const { rows } = await t.sigid.db.query(
      `select id from sealed_secrets where owner_id = $1 and kind in ('totp', 'recovery-code')`,
      [accountId],
    );
    expect(rows).toEqual([]);
    // No challenge was recorded for an account without a second factor.
    expect(await challenges(accountId)).toEqual([]);
  });

  it('makes an erased account’s factor unusable at once, and destroys its seed and codes', async () => {
    const { accountId, secret, recoveryCodes } = await enrolled();
    const erased = await erasePersonalData(t.sigid, accountId, {
      tenantId: PLATFORM_TENANT,
      actor: person,
      correlationId: 'erase',
    });
    expect(await verifyTotp(t.sigid, accountId, codeAt(secret, at(1)), context(), at(1))).toBe(false);
    expect(await useRecoveryCode(t.sigid, accountId, recoveryCodes[0] as string, context())).toBe(false);
    await expect(startTotpEnrollment(t.sigid, accountId, context())).rejects.toMatchObject({ code: 'not_found' });
    await expect(regenerateRecoveryCodes(t.sigid, accountId, context())).rejects.toMatchObject({ code: 'not_found' });
    await t.sigid.projections.waitFor(erased.position);
    expect(await mfaMethodsOf(t.sigid, accountId)).toEqual({ totp: null, recovery_codes_remaining: 0 });
    const { rows } = await t.sigid.db.query(
      `select id from sealed_secrets where owner_id = $1 and kind in ('totp', 'recovery-code', 'password')`,
      [accountId],
    );
    expect(rows).toEqual([]);
    expect(await challenges(accountId)).toEqual([]);
  });
});
