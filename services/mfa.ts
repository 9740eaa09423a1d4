import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { type MfaState, mfaAggregate } from '../commands/mfa.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { handleCommand } from '../src/command-handler.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';

/** RFC 6238 as every authenticator app reads it: SHA-1, 6 digits, 30 s; one step either side accepted. */
const TOTP_PARAMETERS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
const TOTP_WINDOW = 1;
export const RECOVERY_CODE_COUNT = 10;
/** Recovery codes: 10 characters of a 32-letter alphabet without look-alikes (50 bits), shown as `xxxxx-xxxxx`. */
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

function totpOf(seed: string, label: string): TOTP {
  return new TOTP({ issuer: 'SigID', label, secret: Secret.fromBase32(seed), ...TOTP_PARAMETERS });
}

/** The account's second factors as its mfa stream says (the write side's truth). */
export async function mfaStateOf(sigid: Sigid, accountId: string): Promise<MfaState> {
  const history = await sigid.log.readStream(mfaAggregate.stream(PLATFORM_TENANT, accountId));
  return history.reduce(
    (state, event) => mfaAggregate.decider.evolve(state, event as never),
    mfaAggregate.decider.initialState(),
  );
}

export interface MfaMethods {
  totp: { enrolled: true } | null;
  recoveryCodesRemaining: number;
}

export async function mfaMethodsOf(sigid: Sigid, accountId: string): Promise<MfaMethods> {
  const state = await mfaStateOf(sigid, accountId);
  return {
    totp: state.totp ? { enrolled: true } : null,
    recoveryCodesRemaining: state.recovery ? state.recovery.count - state.recovery.used.length : 0,
  };
}

const platform = (context: UseCase): UseCase => ({ ...context, tenantId: PLATFORM_TENANT });

/**
 * Starts enrolling an authenticator app: a new seed, sealed and inactive (nothing works with it
 * until its first code proves the app holds it and `mfa.totp_enrolled` is appended). Returns the
 * seed for the person to scan or type, once.
 */
export async function startTotpEnrollment(
  sigid: Sigid,
  accountId: string,
  label: string,
  context: UseCase,
): Promise<{ enrollmentId: string; secret: string; otpauthUrl: string }> {
  const enrollmentId = context.random.id('mfa');
  const seed = new Secret({ size: 20 }).base32;
  await sigid.secrets.put(PLATFORM_TENANT, 'totp', enrollmentId, Buffer.from(JSON.stringify({ accountId, seed })), {
    ownerId: accountId,
  });
  return { enrollmentId, secret: seed, otpauthUrl: totpOf(seed, label).toString() };
}

/**
 * Confirms an enrollment with a code from the app: the factor is enrolled (replacing the one
 * before) and ten one-time recovery codes are issued, shown once. Null for a wrong code or an
 * enrollment that is not this account's.
 */
export async function confirmTotpEnrollment(
  sigid: Sigid,
  accountId: string,
  enrollmentId: string,
  code: string,
  context: UseCase,
): Promise<{ recoveryCodes: string[]; written: Written } | null> {
  const stored = (await sigid.secrets.getStored(PLATFORM_TENANT, 'totp', [enrollmentId])).get(enrollmentId);
  if (!stored) return null;
  const pending = JSON.parse(stored.toString('utf8')) as { accountId: string; seed: string };
  if (pending.accountId !== accountId) return null;
  const step = matchedStep(pending.seed, code);
  if (step === null) return null;
  const enrolled = await handleCommand(
    sigid.log,
    mfaAggregate,
    accountId,
    { type: 'enroll_totp', account_id: accountId, factor_id: enrollmentId, step },
    platform(context),
  );
  const issued = await issueRecoveryCodes(sigid, accountId, context);
  return { recoveryCodes: issued.codes, written: issued.written ?? enrolled };
}

/** The time step `code` belongs to (within the window), or null. */
function matchedStep(seed: string, code: string, now = Date.now()): number | null {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const delta = totpOf(seed, 'check').validate({ token, timestamp: now, window: TOTP_WINDOW });
  return delta === null ? null : Math.floor(now / 1000 / TOTP_PARAMETERS.period) + delta;
}

/**
 * A TOTP code at sign-in: true once per code. A code of a time step not later than the last one
 * used fails (a replayed or older code), decided against the stream's revision, so two requests
 * with one code cannot both pass. Every challenge is `mfa.challenged`.
 */
export async function verifyTotp(sigid: Sigid, accountId: string, code: string, context: UseCase): Promise<boolean> {
  const state = await mfaStateOf(sigid, accountId);
  if (!state.totp) return false;
  const secret = await sigid.secrets.get(PLATFORM_TENANT, 'totp', state.totp.factor_id);
  const step = secret ? matchedStep((JSON.parse(secret.toString('utf8')) as { seed: string }).seed, code) : null;
  const outcome = await handleCommand(
    sigid.log,
    mfaAggregate,
    accountId,
    { type: 'challenge_totp', account_id: accountId, step },
    platform(context),
  );
  return outcome.state.last_outcome === 'succeeded';
}

const hashCode = (code: string) => createHash('sha256').update(normaliseRecoveryCode(code)).digest();

function normaliseRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Issues ten new recovery codes (the earlier ones stop working at the event); returns them, once. */
export async function issueRecoveryCodes(
  sigid: Sigid,
  accountId: string,
  context: UseCase,
): Promise<{ codes: string[]; written: Written }> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const letters = Array.from({ length: 10 }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join('');
    return `${letters.slice(0, 5)}-${letters.slice(5)}`;
  });
  const batchId = context.random.id('rcb');
  const hashes = codes.map((code) => hashCode(code).toString('hex'));
  await sigid.secrets.put(PLATFORM_TENANT, 'recovery-code', batchId, Buffer.from(JSON.stringify(hashes)), {
    ownerId: accountId,
  });
  const written = await handleCommand(
    sigid.log,
    mfaAggregate,
    accountId,
    { type: 'issue_recovery_codes', account_id: accountId, batch_id: batchId, count: codes.length },
    platform(context),
  );
  return { codes, written };
}

/** A recovery code at sign-in: true once per code (constant-time compare against every hash of the batch). */
export async function useRecoveryCode(
  sigid: Sigid,
  accountId: string,
  code: string,
  context: UseCase,
): Promise<boolean> {
  const state = await mfaStateOf(sigid, accountId);
  let index: number | null = null;
  if (state.recovery) {
    const stored = await sigid.secrets.get(PLATFORM_TENANT, 'recovery-code', state.recovery.batch_id);
    const hashes = stored ? (JSON.parse(stored.toString('utf8')) as string[]) : [];
    const presented = hashCode(code);
    hashes.forEach((hash, at) => {
      if (timingSafeEqual(Buffer.from(hash, 'hex'), presented)) index = at;
    });
  }
  const outcome = await handleCommand(
    sigid.log,
    mfaAggregate,
    accountId,
    { type: 'use_recovery_code', account_id: accountId, index },
    platform(context),
  );
  return outcome.state.last_outcome === 'succeeded';
}

/** Removes the authenticator app and its recovery codes (the seed is destroyed by the secrets reactor). */
export async function removeTotp(sigid: Sigid, accountId: string, context: UseCase): Promise<Written> {
  return handleCommand(sigid.log, mfaAggregate, accountId, { type: 'remove_totp' }, platform(context));
}

/** A TOTP code for a seed now (for tests and the bench: what an authenticator app would show). */
export function currentTotp(seed: string, timestamp = Date.now()): string {
  return totpOf(seed, 'check').generate({ timestamp });
}
