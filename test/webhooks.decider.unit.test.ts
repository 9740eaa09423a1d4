import { describe, expect, it } from 'vitest';
import { webhookDecider } from '../commands/webhook.ts';
import { catalog } from '../events/catalog.ts';
import { matchesEventType } from '../events/webhook.ts';
import { specFor } from './support/given-when-then.ts';

const webhook = specFor(webhookDecider);

const created = {
  type: 'webhook.endpoint.created' as const,
  data: {
    endpoint_id: 'whk_1',
    url: 'https://hooks.example.com/sigid',
    event_types: ['agent.*'],
    description: null,
    secret_id: 'whsec_a',
  },
};
const disabledBySigid = {
  type: 'webhook.endpoint.disabled' as const,
  data: { endpoint_id: 'whk_1', reason: 'gone' as const, detail: 'The receiver answered 410 Gone.' },
};

describe('webhook endpoint decider', () => {
  it('creates an endpoint once, naming its secret by id only', () => {
    webhook([])
      .when({ type: 'create_endpoint', ...created.data })
      .thenEmits([created]);
    // The same create again (a retried request, the same ids): already done; another: refused.
    webhook([created])
      .when({ type: 'create_endpoint', ...created.data })
      .thenEmits([]);
    webhook([created])
      .when({ type: 'create_endpoint', ...created.data, secret_id: 'whsec_b' })
      .thenThrows('webhook_exists');
  });

  it('records only what an update changes, with the previous values', () => {
    webhook([created])
      .when({ type: 'update_endpoint', url: created.data.url, event_types: ['*'], description: 'all events' })
      .thenEmits([
        {
          type: 'webhook.endpoint.updated',
          data: {
            endpoint_id: 'whk_1',
            changes: { event_types: ['*'], description: 'all events' },
            previous: { event_types: ['agent.*'], description: null },
          },
        },
      ]);
    webhook([created]).when({ type: 'update_endpoint', url: created.data.url }).thenEmits([]);
  });

  it('disables once, whoever asks: an auto-disable of an already disabled endpoint records nothing', () => {
    webhook([created])
      .when({ type: 'disable_endpoint', reason: 'gone', detail: 'The receiver answered 410 Gone.' })
      .thenEmits([disabledBySigid]);
    webhook([created, disabledBySigid])
      .when({ type: 'disable_endpoint', reason: 'failing', detail: 'still failing' })
      .thenEmits([]);
    webhook([created, disabledBySigid])
      .when({ type: 'enable_endpoint' })
      .thenEmits([{ type: 'webhook.endpoint.enabled', data: { endpoint_id: 'whk_1' } }]);
    webhook([created]).when({ type: 'enable_endpoint' }).thenEmits([]);
  });

  it('rotates the secret, naming the one it replaces and when that one stops signing', () => {
    webhook([created])
      .when({ type: 'rotate_secret', secret_id: 'whsec_b', previous_secret_expires_at: '2026-11-24T00:00:00.000Z' })
      .thenEmits([
        {
          type: 'webhook.endpoint.secret_rotated',
          data: {
            endpoint_id: 'whk_1',
            secret_id: 'whsec_b',
            previous_secret_id: 'whsec_a',
            previous_secret_expires_at: '2026-11-24T00:00:00.000Z',
          },
        },
      ]);
  });

  it('refuses everything on an endpoint that does not exist or was deleted', () => {
    webhook([]).when({ type: 'enable_endpoint' }).thenThrows('not_found');
    const deleted = { type: 'webhook.endpoint.deleted' as const, data: { endpoint_id: 'whk_1' } };
    webhook([created]).when({ type: 'delete_endpoint' }).thenEmits([deleted]);
    webhook([created, deleted]).when({ type: 'update_endpoint', description: 'x' }).thenThrows('not_found');
    webhook([created, deleted])
      .when({ type: 'request_replay', replay_id: 'rpl_1', since: null, after_position: 0 })
      .thenThrows('not_found');
  });

  it('records a replay with the subscription it replays, and a retried replay or redelivery once', () => {
    const replayed = {
      type: 'webhook.endpoint.replay_requested' as const,
      data: { endpoint_id: 'whk_1', replay_id: 'rpl_1', since: null, after_position: 7, event_types: ['agent.*'] },
    };
    webhook([created])
      .when({ type: 'request_replay', replay_id: 'rpl_1', since: null, after_position: 7 })
      .thenEmits([replayed]);
    webhook([created, replayed])
      .when({ type: 'request_replay', replay_id: 'rpl_1', since: null, after_position: 7 })
      .thenEmits([]);
    const redelivery = {
      type: 'request_redelivery' as const,
      message_id: 'msg_1',
      event_id: 'e1',
      redelivery_message_id: 'msg_2',
      event_position: 3,
      event_type: 'agent.created',
    };
    const { type: _, ...data } = redelivery;
    const redelivered = {
      type: 'webhook.message.redelivery_requested' as const,
      data: { endpoint_id: 'whk_1', ...data },
    };
    webhook([created, replayed]).when(redelivery).thenEmits([redelivered]);
    webhook([created, redelivered, replayed]).when(redelivery).thenEmits([]);
    // Another replay is another request.
    webhook([created, replayed])
      .when({ type: 'request_replay', replay_id: 'rpl_2', since: null, after_position: 7 })
      .thenEmits([{ ...replayed, data: { ...replayed.data, replay_id: 'rpl_2' } }]);
  });
});

describe('event type subscriptions', () => {
  it('matches *, prefix wildcards at any depth, and exact types only', () => {
    expect(matchesEventType(['*'], 'tenant.renamed')).toBe(true);
    expect(matchesEventType(['agent.*'], 'agent.anchor.verified')).toBe(true);
    expect(matchesEventType(['agent.*'], 'agents.created')).toBe(false);
    expect(matchesEventType(['agent.anchor.*'], 'agent.created')).toBe(false);
    expect(matchesEventType(['tenant.renamed'], 'tenant.renamed')).toBe(true);
    expect(matchesEventType(['tenant.renamed'], 'tenant.renamed.again')).toBe(false);
  });
});

describe('webhook requests recorded before version 2', () => {
  it('read with no message id or selection (their messages were queued by the request), so the fan-out queues nothing for them', () => {
    const replay = catalog.upcast('webhook.endpoint.replay_requested', 1, {
      endpoint_id: 'whk_1',
      since: null,
      after_position: 3,
    });
    expect(catalog.get('webhook.endpoint.replay_requested').schema.parse(replay)).toEqual({
      endpoint_id: 'whk_1',
      replay_id: null,
      since: null,
      after_position: 3,
      event_types: null,
    });
    const redelivery = catalog.upcast('webhook.message.redelivery_requested', 1, {
      endpoint_id: 'whk_1',
      message_id: 'msg_1',
      event_id: 'e1',
    });
    expect(catalog.get('webhook.message.redelivery_requested').schema.parse(redelivery)).toMatchObject({
      redelivery_message_id: null,
      event_position: null,
      event_type: null,
    });
  });
});
