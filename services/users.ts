import { accountAggregate } from '../commands/account.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { userAggregate } from '../commands/user.ts';
import type { UserProfile } from '../events/user.ts';
import { findLinkBySub } from '../read-models/account-links.ts';
import { findAccount } from '../read-models/accounts.ts';
import { handleCommand } from '../src/command-handler.ts';
import { NotFoundError } from '../src/errors.ts';
import type { WriteContext } from '../src/event-log.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import { type Written, writtenTogether } from './context.ts';
import { erasePersonalData } from './erasure.ts';
import { accountEmail, endSessions, type SessionSummary, sessionsOf } from './sign-in.ts';

type Change = WriteContext & { ifMatch?: number | undefined };

const nothing: Written = { position: null, types: [] };

async function userState(sigid: Sigid, tenantId: string, sub: string) {
  const history = await sigid.log.readStream(userAggregate.stream(tenantId, sub));
  return history.reduce(
    (current, event) => userAggregate.decider.evolve(current, event as never),
    userAggregate.decider.initialState(),
  );
}

/**
 * Makes sure the tenant's user of a linked account exists, and that its copy of the account's e-mail
 * status is current: `user.created` after a new link (or after one whose process died before it),
 * `user.updated` when the account's address was verified since. SigID's own sign-in calls it on
 * every sign-in, so a user missing after a crash is made the next time the person signs in.
 * Answers `deleted` when the user was deleted (a delete that died before ending the link).
 */
export async function ensureUser(
  sigid: Sigid,
  tenantId: string,
  sub: string,
  accountId: string,
  context: WriteContext,
): Promise<{ status: 'active' | 'blocked' | 'deleted'; written: Written }> {
  const state = await userState(sigid, tenantId, sub);
  if (state.status === 'deleted') return { status: 'deleted', written: nothing };
  const account = await findAccount(sigid.readModels, accountId);
  const emailVerified = account?.email_verified ?? false;
  if (state.status !== 'absent' && state.fields.email_verified === emailVerified)
    return { status: state.status, written: nothing };
  const write = { ...context, tenantId, actor: { type: 'system', id: 'sign-in' } as const };
  const outcome =
    state.status === 'absent'
      ? await handleCommand(
          sigid.log,
          userAggregate,
          sub,
          {
            type: 'create_user',
            sub,
            email: await accountEmail(sigid, accountId),
            email_verified: emailVerified,
          },
          write,
        )
      : await handleCommand(
          sigid.log,
          userAggregate,
          sub,
          { type: 'sync_account', email_verified: emailVerified },
          write,
        );
  const status = outcome.state.status === 'absent' ? 'active' : outcome.state.status;
  return { status, written: outcome };
}

/** Changes the profile fields the tenant owns; fields left out stay. */
export function updateUser(
  sigid: Sigid,
  sub: string,
  changes: Partial<UserProfile>,
  context: Change,
): Promise<Written> {
  const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  return handleCommand(sigid.log, userAggregate, sub, { type: 'update_profile', changes: defined }, context);
}

/**
 * Blocks a user: one event, `user.blocked`. The hosted pages refuse their sign-in from it on, the
 * issuer finds no such account for their tokens, and the `sessions` reactor removes every session,
 * grant, code and token of the sub before the answer goes out (read your writes waits for it).
 */
export function blockUser(sigid: Sigid, sub: string, context: Change): Promise<Written> {
  return handleCommand(sigid.log, userAggregate, sub, { type: 'block_user' }, context);
}

/** Unblocks a user: they can sign in again (their ended sessions stay ended). */
export function unblockUser(sigid: Sigid, sub: string, context: Change): Promise<Written> {
  return handleCommand(sigid.log, userAggregate, sub, { type: 'unblock_user' }, context);
}

/**
 * Deletes a user, in three durable steps, each safe to run again: `user.deleted` (the tombstone;
 * the `sessions` reactor ends their sessions, grants and tokens), then `account.unlinked` on the
 * account (signing in again later makes a new sub), then the sub's subject key destroyed
 * (`subject.personal_data.erased`: every personal field the tenant's events hold reads null). A
 * process that dies between the steps leaves a tombstone whose retried DELETE finishes the rest;
 * the person's next sign-in finishes it too (see `linkAccount`).
 */
export async function deleteUser(sigid: Sigid, sub: string, context: Change): Promise<Written> {
  const deleted = await handleCommand(sigid.log, userAggregate, sub, { type: 'delete_user' }, context);
  failpoint('user.delete:after-event');
  const { ifMatch: _pinned, ...write } = context;
  const link = await findLinkBySub(sigid.readModels, context.tenantId, sub);
  const unlinked = link ? await unlink(sigid, link.account_id, sub, write) : nothing;
  failpoint('user.delete:after-unlink');
  const erased = await erase(sigid, sub, write);
  return writtenTogether(deleted, unlinked, erased);
}

/** The rest of a delete that died before its unlink, for the sign-in that finds the old link. */
export async function finishDeletion(sigid: Sigid, sub: string, accountId: string, context: WriteContext) {
  await unlink(sigid, accountId, sub, context);
  await erase(sigid, sub, context);
}

async function unlink(sigid: Sigid, accountId: string, sub: string, context: WriteContext): Promise<Written> {
  return handleCommand(
    sigid.log,
    accountAggregate,
    accountId,
    { type: 'unlink_tenant', tenant_id: context.tenantId, sub },
    { ...context, tenantId: PLATFORM_TENANT },
  );
}

async function erase(sigid: Sigid, sub: string, context: WriteContext): Promise<Written> {
  const state = await userState(sigid, context.tenantId, sub);
  if (state.status !== 'absent' && state.erased) return nothing;
  const result = await erasePersonalData(sigid, sub, context);
  return { position: result.position, types: ['subject.personal_data.erased'] };
}

/** The live sessions of a user at the tenant's issuer. */
export function userSessions(sigid: Sigid, tenantId: string, sub: string): Promise<SessionSummary[]> {
  return sessionsOf(sigid, [{ tenantId, sub }]);
}

/**
 * Ends one session of a user (by its `uid`, the id the API shows; never the cookie's id) or, without
 * a session id, every one: `session.ended` (reason `revoked`) for each, then the sessions removed.
 */
export async function revokeUserSessions(
  sigid: Sigid,
  sub: string,
  sessionUid: string | null,
  context: WriteContext,
): Promise<number> {
  const sessions = await userSessions(sigid, context.tenantId, sub);
  const ended = sessionUid === null ? sessions : sessions.filter((session) => session.sessionUid === sessionUid);
  if (sessionUid !== null && ended.length === 0) throw new NotFoundError('The session');
  const { tenantId: _tenant, ...write } = context;
  await endSessions(sigid, ended, 'revoked', write);
  return ended.length;
}
