import { accountAggregate } from '../commands/account.ts';
import { connectionAggregate } from '../commands/connection.ts';
import { organizationAggregate } from '../commands/organization.ts';
import { reservationAggregate, reservationId } from '../commands/reservation.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import type { ConnectionRow } from '../read-models/connections.ts';
import { findRole } from '../read-models/roles.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import type { MappedProfile } from '../src/sso/oidc-connection.ts';
import { emailKey, federatedIdentityKey, linkAccount } from './accounts.ts';
import { type UseCase, type Written, writtenTogether } from './context.ts';
import { discoverRealm } from './organizations.ts';
import { claimReservation } from './reservations.ts';
import { updateUser } from './users.ts';

/** What a verified callback from a connection's IdP says about the person. */
export interface FederatedIdentity {
  connection: Pick<
    ConnectionRow,
    'connection_id' | 'organization_id' | 'role_mapping' | 'link_existing_accounts' | 'enabled'
  >;
  /** The IdP's issuer and its `sub` for the person. */
  issuer: string;
  subject: string;
  profile: MappedProfile;
}

export interface FederatedSignIn {
  sub: string;
  account: 'new_account' | 'existing_account';
  written: Written;
}

async function stateOf<State>(
  sigid: Sigid,
  aggregate: {
    decider: { evolve(s: State, e: never): State; initialState(): State };
    stream(t: string, i: string): string;
  },
  tenantId: string,
  id: string,
): Promise<{ state: State; length: number; first: unknown }> {
  const history = await sigid.log.readStream(aggregate.stream(tenantId, id));
  return {
    state: history.reduce(
      (current, event) => aggregate.decider.evolve(current, event as never),
      aggregate.decider.initialState(),
    ),
    length: history.length,
    first: history[0],
  };
}

/** Who holds a platform reservation now (the write side), or null. */
async function holder(sigid: Sigid, kind: 'federated_identity' | 'email', value: string): Promise<string | null> {
  const { state } = await stateOf(sigid, reservationAggregate, PLATFORM_TENANT, reservationId(kind, value));
  return state.status === 'held' ? state.owner_id : null;
}

/** Whether an account was erased (crypto-shredded): its identities may be taken over by a new account. */
async function accountErased(sigid: Sigid, accountId: string): Promise<boolean> {
  const { state } = await stateOf(sigid, accountAggregate, PLATFORM_TENANT, accountId);
  return state.status === 'erased';
}

/**
 * Whether SigID may take the IdP's word for the address: the IdP says it is verified, and the
 * connection's own organization has verified the address's domain in DNS. A tenant's IdP is the
 * tenant's to run, so its claims alone never reach a SigID account of someone outside its domain.
 */
async function trustedAddress(sigid: Sigid, tenantId: string, identity: FederatedIdentity): Promise<boolean> {
  const { email, email_verified } = identity.profile;
  if (!email || !email_verified) return false;
  const realm = await discoverRealm(sigid, tenantId, email);
  return realm?.organization_id === identity.connection.organization_id;
}

/**
 * Signs a person in through an SSO connection, after its callback was verified: finds the SigID
 * account their IdP identity is linked to, or links one (an existing account with the same address
 * when the connection allows it and the address is trusted, else a new account), links it to the
 * tenant (their `sub`), records `connection.user.linked` once, brings their profile up to date and
 * makes them a member of the connection's organization (with the mapped roles, when a role mapping is
 * set). Every step is idempotent and a later one never comes before an earlier one, so a process that
 * dies between two steps leaves state the next sign-in completes: the identity's reservation names
 * the account before the account is made, and an account under it that was never made is made then.
 */
export async function signInThroughConnection(
  sigid: Sigid,
  tenantId: string,
  identity: FederatedIdentity,
  context: UseCase,
): Promise<FederatedSignIn> {
  const { connection, profile } = identity;
  if (!profile.email) throw new NotFoundError('The e-mail address');
  const platform = { ...context, tenantId: PLATFORM_TENANT };
  const writes: Written[] = [];
  const key = await federatedIdentityKey(sigid, {
    tenantId,
    connectionId: connection.connection_id,
    issuer: identity.issuer,
    subject: identity.subject,
  });
  const trusted = await trustedAddress(sigid, tenantId, identity);
  let accountId = await holder(sigid, 'federated_identity', key);
  if (accountId && (await accountErased(sigid, accountId))) accountId = null;
  if (!accountId) {
    const existing =
      trusted && connection.link_existing_accounts
        ? await holder(sigid, 'email', await emailKey(sigid, profile.email))
        : null;
    const candidate = existing && !(await accountErased(sigid, existing)) ? existing : context.random.id('acc');
    try {
      const claimed = await claimReservation(
        sigid,
        {
          scope: PLATFORM_TENANT,
          kind: 'federated_identity',
          value: key,
          ownerId: candidate,
          ownerDeleted: (owner) => accountErased(sigid, owner),
        },
        platform,
      );
      accountId = claimed.ownerId;
      writes.push(claimed.written);
    } catch (error) {
      // Two first sign-ins of one person raced: the other one's account is theirs.
      if (!(error instanceof ConflictError)) throw error;
      accountId = await holder(sigid, 'federated_identity', key);
      if (!accountId) throw error;
    }
  }
  failpoint('sso.sign-in:after-identity');

  // The account: made now when the identity's reservation names one never made (new, or its maker died).
  const account = await stateOf(sigid, accountAggregate, PLATFORM_TENANT, accountId);
  if (account.length === 0) {
    let reserved = false;
    if (trusted) {
      // The address becomes this account's only when it is free: another account keeps its own.
      try {
        writes.push(
          (
            await claimReservation(
              sigid,
              {
                scope: PLATFORM_TENANT,
                kind: 'email',
                value: await emailKey(sigid, profile.email),
                ownerId: accountId,
              },
              platform,
            )
          ).written,
        );
        reserved = true;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    writes.push(
      await handleCommand(
        sigid.log,
        accountAggregate,
        accountId,
        [
          {
            type: 'create_account',
            account_id: accountId,
            email: profile.email,
            method: 'federated',
            password_id: null,
          },
          ...(reserved ? [{ type: 'verify_email' as const }] : []),
        ],
        platform,
      ),
    );
  }
  failpoint('sso.sign-in:after-account');
  const made = account.length === 0 || (account.first as { data?: { method?: string } })?.data?.method === 'federated';

  const linked = await linkAccount(sigid, accountId, tenantId, context);
  writes.push(linked.written);
  const sub = linked.sub;
  failpoint('sso.sign-in:after-user');
  const how = made ? 'new_account' : 'existing_account';
  writes.push(
    await handleCommand(
      sigid.log,
      connectionAggregate,
      connection.connection_id,
      { type: 'link_user', sub, account: how },
      context,
    ),
  );
  failpoint('sso.sign-in:after-link');

  const profileChanges = Object.fromEntries(
    (['name', 'given_name', 'family_name'] as const)
      .filter((field) => profile[field] !== null)
      .map((field) => [field, profile[field]]),
  );
  if (Object.keys(profileChanges).length > 0) {
    writes.push(await updateUser(sigid, sub, profileChanges, { ...context, tenantId }));
  }

  // Just-in-time membership: the mapped roles each time when a role mapping is set, else as it is.
  const organization = await stateOf(sigid, organizationAggregate, tenantId, connection.organization_id);
  if (organization.state.status !== 'active') throw new NotFoundError('The organization');
  const mapping = connection.role_mapping;
  const current = organization.state.members[sub];
  let roles: string[] | null = null;
  if (Object.keys(mapping).length > 0) {
    const wanted = [...new Set(profile.idp_roles.map((value) => mapping[value]).filter((id) => id !== undefined))];
    roles = [];
    // A mapped role deleted since the mapping was saved is left out (the member gets the others).
    for (const roleId of wanted) if (await findRole(sigid.readModels, tenantId, roleId)) roles.push(roleId);
  } else if (!current) roles = [];
  if (roles !== null) {
    writes.push(
      await handleCommand(
        sigid.log,
        organizationAggregate,
        connection.organization_id,
        { type: 'set_member', sub, roles },
        context,
      ),
    );
  }
  return { sub, account: how, written: writtenTogether(...writes) };
}
