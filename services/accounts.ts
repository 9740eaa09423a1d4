import { createHmac, randomBytes } from 'node:crypto';
import { accountAggregate } from '../commands/account.ts';
import { reservationAggregate, reservationId } from '../commands/reservation.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { findAccountLink } from '../read-models/account-links.ts';
import { findAccount } from '../read-models/accounts.ts';
import { handleCommand } from '../src/command-handler.ts';
import { hashPassword, verifyNothing, verifyPassword } from '../src/crypto/password.ts';
import { ConflictError, ValidationError } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import { type UseCase, type Written, writtenTogether } from './context.ts';
import { claimReservation } from './reservations.ts';
import { ensureUser, finishDeletion } from './users.ts';

/** NIST SP 800-63B: at least 8 characters, and long passphrases allowed. */
export const PASSWORD_LENGTH = { min: 8, max: 256 } as const;

/** The e-mail address as accounts are told apart by: trimmed, Unicode NFC, lower case. */
export function normaliseEmail(email: string): string {
  return email.trim().normalize('NFC').toLowerCase();
}

/**
 * The platform's pepper for keyed hashes of personal values (made once, sealed, re-wrapped by a
 * master-key rotation like every secret, so the hashes outlive the key that sealed it).
 */
async function pepper(sigid: Sigid): Promise<Buffer> {
  const stored = await sigid.secrets.get(PLATFORM_TENANT, 'pepper', 'reservations');
  if (stored) return stored;
  // Two processes racing here store one pepper: the first put wins, the second reads it.
  await sigid.secrets.put(PLATFORM_TENANT, 'pepper', 'reservations', randomBytes(32), { active: true });
  return (await sigid.secrets.get(PLATFORM_TENANT, 'pepper', 'reservations')) as Buffer;
}

/**
 * The e-mail address as its reservation names it: a keyed hash, never the address (stream names and
 * reservation events cannot be crypto-shredded).
 */
export async function emailKey(sigid: Sigid, email: string): Promise<string> {
  return createHmac('sha256', await pepper(sigid))
    .update(`email:${normaliseEmail(email)}`)
    .digest('base64url');
}

/**
 * A person's identity at an SSO connection as its reservation names it: a keyed hash of the tenant,
 * the connection, the IdP's issuer and the IdP's `sub`, never the IdP's sub itself.
 */
export async function federatedIdentityKey(
  sigid: Sigid,
  identity: { tenantId: string; connectionId: string; issuer: string; subject: string },
): Promise<string> {
  return createHmac('sha256', await pepper(sigid))
    .update(
      `federated:${identity.tenantId}\u0000${identity.connectionId}\u0000${identity.issuer}\u0000${identity.subject}`,
    )
    .digest('base64url');
}

/** The account that holds an e-mail address, if one does (read from its reservation: the write side). */
export async function accountOfEmail(sigid: Sigid, email: string): Promise<string | undefined> {
  const id = reservationId('email', await emailKey(sigid, email));
  const history = await sigid.log.readStream(reservationAggregate.stream(PLATFORM_TENANT, id));
  const state = history.reduce(
    (current, event) => reservationAggregate.decider.evolve(current, event as never),
    reservationAggregate.decider.initialState(),
  );
  return state.status === 'held' ? state.owner_id : undefined;
}

function checkPassword(password: string): void {
  if (password.length < PASSWORD_LENGTH.min || password.length > PASSWORD_LENGTH.max) {
    throw new ValidationError(`A password has ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters.`);
  }
}

/** Seals a new password hash for the account, inactive until its event is read. */
async function sealPassword(sigid: Sigid, accountId: string, password: string, context: UseCase): Promise<string> {
  const passwordId = context.random.id('pwd');
  await sigid.secrets.put(PLATFORM_TENANT, 'password', passwordId, Buffer.from(await hashPassword(password)), {
    ownerId: accountId,
  });
  return passwordId;
}

/**
 * Signs a person up with an e-mail address and a password: reserves the address (its keyed hash),
 * seals the password's argon2id hash, then opens the account (one append: `account.created` and
 * `account.password_set`). An address already held answers `exists` and changes nothing — the
 * hosted pages answer both the same way, so sign-up tells no one which addresses have accounts.
 * A creator that died after reserving leaves a claim the next sign-up adopts after a minute.
 */
export async function signUpWithPassword(
  sigid: Sigid,
  input: { email: string; password: string },
  context: UseCase,
): Promise<{ status: 'created'; accountId: string; written: Written } | { status: 'exists' }> {
  checkPassword(input.password);
  const platform = { ...context, tenantId: PLATFORM_TENANT };
  let claimed: Awaited<ReturnType<typeof claimReservation>>;
  try {
    claimed = await claimReservation(
      sigid,
      {
        scope: PLATFORM_TENANT,
        kind: 'email',
        value: await emailKey(sigid, input.email),
        ownerId: context.random.id('acc'),
        ownerExists: async (ownerId) =>
          (await sigid.log.readStream(accountAggregate.stream(PLATFORM_TENANT, ownerId))).length > 0,
      },
      platform,
    );
  } catch (error) {
    if (error instanceof ConflictError && error.code === 'email_taken') return { status: 'exists' };
    throw error;
  }
  failpoint('account.sign-up:after-email');
  const passwordId = await sealPassword(sigid, claimed.ownerId, input.password, context);
  failpoint('account.sign-up:after-password');
  const created = await handleCommand(
    sigid.log,
    accountAggregate,
    claimed.ownerId,
    {
      type: 'create_account',
      account_id: claimed.ownerId,
      email: input.email.trim(),
      method: 'password',
      password_id: passwordId,
    },
    platform,
  );
  return { status: 'created', accountId: claimed.ownerId, written: writtenTogether(claimed.written, created) };
}

/**
 * The account an e-mail address and password sign in, or null. Every miss (no such address, no
 * password, a wrong one) costs one argon2id verification, like a hit, so timing tells nothing.
 */
export async function checkPasswordSignIn(sigid: Sigid, email: string, password: string): Promise<string | null> {
  if (password.length > PASSWORD_LENGTH.max)
    return verifyNothing(password.slice(0, PASSWORD_LENGTH.max)).then(() => null);
  const accountId = await accountOfEmail(sigid, email);
  const account = accountId ? await findAccount(sigid.readModels, accountId) : undefined;
  const stored = account?.password_id
    ? await sigid.secrets.get(PLATFORM_TENANT, 'password', account.password_id)
    : undefined;
  if (!account || !stored) return verifyNothing(password).then(() => null);
  return (await verifyPassword(stored.toString('utf8'), password)) ? account.account_id : null;
}

/** Sets a new password (changed by its owner, or reset through a link): the old one stops working at its event. */
export async function setPassword(
  sigid: Sigid,
  accountId: string,
  password: string,
  reason: 'changed' | 'reset',
  context: UseCase,
): Promise<Written> {
  checkPassword(password);
  const passwordId = await sealPassword(sigid, accountId, password, context);
  return handleCommand(
    sigid.log,
    accountAggregate,
    accountId,
    { type: 'set_password', password_id: passwordId, reason },
    { ...context, tenantId: PLATFORM_TENANT },
  );
}

/**
 * The account's `sub` at a tenant, linking it on first use: random for each link (not derived from
 * the account id), so one person's subs at two tenants are unrelated. The link is a platform event;
 * a tenant's own events and read models name only the sub. Then the tenant's user of that sub is
 * made (or brought up to date): the link first, `user.created` second, so a process that dies
 * between them leaves a link whose user the next sign-in makes (`ensureUser` runs on every call). A
 * link whose user was deleted (the delete died before ending it) is ended here and a new sub made.
 */
export async function linkAccount(
  sigid: Sigid,
  accountId: string,
  tenantId: string,
  context: UseCase,
): Promise<{ sub: string; written: Written }> {
  const existing = await findAccountLink(sigid.readModels, accountId, tenantId);
  const write = { ...context, tenantId };
  if (existing) {
    const user = await ensureUser(sigid, tenantId, existing.sub, accountId, write);
    if (user.status !== 'deleted') return { sub: existing.sub, written: user.written };
    await finishDeletion(sigid, existing.sub, accountId, write);
  }
  const outcome = await handleCommand(
    sigid.log,
    accountAggregate,
    accountId,
    { type: 'link_tenant', tenant_id: tenantId, sub: context.random.id('sub') },
    { ...context, tenantId: PLATFORM_TENANT },
  );
  if (outcome.state.status !== 'active') throw new Error('the account is gone');
  const sub = outcome.state.links[tenantId] as string;
  failpoint('account.link:after-link');
  const user = await ensureUser(sigid, tenantId, sub, accountId, write);
  return { sub, written: writtenTogether(outcome, user.written) };
}
