import { type ConnectionEvent, type ConnectionSettings, connectionSettingsFields } from '../events/connection.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import { changedFields, type Decider } from './decider.ts';

export type ConnectionCommand =
  /** Creates a connection of an organization; its IdP was checked and its client secret sealed by the caller. */
  | {
      type: 'create_connection';
      connection_id: string;
      organization_id: string;
      enabled: boolean;
      settings: ConnectionSettings;
    }
  /** Changes name, OIDC settings, mappings or the linking rule; fields left out stay. */
  | { type: 'update_connection'; changes: Partial<ConnectionSettings> }
  /** Enables or disables the connection; a no-op when it is so already. */
  | { type: 'set_enabled'; enabled: boolean }
  /** Deletes the connection for good. */
  | { type: 'delete_connection' }
  /** Records that a person's IdP identity now signs in as tenant user `sub`; a no-op when it was recorded. */
  | { type: 'link_user'; sub: string; account: 'new_account' | 'existing_account' };

export type ConnectionState =
  | { status: 'absent' }
  | {
      status: 'active' | 'deleted';
      connection_id: string;
      organization_id: string;
      protocol: 'oidc';
      enabled: boolean;
      settings: ConnectionSettings;
      /** The tenant subs linked through this connection. */
      linked: Readonly<Record<string, true>>;
    };

const settingNames = Object.keys(connectionSettingsFields) as (keyof ConnectionSettings)[];

export const connectionDecider: Decider<ConnectionCommand, ConnectionState, ConnectionEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'connection.created': {
        const { connection_id, organization_id, protocol, enabled, ...settings } = event.data;
        return { status: 'active', connection_id, organization_id, protocol, enabled, settings, linked: {} };
      }
      case 'connection.updated':
        return state.status === 'absent'
          ? state
          : { ...state, settings: { ...state.settings, ...event.data.changes } as ConnectionSettings };
      case 'connection.enabled':
        return state.status === 'absent' ? state : { ...state, enabled: true };
      case 'connection.disabled':
        return state.status === 'absent' ? state : { ...state, enabled: false };
      case 'connection.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted', enabled: false };
      case 'connection.user.linked':
        return state.status === 'absent' ? state : { ...state, linked: { ...state.linked, [event.data.sub]: true } };
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_connection') {
      if (state.status !== 'absent') {
        // The same create again (a retried request, with the same ids): already done.
        if (state.connection_id === command.connection_id && state.organization_id === command.organization_id)
          return [];
        throw new ConflictError('connection_exists', 'The connection already exists.');
      }
      return [
        {
          type: 'connection.created',
          data: {
            connection_id: command.connection_id,
            organization_id: command.organization_id,
            protocol: 'oidc',
            enabled: command.enabled,
            ...command.settings,
          },
        },
      ];
    }
    if (state.status === 'absent' || state.status === 'deleted') throw new NotFoundError('The connection');
    const { connection_id, organization_id } = state;
    switch (command.type) {
      case 'update_connection': {
        const changed = changedFields(settingNames, command.changes, state.settings);
        return changed ? [{ type: 'connection.updated', data: { connection_id, ...changed } }] : [];
      }
      case 'set_enabled':
        if (state.enabled === command.enabled) return [];
        return [
          {
            type: command.enabled ? 'connection.enabled' : 'connection.disabled',
            data: { connection_id, organization_id },
          },
        ];
      case 'delete_connection':
        return [{ type: 'connection.deleted', data: { connection_id, organization_id } }];
      case 'link_user':
        if (state.linked[command.sub]) return [];
        return [
          {
            type: 'connection.user.linked',
            data: { connection_id, organization_id, sub: command.sub, account: command.account },
          },
        ];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** An SSO connection with the users linked through it: its stream is `{tenant_id}-{connection_id}`. */
export const connectionAggregate = defineAggregate('connection', connectionDecider);
