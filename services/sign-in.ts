import { sql } from 'kysely';
import { accountAggregate } from '../commands/account.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import type { SignInEvent } from '../events/sign-in.ts';
import { findLinkBySub } from '../read-models/account-links.ts';
import { findAccount } from '../read-models/accounts.ts';
import { findUser } from '../read-models/users.ts';
import type { WriteContext } from '../src/event-log.ts';
import { streamName } from '../src/event-store/port.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import type { Written } from './context.ts';

/** A tenant's sign-in trail: `{tenant_id}-sign_ins` (facts for the audit log; no decision to take). */
export const SIGN_IN_STREAM = 'sign_ins';

/** Appends what happened at a tenant's hosted pages (one append, before the page answers). */
export async function recordSignIn(
  sigid: Sigid,
  events: readonly Pick<SignInEvent, 'type' | 'data'>[],
  context: WriteContext,
): Promise<Written> {
  const result = await sigid.log.append(streamName(context.tenantId, SIGN_IN_STREAM), events, 'any', context);
  return { position: result.position, types: events.map((event) => event.type) };
}

/**
 * The account behind a tenant's `sub`, if it is still there (not erased) and its user may sign in
 * (not blocked or deleted): the issuer finds no account for a blocked user's tokens.
 */
export async function accountOfSub(sigid: Sigid, tenantId: string, sub: string) {
  const link = await findLinkBySub(sigid.readModels, tenantId, sub);
  if (!link) return undefined;
  if (await userBlocked(sigid, tenantId, sub)) return undefined;
  const account = await findAccount(sigid.readModels, link.account_id);
  return account ? { ...account, sub } : undefined;
}

/** Whether the tenant blocked (or deleted) its user of `sub`. */
export async function userBlocked(sigid: Sigid, tenantId: string, sub: string): Promise<boolean> {
  const user = await findUser(sigid.readModels, tenantId, sub);
  return user !== undefined && user.status !== 'active';
}

/** The account's e-mail address, opened from its sealed event (null once erased). */
export async function accountEmail(sigid: Sigid, accountId: string): Promise<string | null> {
  const history = await sigid.log.readStream(accountAggregate.stream(PLATFORM_TENANT, accountId));
  let email: string | null = null;
  for (const event of history) {
    const data = event.data as { email?: string | null };
    if (event.type === 'account.created') email = data.email ?? null;
  }
  return email;
}

/**
 * The claims a tenant may see of its `sub`: only the sub itself, unless the granted scopes include
 * `email` (then the address and whether it is verified). Phone numbers and profile fields arrive
 * with the tenant's user profiles.
 */
export async function subjectClaims(
  sigid: Sigid,
  tenantId: string,
  sub: string,
  scope: string,
): Promise<Record<string, unknown> | undefined> {
  const account = await accountOfSub(sigid, tenantId, sub);
  if (!account) return undefined;
  const scopes = new Set(scope.split(' '));
  const claims: Record<string, unknown> = { sub };
  if (scopes.has('email')) {
    const email = await accountEmail(sigid, account.account_id);
    if (email !== null) {
      claims.email = email;
      claims.email_verified = account.email_verified;
    }
  }
  return claims;
}

/** A sign-in session at a tenant's issuer, as the account page lists it. */
export interface SessionSummary {
  id: string;
  sessionUid: string;
  tenantId: string;
  sub: string;
  signedInAt: Date | null;
  expiresAt: Date | null;
  clients: string[];
}

/** The live sessions of `sub`s (each at its tenant): from oidc-provider's storage. */
export async function sessionsOf(
  sigid: Sigid,
  subjects: readonly { tenantId: string; sub: string }[],
): Promise<SessionSummary[]> {
  if (subjects.length === 0) return [];
  const rows = await sigid.readModels
    .selectFrom('oidc_payloads')
    .select(['tenant_id', 'id', 'payload', 'expires_at'])
    .where('model', '=', 'Session')
    .where((eb) =>
      eb.or(
        subjects.map(({ tenantId, sub }) =>
          eb.and([eb('tenant_id', '=', tenantId), eb(sql`payload->>'accountId'`, '=', sub)]),
        ),
      ),
    )
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]))
    .execute();
  return rows.map((row) => {
    const payload = row.payload as { uid?: string; accountId?: string; loginTs?: number; authorizations?: object };
    return {
      id: row.id,
      sessionUid: String(payload.uid ?? row.id),
      tenantId: row.tenant_id,
      sub: String(payload.accountId),
      signedInAt: typeof payload.loginTs === 'number' ? new Date(payload.loginTs * 1000) : null,
      expiresAt: row.expires_at,
      clients: Object.keys(payload.authorizations ?? {}),
    };
  });
}

/**
 * Ends sessions: the event first (`session.ended`, one append per tenant), then the sessions'
 * rows removed at once. A crash between is healed by the `sessions` reactor, which removes every
 * session an event calls ended (projections/sessions.ts).
 */
export async function endSessions(
  sigid: Sigid,
  sessions: readonly SessionSummary[],
  reason: 'signed_out' | 'revoked' | 'signed_out_everywhere',
  context: Omit<WriteContext, 'tenantId'>,
): Promise<void> {
  const byTenant = new Map<string, SessionSummary[]>();
  for (const session of sessions) byTenant.set(session.tenantId, [...(byTenant.get(session.tenantId) ?? []), session]);
  for (const [tenantId, ended] of byTenant) {
    await recordSignIn(
      sigid,
      ended.map((session) => ({
        type: 'session.ended' as const,
        data: { session_id: session.sessionUid, sub: session.sub, reason },
      })),
      { ...context, tenantId },
    );
    // The event first: a crash here leaves the sessions to the `sessions` reactor, which removes them.
    failpoint('session.end:after-event');
    await sigid.readModels
      .deleteFrom('oidc_payloads')
      .where('tenant_id', '=', tenantId)
      .where('model', '=', 'Session')
      .where(
        'id',
        'in',
        ended.map((session) => session.id),
      )
      .execute();
  }
}

/** A consent a person gave an application at a tenant: oidc-provider's grant. */
export interface ConsentSummary {
  grantId: string;
  clientId: string;
  scopes: string[];
}

/** The live grants of `sub` at a tenant (from oidc-provider's storage). */
export async function grantsOf(sigid: Sigid, tenantId: string, sub: string): Promise<ConsentSummary[]> {
  const rows = await sigid.readModels
    .selectFrom('oidc_payloads')
    .select(['id', 'payload'])
    .where('tenant_id', '=', tenantId)
    .where('model', '=', 'Grant')
    .where(sql<string>`payload->>'accountId'`, '=', sub)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]))
    .execute();
  return rows.map((row) => {
    const payload = row.payload as { clientId?: string; openid?: { scope?: string } };
    return {
      grantId: row.id,
      clientId: String(payload.clientId),
      scopes: (payload.openid?.scope ?? '').split(' ').filter(Boolean),
    };
  });
}

/**
 * Withdraws a consent: `consent.revoked` first, then the grant and every token issued under it
 * removed. A crash between is healed by the `sessions` reactor, which removes them from the event.
 */
export async function revokeConsent(
  sigid: Sigid,
  tenantId: string,
  sub: string,
  grant: ConsentSummary,
  context: Omit<WriteContext, 'tenantId'>,
): Promise<void> {
  await recordSignIn(
    sigid,
    [{ type: 'consent.revoked', data: { sub, client_id: grant.clientId, grant_id: grant.grantId } }],
    { ...context, tenantId },
  );
  failpoint('consent.revoke:after-event');
  await removeGrant(sigid.readModels, tenantId, grant.grantId);
}

/** The grant and everything issued under it (codes, access and refresh tokens). */
export async function removeGrant(db: Sigid['readModels'], tenantId: string, grantId: string): Promise<void> {
  await db
    .deleteFrom('oidc_payloads')
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('grant_id', '=', grantId), eb.and([eb('model', '=', 'Grant'), eb('id', '=', grantId)])]))
    .execute();
}
