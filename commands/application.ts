import {
  type ApplicationEvent,
  type ApplicationKind,
  type ApplicationMetadata,
  applicationMetadataFieldNames,
} from '../events/application.ts';
import { checkApplicationMetadata, isConfidential } from '../src/applications/client-metadata.ts';
import { ConflictError, NotFoundError, UnprocessableError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

export type ApplicationCommand =
  /**
   * Registers an application with its whole metadata (defaults filled in). Its client_id must already
   * be reserved for it; a confidential one's secret was made and stored sealed by the caller, which
   * passes only its id.
   */
  | {
      type: 'create_application';
      application_id: string;
      client_id: string;
      kind: ApplicationKind;
      metadata: ApplicationMetadata;
      secret_id: string | null;
    }
  /** Changes metadata; fields left out stay. The result must still be one the kind allows. */
  | { type: 'update_application'; changes: Partial<ApplicationMetadata> }
  /** Replaces a confidential application's secret; the previous one works until `previous_secret_expires_at`. */
  | { type: 'rotate_client_secret'; secret_id: string; previous_secret_expires_at: string }
  /** Deletes the application for good: its secrets stop working, its client_id may be registered again. */
  | { type: 'delete_application' };

export type ApplicationState =
  | { status: 'absent' }
  | {
      status: 'active' | 'deleted';
      application_id: string;
      client_id: string;
      kind: ApplicationKind;
      metadata: ApplicationMetadata;
      /** The current client secret's id; null for a public client. */
      secret_id: string | null;
    };

type Value = ApplicationMetadata[keyof ApplicationMetadata];
const same = (a: Value, b: Value) =>
  Array.isArray(a) && Array.isArray(b) ? a.length === b.length && a.every((item, index) => item === b[index]) : a === b;

export const applicationDecider: Decider<ApplicationCommand, ApplicationState, ApplicationEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'application.created': {
        const { application_id, client_id, kind, secret_id, ...given } = event.data;
        // Created before CIBA: no delivery mode and no notification endpoint.
        const metadata = {
          ...given,
          backchannel_token_delivery_mode: given.backchannel_token_delivery_mode ?? null,
          backchannel_client_notification_endpoint: given.backchannel_client_notification_endpoint ?? null,
        };
        return { status: 'active', application_id, client_id, kind, metadata, secret_id };
      }
      case 'application.updated':
        return state.status === 'absent'
          ? state
          : { ...state, metadata: { ...state.metadata, ...event.data.changes } as ApplicationMetadata };
      case 'application.secret_rotated':
        return state.status === 'absent' ? state : { ...state, secret_id: event.data.secret_id };
      case 'application.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted' };
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_application') {
      if (state.status !== 'absent') {
        // The same create again (a retried request, with the same ids): already done.
        if (
          state.application_id === command.application_id &&
          state.client_id === command.client_id &&
          state.secret_id === command.secret_id
        ) {
          return [];
        }
        throw new ConflictError('application_exists', 'The application already exists.');
      }
      if (isConfidential(command.kind) !== (command.secret_id !== null)) {
        throw new Error(`a ${command.kind} application is created ${command.secret_id ? 'without' : 'with'} a secret`);
      }
      checkApplicationMetadata(command.kind, command.metadata);
      return [
        {
          type: 'application.created',
          data: {
            application_id: command.application_id,
            client_id: command.client_id,
            kind: command.kind,
            ...command.metadata,
            secret_id: command.secret_id,
          },
        },
      ];
    }
    if (state.status === 'absent' || state.status === 'deleted') throw new NotFoundError('The application');
    const application_id = state.application_id;
    switch (command.type) {
      case 'update_application': {
        const changes: Partial<Record<keyof ApplicationMetadata, Value>> = {};
        const previous: typeof changes = {};
        for (const field of applicationMetadataFieldNames) {
          const value = command.changes[field];
          if (value === undefined || same(value, state.metadata[field])) continue;
          changes[field] = value;
          previous[field] = state.metadata[field];
        }
        if (Object.keys(changes).length === 0) return [];
        checkApplicationMetadata(state.kind, { ...state.metadata, ...changes } as ApplicationMetadata);
        return [
          {
            type: 'application.updated',
            data: {
              application_id,
              changes: changes as Partial<ApplicationMetadata>,
              previous: previous as Partial<ApplicationMetadata>,
            },
          },
        ];
      }
      case 'rotate_client_secret':
        if (state.secret_id === null) {
          throw new UnprocessableError('public_client', `A ${state.kind} application is public: it has no secret.`);
        }
        // The rotation this command names is the current one already (a retried request).
        if (state.secret_id === command.secret_id) return [];
        return [
          {
            type: 'application.secret_rotated',
            data: {
              application_id,
              secret_id: command.secret_id,
              previous_secret_id: state.secret_id,
              previous_secret_expires_at: command.previous_secret_expires_at,
            },
          },
        ];
      case 'delete_application':
        return [{ type: 'application.deleted', data: { application_id, client_id: state.client_id } }];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** An application (an OAuth client): its stream is `{tenant_id}-{application_id}`. */
export const applicationAggregate = defineAggregate('application', applicationDecider);
