import type { WebhookEvent } from '../events/webhook.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

/** Why an endpoint stopped: an admin, 410 Gone, failing too long, or no signing secret left to sign with. */
export type DisabledReason = 'manual' | 'gone' | 'failing' | 'no_signing_secret';

export type WebhookCommand =
  /** Creates an endpoint; its secret was made and stored sealed by the caller, only its id is passed. */
  | {
      type: 'create_endpoint';
      endpoint_id: string;
      url: string;
      event_types: string[];
      description: string | null;
      secret_id: string;
    }
  /** Changes the URL, the subscribed event types or the description; unchanged fields are left out. */
  | { type: 'update_endpoint'; url?: string; event_types?: string[]; description?: string | null }
  /** Stops deliveries: by an admin, or by SigID on 410 Gone or after failing too long. */
  | { type: 'disable_endpoint'; reason: DisabledReason; detail: string | null }
  /** Resumes deliveries. */
  | { type: 'enable_endpoint' }
  /** Deletes the endpoint for good. */
  | { type: 'delete_endpoint' }
  /** Replaces the signing secret; the previous one keeps signing until `previous_secret_expires_at`. */
  | { type: 'rotate_secret'; secret_id: string; previous_secret_expires_at: string }
  /** Records an admin's request to deliver every matching event since a time or position again. */
  | { type: 'request_replay'; replay_id: string; since: string | null; after_position: number | null }
  /** Records an admin's request to deliver one message again. */
  | {
      type: 'request_redelivery';
      message_id: string;
      event_id: string;
      /** The new message the fan-out queues. */
      redelivery_message_id: string;
      event_position: number;
      event_type: string;
    };

export type WebhookState =
  | { status: 'absent' }
  | {
      status: 'enabled' | 'disabled' | 'deleted';
      endpoint_id: string;
      url: string;
      event_types: string[];
      description: string | null;
      secret_id: string;
      /** The latest replay and redelivery requests' ids: a retried request is not recorded twice. */
      recent_requests: string[];
    };

/** How many request ids the state keeps: more than the retries of one crashed request can interleave with. */
const RECENT_REQUESTS = 32;
const remember = (recent: readonly string[], id: string | null) =>
  id === null ? [...recent] : [...recent, id].slice(-RECENT_REQUESTS);

const sameTypes = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((value, index) => value === b[index]);

export const webhookDecider: Decider<WebhookCommand, WebhookState, WebhookEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'webhook.endpoint.created':
        return {
          status: 'enabled',
          endpoint_id: event.data.endpoint_id,
          url: event.data.url,
          event_types: event.data.event_types,
          description: event.data.description,
          secret_id: event.data.secret_id,
          recent_requests: [],
        };
      case 'webhook.endpoint.updated':
        return state.status === 'absent'
          ? state
          : {
              ...state,
              ...(event.data.changes.url !== undefined ? { url: event.data.changes.url } : {}),
              ...(event.data.changes.event_types !== undefined ? { event_types: event.data.changes.event_types } : {}),
              ...(event.data.changes.description !== undefined ? { description: event.data.changes.description } : {}),
            };
      case 'webhook.endpoint.disabled':
        return state.status === 'absent' ? state : { ...state, status: 'disabled' };
      case 'webhook.endpoint.enabled':
        return state.status === 'absent' ? state : { ...state, status: 'enabled' };
      case 'webhook.endpoint.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted' };
      case 'webhook.endpoint.secret_rotated':
        return state.status === 'absent' ? state : { ...state, secret_id: event.data.secret_id };
      case 'webhook.endpoint.replay_requested':
        return state.status === 'absent'
          ? state
          : { ...state, recent_requests: remember(state.recent_requests, event.data.replay_id) };
      case 'webhook.message.redelivery_requested':
        return state.status === 'absent'
          ? state
          : { ...state, recent_requests: remember(state.recent_requests, event.data.redelivery_message_id) };
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_endpoint') {
      if (state.status !== 'absent') {
        // The same create again (a retried request, with the same ids): already done.
        if (state.endpoint_id === command.endpoint_id && state.secret_id === command.secret_id) return [];
        throw new ConflictError('webhook_exists', 'The webhook endpoint already exists.');
      }
      return [
        {
          type: 'webhook.endpoint.created',
          data: {
            endpoint_id: command.endpoint_id,
            url: command.url,
            event_types: command.event_types,
            description: command.description,
            secret_id: command.secret_id,
          },
        },
      ];
    }
    if (state.status === 'absent' || state.status === 'deleted') throw new NotFoundError('The webhook endpoint');
    const endpoint_id = state.endpoint_id;
    switch (command.type) {
      case 'update_endpoint': {
        const changes: { url?: string; event_types?: string[]; description?: string | null } = {};
        const previous: typeof changes = {};
        if (command.url !== undefined && command.url !== state.url) {
          changes.url = command.url;
          previous.url = state.url;
        }
        if (command.event_types !== undefined && !sameTypes(command.event_types, state.event_types)) {
          changes.event_types = command.event_types;
          previous.event_types = state.event_types;
        }
        if (command.description !== undefined && command.description !== state.description) {
          changes.description = command.description;
          previous.description = state.description;
        }
        return Object.keys(changes).length === 0
          ? []
          : [{ type: 'webhook.endpoint.updated', data: { endpoint_id, changes, previous } }];
      }
      case 'disable_endpoint':
        return state.status === 'disabled'
          ? []
          : [
              {
                type: 'webhook.endpoint.disabled',
                data: { endpoint_id, reason: command.reason, detail: command.detail },
              },
            ];
      case 'enable_endpoint':
        return state.status === 'enabled' ? [] : [{ type: 'webhook.endpoint.enabled', data: { endpoint_id } }];
      case 'delete_endpoint':
        return [{ type: 'webhook.endpoint.deleted', data: { endpoint_id } }];
      case 'rotate_secret':
        // The rotation this command names is the current one already (a retried request).
        if (state.secret_id === command.secret_id) return [];
        return [
          {
            type: 'webhook.endpoint.secret_rotated',
            data: {
              endpoint_id,
              secret_id: command.secret_id,
              previous_secret_id: state.secret_id,
              previous_secret_expires_at: command.previous_secret_expires_at,
            },
          },
        ];
      case 'request_replay':
        if (state.recent_requests.includes(command.replay_id)) return [];
        return [
          {
            type: 'webhook.endpoint.replay_requested',
            data: {
              endpoint_id,
              replay_id: command.replay_id,
              since: command.since,
              after_position: command.after_position,
              // The subscription as it is now: the fan-out replays what the admin saw subscribed.
              event_types: state.event_types,
            },
          },
        ];
      case 'request_redelivery':
        if (state.recent_requests.includes(command.redelivery_message_id)) return [];
        return [
          {
            type: 'webhook.message.redelivery_requested',
            data: {
              endpoint_id,
              message_id: command.message_id,
              event_id: command.event_id,
              redelivery_message_id: command.redelivery_message_id,
              event_position: command.event_position,
              event_type: command.event_type,
            },
          },
        ];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** A webhook endpoint: its stream is `{tenant_id}-{endpoint_id}`. */
export const webhookEndpointAggregate = defineAggregate('webhook_endpoint', webhookDecider);
