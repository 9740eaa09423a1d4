import type { z } from 'zod';
import { type ApiEvent, type ApiSettings, apiSettingsFields } from '../events/api.ts';
import { ConflictError, NotFoundError, ValidationError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import { changedFields, type Decider, sameJson } from './decider.ts';

export type ApiCommand =
  /** Registers an API with its whole settings (defaults filled in); its identifier must already be reserved for it. */
  | { type: 'create_api'; api_id: string; identifier: string; settings: ApiSettings }
  /** Changes name, scopes or token lifetime; fields left out stay. A scope removed leaves every grant. */
  | { type: 'update_api'; changes: Partial<ApiSettings> }
  /** Deletes the API for good: its grants end, its identifier may be registered again. */
  | { type: 'delete_api' }
  /** Sets which of the API's scopes an application may get; each must be one of the API's (400 otherwise). */
  | { type: 'set_grant'; application_id: string; scopes: string[] }
  /** Removes an application's grant on the API. */
  | { type: 'remove_grant'; application_id: string };

export type ApiState =
  | { status: 'absent' }
  | {
      status: 'active' | 'deleted';
      api_id: string;
      identifier: string;
      settings: ApiSettings;
      /** Each granted application's scopes, by application id. */
      grants: Readonly<Record<string, readonly string[]>>;
    };

const settingNames = Object.keys(apiSettingsFields) as (keyof ApiSettings)[];

/** The grants with every scope the API no longer defines taken out. */
function prunedGrants(grants: ApiState & { status: 'active' | 'deleted' }, scopes: ApiSettings['scopes']) {
  const defined = new Set(scopes.map((scope) => scope.value));
  return Object.fromEntries(
    Object.entries(grants.grants).map(([applicationId, granted]) => [
      applicationId,
      granted.filter((value) => defined.has(value)),
    ]),
  );
}

export const apiDecider: Decider<ApiCommand, ApiState, ApiEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'api.created': {
        const { api_id, identifier, ...settings } = event.data;
        return { status: 'active', api_id, identifier, settings, grants: {} };
      }
      case 'api.updated': {
        if (state.status === 'absent') return state;
        const settings = { ...state.settings, ...event.data.changes } as ApiSettings;
        return { ...state, settings, grants: prunedGrants(state, settings.scopes) };
      }
      case 'api.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted', grants: {} };
      case 'api.grant.set':
        return state.status === 'absent'
          ? state
          : { ...state, grants: { ...state.grants, [event.data.application_id]: event.data.scopes } };
      case 'api.grant.removed': {
        if (state.status === 'absent') return state;
        const { [event.data.application_id]: _removed, ...grants } = state.grants;
        return { ...state, grants };
      }
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_api') {
      if (state.status !== 'absent') {
        // The same create again (a retried request, with the same ids): already done.
        if (state.api_id === command.api_id && state.identifier === command.identifier) return [];
        throw new ConflictError('api_exists', 'The API already exists.');
      }
      return [
        {
          type: 'api.created',
          data: { api_id: command.api_id, identifier: command.identifier, ...command.settings },
        },
      ];
    }
    if (state.status === 'absent' || state.status === 'deleted') throw new NotFoundError('The API');
    const api_id = state.api_id;
    switch (command.type) {
      case 'update_api': {
        const changed = changedFields(settingNames, command.changes, state.settings);
        return changed ? [{ type: 'api.updated', data: { api_id, ...changed } }] : [];
      }
      case 'delete_api':
        return [{ type: 'api.deleted', data: { api_id, identifier: state.identifier } }];
      case 'set_grant': {
        const defined = new Set(state.settings.scopes.map((scope) => scope.value));
        const unknown = command.scopes
          .map((value, index) => ({ value, index }))
          .filter(({ value }) => !defined.has(value));
        if (unknown.length > 0) {
          throw new ValidationError(
            "Every granted scope must be one of the API's scopes.",
            unknown.map(({ value, index }) => ({
              code: 'custom',
              path: ['scopes', index],
              message: `"${value}" is not a scope of this API.`,
              input: value,
            })) as z.core.$ZodIssue[],
          );
        }
        const scopes = [...new Set(command.scopes)];
        const previous = state.grants[command.application_id];
        if (previous && sameJson(previous, scopes)) return [];
        return [
          {
            type: 'api.grant.set',
            data: {
              api_id,
              application_id: command.application_id,
              scopes,
              previous_scopes: previous ? [...previous] : null,
            },
          },
        ];
      }
      case 'remove_grant': {
        const previous = state.grants[command.application_id];
        if (!previous) throw new NotFoundError('The grant');
        return [
          {
            type: 'api.grant.removed',
            data: { api_id, application_id: command.application_id, scopes: [...previous] },
          },
        ];
      }
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** An API (a resource server) with its grants: its stream is `{tenant_id}-{api_id}`. */
export const apiAggregate = defineAggregate('api', apiDecider);
