import type { AccountEvent } from '../events/account.ts';
import type { SubjectEvent } from '../events/subject.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { streamName } from '../src/event-store/port.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';
import { PLATFORM_TENANT } from './tenant.ts';

export type AccountCommand =
  /** Opens the account; its e-mail was reserved and its password (if any) sealed by the caller. */
  | {
      type: 'create_account';
      account_id: string;
      email: string;
      method: 'password' | 'passkey' | 'federated';
      password_id: string | null;
    }
  /** Marks the e-mail address verified. */
  | { type: 'verify_email' }
  /** Sets a new password, sealed by the caller under `password_id`. */
  | { type: 'set_password'; password_id: string; reason: 'changed' | 'reset' }
  /** Links the account to a tenant under `sub`; a no-op when it is linked there already (its first sub stays). */
  | { type: 'link_tenant'; tenant_id: string; sub: string }
  /** Ends the account's link to a tenant (its user there was deleted); a no-op when it holds no link, or another sub, there. */
  | { type: 'unlink_tenant'; tenant_id: string; sub: string };

export type AccountState =
  | { status: 'absent' }
  /** Its personal data erased (crypto-shredded): the account is gone for good. */
  | { status: 'erased' }
  | {
      status: 'active';
      account_id: string;
      email_verified: boolean;
      password_id: string | null;
      /** tenant id → the account's sub there. */
      links: Record<string, string>;
    };

/** Erasure appends `subject.personal_data.erased` to the account's own stream: the account ends there. */
type AccountStreamEvent = AccountEvent | SubjectEvent;

export const accountDecider: Decider<AccountCommand, AccountState, AccountStreamEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'account.created':
        return {
          status: 'active',
          account_id: event.data.account_id,
          email_verified: false,
          password_id: null,
          links: {},
        };
      case 'account.email_verified':
        return state.status !== 'active' ? state : { ...state, email_verified: true };
      case 'account.password_set':
        return state.status !== 'active' ? state : { ...state, password_id: event.data.password_id };
      case 'subject.personal_data.erased':
        return { status: 'erased' };
      case 'account.linked':
        return state.status !== 'active'
          ? state
          : { ...state, links: { ...state.links, [event.data.tenant_id]: event.data.sub } };
      case 'account.unlinked': {
        if (state.status !== 'active') return state;
        const { [event.data.tenant_id]: _ended, ...links } = state.links;
        return { ...state, links };
      }
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_account') {
      if (state.status !== 'absent') {
        // The same create again (a retried request, with the same ids): already done.
        if (
          state.status === 'active' &&
          state.account_id === command.account_id &&
          state.password_id === command.password_id
        )
          return [];
        throw new ConflictError('account_exists', 'The account already exists.');
      }
      const created: AccountEvent = {
        type: 'account.created',
        data: { account_id: command.account_id, email: command.email, method: command.method },
      };
      return command.password_id === null
        ? [created]
        : [
            created,
            {
              type: 'account.password_set',
              data: { account_id: command.account_id, password_id: command.password_id, reason: 'sign_up' },
            },
          ];
    }
    if (state.status !== 'active') throw new NotFoundError('The account');
    switch (command.type) {
      case 'verify_email':
        return state.email_verified ? [] : [{ type: 'account.email_verified', data: { account_id: state.account_id } }];
      case 'set_password':
        if (state.password_id === command.password_id) return [];
        return [
          {
            type: 'account.password_set',
            data: { account_id: state.account_id, password_id: command.password_id, reason: command.reason },
          },
        ];
      case 'link_tenant':
        if (state.links[command.tenant_id] !== undefined) return [];
        return [
          {
            type: 'account.linked',
            data: { account_id: state.account_id, tenant_id: command.tenant_id, sub: command.sub },
          },
        ];
      case 'unlink_tenant':
        if (state.links[command.tenant_id] !== command.sub) return [];
        return [
          {
            type: 'account.unlinked',
            data: { account_id: state.account_id, tenant_id: command.tenant_id, sub: command.sub },
          },
        ];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** A SigID account: a platform stream, `platform-{account_id}`, whatever tenant a write comes through. */
export const accountAggregate = defineAggregate('account', accountDecider, (_tenantId, id) =>
  streamName(PLATFORM_TENANT, id),
);
