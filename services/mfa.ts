import { argon2, timingSafeEqual } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { accountAggregate } from '../commands/account.ts';
import { type MfaCommand, type MfaState, mfaAggregate } from '../commands/mfa.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import type { AccountEvent } from '../events/account.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { isSubjectErased } from '../read-models/subject-keys.ts';
import { handleCommand } from '../src/command-handler.ts';
import { NotFoundError } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { RandomSource } from '../src/random.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';

/** RFC 6238 as every authenticator app reads it: SHA-1, 6 digits, 30-second steps; one step either side accepted. */
export const TOTP_PARAMETERS = { issuer: 'SigID', algorithm: 'SHA1', digits: 6, period: 30, window: 1 } as const;

/** A seed is 160 bits (RFC 4226's recommended length for HMAC-SHA-1). */
const SEED_BYTES = 20;

/** How long a started enrollment waits for its first code. */
export const ENROLLMENT_LIFETIME_MS = 15 * 60_000;

/** How many recovery codes are issued at once. */
export const RECOVERY_CODE_COUNT = 10;

/** Recovery codes: 10 characters of Crockford's base32 (50 bits), shown as `xxxxx-xxxxx`. */
const CODE_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODE_LENGTH = 10;

/** argon2id at the parameters passwords use (OWASP's minimum); one salt per batch, so a try costs one hash. */
const CODE_HASH = { memory: 19_456, passes: 2, parallelism: 1, tagLength: 32, saltLength: 16 } as const;

/** A batch of recovery codes as sealed (kind `recovery-code`, id the batch's): their hashes, never the codes. */
interface SealedBatch {
  v: 1;
  m: number;
  t: number;
  p: number;
  salt: string;
  codes: Array<{ id: string; hash: string }>;
}

const platform = (context: UseCase): UseCase => ({ ...context, tenantId: PLATFORM_TENANT });

/** The account's second factors as its stream says now (the write side's view, never behind), and the stream. */
async function mfaHistory(sigid: Sigid, accountId: string): Promise<{ state: MfaState; history: RecordedEvent[] }> {
  const history = await sigid.log.readStream(mfaAggregate.stream(PLATFORM_TENANT, accountId));
  const { decider } = mfaAggregate;
  const state = history.reduce((current, event) => decider.evolve(current, event as never), decider.initialState());
  return { state, history };
}

async function mfaState(sigid: Sigid, accountId: string): Promise<MfaState> {
  return (await mfaHistory(sigid, accountId)).state;
}

/**
 * The account's e-mail address (the authenticator app's label), or not found: no such account, or
 * erased. The erasure's first step (its subject key destroyed) counts, whichever process did it.
 */
async function liveAccount(sigid: Sigid, accountId: string): Promise<{ email: string }> {
  if (!(await isSubjectErased(sigid.readModels, PLATFORM_TENANT, accountId))) {
    const history = await sigid.log.readStream(accountAggregate.stream(PLATFORM_TENANT, accountId));
    const { decider } = accountAggregate;
    const state = history.reduce((current, event) => decider.evolve(current, event as never), decider.initialState());
    const created = history.find((event) => event.type === 'account.created') as
      | Extract<AccountEvent, { type: 'account.created' }>
      | undefined;
    if (state.status === 'active' && created?.data.email) return { email: created.data.email };
  }
  throw new NotFoundError('The account');
}

/** Whether the account was erased: then no factor of it works any more, from the erasure's first step on. */
function erased(sigid: Sigid, accountId: string): Promise<boolean> {
  return isSubjectErased(sigid.readModels, PLATFORM_TENANT, accountId);
}

/** The time step `code` belongs to under `seed`, within one step of `now`'s; null when it is none of them. */
function totpStep(seed: Uint8Array, code: string, now: Date): number | null {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const { algorithm, digits, period, window } = TOTP_PARAMETERS;
  const secret = new Secret({ buffer: Uint8Array.from(seed).buffer });
  const timestamp = now.getTime();
  const delta = TOTP.validate({ token, secret, algorithm, digits, period, window, timestamp });
  return delta === null ? null : TOTP.counter({ period, timestamp }) + delta;
}

function derive(
  code: string,
  salt: Buffer,
  { memory, passes, parallelism }: { memory: number; passes: number; parallelism: number } = CODE_HASH,
): Promise<Buffer> {
  const { tagLength } = CODE_HASH;
  return new Promise((resolve, reject) =>
    argon2('argon2id', { message: code, nonce: salt, memory, passes, parallelism, tagLength }, (error, key) =>
      error ? reject(error) : resolve(Buffer.from(key)),
    ),
  );
}

/** A recovery code as typed, the way it was made: lower case, no spaces or hyphens, Crockford's look-alikes mapped. */
export function normaliseRecoveryCode(code: string): string {
  return code
    .toLowerCase()
    .replace(/[\s-]+/g, '')
    .replace(/[il]/g, '1')
    .replace(/o/g, '0');
}

interface RecoveryCodes {
  batchId: string;
  codeIds: string[];
  codes: string[];
  salt: Buffer;
}

/** Draws a batch of recovery codes: the same batch again from a retried request's seeded randomness. */
function drawRecoveryCodes(random: RandomSource): RecoveryCodes {
  const batchId = random.id('rcb');
  const codeIds = Array.from({ length: RECOVERY_CODE_COUNT }, () => random.id('rcv'));
  const codes = codeIds.map(() => {
    const chars = [...random.bytes(CODE_LENGTH)].map((byte) => CODE_ALPHABET[byte & 31]).join('');
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
  return { batchId, codeIds, codes, salt: random.bytes(CODE_HASH.saltLength) };
}

/** Seals a batch's hashes (never the codes), inactive until the event that issues them. */
async function sealRecoveryCodes(sigid: Sigid, accountId: string, batch: RecoveryCodes): Promise<void> {
  const hashes = await Promise.all(batch.codes.map((code) => derive(normaliseRecoveryCode(code), batch.salt)));
  const sealed: SealedBatch = {
    v: 1,
    m: CODE_HASH.memory,
    t: CODE_HASH.passes,
    p: CODE_HASH.parallelism,
    salt: batch.salt.toString('base64'),
    codes: batch.codeIds.map((id, index) => ({ id, hash: (hashes[index] as Buffer).toString('base64') })),
  };
  await sigid.secrets.put(PLATFORM_TENANT, 'recovery-code', batch.batchId, Buffer.from(JSON.stringify(sealed)), {
    ownerId: accountId,
  });
}

/** The id of the code in the batch that `code` is (every hash compared, in constant time), or null. */
async function matchRecoveryCode(sealed: Buffer, code: string): Promise<string | null> {
  const normalised = normaliseRecoveryCode(code);
  if (normalised.length !== CODE_LENGTH || [...normalised].some((char) => !CODE_ALPHABET.includes(char))) return null;
  const batch = JSON.parse(sealed.toString('utf8')) as SealedBatch;
  const tried = await derive(normalised, Buffer.from(batch.salt, 'base64'), {
    memory: batch.m,
    passes: batch.t,
    parallelism: batch.p,
  });
  let found: string | null = null;
  for (const { id, hash } of batch.codes) {
    const expected = Buffer.from(hash, 'base64');
    if (expected.length === tried.length && timingSafeEqual(expected, tried)) found = id;
  }
  return found;
}

/**
 * Starts enrolling an authenticator app: seals a new 160-bit seed, pending (inactive, expiring in 15
 * minutes) until `confirmTotpEnrollment` sees a code of it. Returns the seed once, in base32 and as
 * an `otpauth://` URL (issuer "SigID", labelled with the account's address), for the page's QR code.
 * An enrollment never confirmed leaves nothing usable; the next one deletes it.
 */
export async function startTotpEnrollment(
  sigid: Sigid,
  accountId: string,
  context: UseCase,
): Promise<{ enrollmentId: string; secret: string; otpauthUrl: string }> {
  const { email } = await liveAccount(sigid, accountId);
  const state = await mfaState(sigid, accountId);
  const now = new Date();
  await sigid.secrets.deleteAbandoned(
    PLATFORM_TENANT,
    'totp',
    accountId,
    new Date(now.getTime() - ENROLLMENT_LIFETIME_MS),
    state.totp ? [state.totp.factor_id] : [],
  );
  const enrollmentId = context.random.id('tot');
  const seed = context.random.bytes(SEED_BYTES);
  await sigid.secrets.put(PLATFORM_TENANT, 'totp', enrollmentId, seed, {
    ownerId: accountId,
    expiresAt: new Date(now.getTime() + ENROLLMENT_LIFETIME_MS),
  });
  const { issuer, algorithm, digits, period } = TOTP_PARAMETERS;
  const secret = new Secret({ buffer: Uint8Array.from(seed).buffer });
  const otpauthUrl = new TOTP({ issuer, label: email, secret, algorithm, digits, period }).toString();
  return { enrollmentId, secret: secret.base32, otpauthUrl };
}

/**
 * Confirms an enrollment with a first code from the app: null when the code is wrong. Otherwise it
 * enrolls the factor (`mfa.totp_enrolled`, replacing the one before, never the seed) and issues
 * ten one-time recovery codes (`mfa.recovery_codes_issued`, ids and a count), in one append, and
 * returns the codes: shown this once, kept only as hashes. The code's time step counts as used.
 * Not found: no such account, or no such pending enrollment of it (expired, or another's).
 * `now` is the clock (tests pass their own).
 */
export async function confirmTotpEnrollment(
  sigid: Sigid,
  accountId: string,
  enrollmentId: string,
  code: string,
  context: UseCase,
  now: Date = new Date(),
): Promise<{ recoveryCodes: string[]; written: Written } | null> {
  await liveAccount(sigid, accountId);
  const seed = await sigid.secrets.getOwned(PLATFORM_TENANT, 'totp', enrollmentId, accountId, now);
  if (!seed) throw new NotFoundError('The enrollment');
  const step = totpStep(seed, code, now);
  if (step === null) return null;
  const batch = drawRecoveryCodes(context.random);
  const before = await mfaState(sigid, accountId);
  if (before.totp?.factor_id === enrollmentId) {
    // Confirmed already: by this very request (retried with its Idempotency-Key: the same codes
    // again), or by an earlier one, whose answer showed the codes.
    return before.recovery?.batch_id === batch.batchId
      ? { recoveryCodes: batch.codes, written: { position: null, types: [] } }
      : null;
  }
  await sealRecoveryCodes(sigid, accountId, batch);
  failpoint('mfa.confirm:after-recovery-codes');
  const outcome = await handleCommand(
    sigid.log,
    mfaAggregate,
    accountId,
    {
      type: 'enroll_totp',
      account_id: accountId,
      factor_id: enrollmentId,
      step,
      batch_id: batch.batchId,
      code_ids: batch.codeIds,
    },
    platform(context),
  );
  // A concurrent confirmation of the same enrollment won: its codes are the ones that work.
  if (outcome.state.recovery?.batch_id !== batch.batchId) return null;
  return { recoveryCodes: batch.codes, written: outcome };
}

/**
 * Checks a code from the account's authenticator app as its second factor, recording the challenge
 * (`mfa.challenged`, succeeded or failed). A code of a time step already used, or of an earlier one,
 * fails (a replay), whichever process saw it first: the step is decided on the account's stream.
 * False without a record when the account has no authenticator app or was erased.
 */
export async function verifyTotp(
  sigid: Sigid,
  accountId: string,
  code: string,
  context: UseCase,
  now: Date = new Date(),
): Promise<boolean> {
  if (await erased(sigid, accountId)) return false;
  const state = await mfaState(sigid, accountId);
  if (!state.totp) return false;
  const { factor_id: factorId } = state.totp;
  const seed = await sigid.secrets.getOwned(PLATFORM_TENANT, 'totp', factorId, accountId, null);
  const command: MfaCommand = {
    type: 'challenge_totp',
    account_id: accountId,
    factor_id: factorId,
    step: seed ? totpStep(seed, code, now) : null,
  };
  const outcome = await handleCommand(sigid.log, mfaAggregate, accountId, command, platform(context));
  return outcome.state.challenge === 'succeeded';
}

/**
 * Checks a recovery code as the account's second factor. One that works is used up at once
 * (`mfa.recovery_code_used`, with how many remain) and never works again, whichever process sees it
 * next; a wrong or used one is a failed challenge (`mfa.challenged`). The typed code is hashed once
 * and compared with every code of the batch in constant time. False without a record when the
 * account has no recovery codes or was erased.
 */
export async function useRecoveryCode(
  sigid: Sigid,
  accountId: string,
  code: string,
  context: UseCase,
): Promise<boolean> {
  if (await erased(sigid, accountId)) return false;
  const state = await mfaState(sigid, accountId);
  if (!state.recovery) return false;
  const { batch_id: batchId } = state.recovery;
  const sealed = (await sigid.secrets.getStored(PLATFORM_TENANT, 'recovery-code', [batchId])).get(batchId);
  const command: MfaCommand = {
    type: 'use_recovery_code',
    account_id: accountId,
    batch_id: batchId,
    code_id: sealed ? await matchRecoveryCode(sealed, code) : null,
  };
  const outcome = await handleCommand(sigid.log, mfaAggregate, accountId, command, platform(context));
  return outcome.state.challenge === 'succeeded';
}

/** Removes the account's authenticator app (`mfa.totp_removed`); its seed and recovery codes are destroyed. A no-op when there is none. */
export function removeTotp(sigid: Sigid, accountId: string, context: UseCase): Promise<Written> {
  return handleCommand(sigid.log, mfaAggregate, accountId, { type: 'remove_totp' }, platform(context));
}

/**
 * Issues ten new recovery codes (`mfa.recovery_codes_issued`) and returns them, shown this once; the
 * earlier ones stop working. Not found when the account has no authenticator app (or was erased).
 */
export async function regenerateRecoveryCodes(
  sigid: Sigid,
  accountId: string,
  context: UseCase,
): Promise<{ recoveryCodes: string[]; written: Written }> {
  await liveAccount(sigid, accountId);
  if (!(await mfaState(sigid, accountId)).totp) throw new NotFoundError('An authenticator app');
  const batch = drawRecoveryCodes(context.random);
  await sealRecoveryCodes(sigid, accountId, batch);
  failpoint('mfa.regenerate:after-recovery-codes');
  const outcome = await handleCommand(
    sigid.log,
    mfaAggregate,
    accountId,
    { type: 'issue_recovery_codes', batch_id: batch.batchId, code_ids: batch.codeIds },
    platform(context),
  );
  return { recoveryCodes: batch.codes, written: outcome };
}

/**
 * The account's second factors, from its stream (never behind a write: whether a sign-in must ask for
 * a second factor cannot lag an enrollment). None once the account is erased.
 */
export async function mfaMethodsOf(
  sigid: Sigid,
  accountId: string,
): Promise<{ totp: { enrolled_at: Date } | null; recovery_codes_remaining: number }> {
  if (await erased(sigid, accountId)) return { totp: null, recovery_codes_remaining: 0 };
  const { state, history } = await mfaHistory(sigid, accountId);
  const factorId = state.totp?.factor_id;
  const enrolled = history.findLast(
    (event) => event.type === 'mfa.totp_enrolled' && (event.data as { factor_id: string }).factor_id === factorId,
  );
  return {
    totp: enrolled ? { enrolled_at: enrolled.time } : null,
    recovery_codes_remaining: state.recovery ? state.recovery.code_ids.length - state.recovery.used.length : 0,
  };
}

/** What an authenticator app shows for a base32 seed at `timestamp` (tests and benches sign in with it). */
export function currentTotp(secret: string, timestamp = Date.now()): string {
  const { algorithm, digits, period } = TOTP_PARAMETERS;
  return TOTP.generate({ secret: Secret.fromBase32(secret), algorithm, digits, period, timestamp });
}
