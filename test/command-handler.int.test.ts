import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookEndpointAggregate } from '../commands/webhook.ts';
import { claimReservation, releaseReservation, transferReservation } from '../services/reservations.ts';
import { handleCommand } from '../src/command-handler.ts';
import { newId } from '../src/ids.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

/** Several commands of one request on one stream are one append: all their events or none. */
describe('handleCommand with several commands', () => {
  let t: TestSigid;
  beforeAll(async () => {
    // No webhook worker: these endpoints are made without a signing secret, and deliver nowhere.
    t = await startSigid({ backend: 'pglite', config: { webhooks: { ...loadWebhookConfig({}), worker: false } } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('appends nothing when a later command is refused', async () => {
    const tenant = await t.createTenant('Atomic');
    const context = { tenantId: tenant.tenantId, actor: { type: 'system' as const, id: 'test' }, correlationId: 'c1' };
    const endpointId = newId('whk');
    const create = {
      type: 'create_endpoint' as const,
      endpoint_id: endpointId,
      url: 'https://hooks.example.com/a',
      event_types: ['*'],
      description: null,
      secret_id: 'wss_a',
    };
    await handleCommand(t.sigid.log, webhookEndpointAggregate, endpointId, create, context);
    const stream = webhookEndpointAggregate.stream(tenant.tenantId, endpointId);
    const before = await t.sigid.log.readStream(stream);
    await expect(
      handleCommand(
        t.sigid.log,
        webhookEndpointAggregate,
        endpointId,
        [
          { type: 'update_endpoint', description: 'changed first' },
          { ...create, secret_id: 'wss_b' }, // refused: the endpoint exists
        ],
        context,
      ),
    ).rejects.toMatchObject({ code: 'webhook_exists' });
    expect(await t.sigid.log.readStream(stream)).toEqual(before);
  });

  it('decides each command against the state the ones before it leave, and reports what it appended', async () => {
    const tenant = await t.createTenant('Sequenced');
    const context = { tenantId: tenant.tenantId, actor: { type: 'system' as const, id: 'test' }, correlationId: 'c2' };
    const endpointId = newId('whk');
    const outcome = await handleCommand(
      t.sigid.log,
      webhookEndpointAggregate,
      endpointId,
      [
        {
          type: 'create_endpoint',
          endpoint_id: endpointId,
          url: 'https://hooks.example.com/b',
          event_types: ['*'],
          description: null,
          secret_id: 'wss_c',
        },
        { type: 'disable_endpoint', reason: 'manual', detail: null },
        { type: 'disable_endpoint', reason: 'manual', detail: null }, // already disabled by the one before: nothing
      ],
      context,
    );
    expect(outcome).toMatchObject({ revision: 1, appended: 2 });
    expect(outcome.types).toEqual(['webhook.endpoint.created', 'webhook.endpoint.disabled']);
  });

  it('renames and suspends a tenant in one PATCH as one append', async () => {
    const { tenantId } = await t.createTenant('Before');
    const patched = await t.http
      .patch(`/api/v1/tenants/${tenantId}`)
      .set('Authorization', t.operator)
      .set('If-Match', '"0"')
      .send({ name: 'After', status: 'suspended', suspension_reason: 'audit' })
      .expect(200);
    expect(patched.body).toMatchObject({ name: 'After', status: 'suspended' });
    expect(patched.headers.etag).toBe('"2"');
    // One append is one transaction: one commit time for both events, adjacent positions.
    const { rows } = await t.sigid.db.query<{ event_type: string; global_position: number; recorded_at: Date }>(
      `select event_type, global_position, recorded_at from sigid_events
       where stream_name = $1 and stream_revision > 0 order by stream_revision`,
      [`${tenantId}-${tenantId}`],
    );
    expect(rows.map((row) => row.event_type)).toEqual(['tenant.renamed', 'tenant.suspended']);
    expect(rows[1]?.global_position).toBe((rows[0]?.global_position ?? 0) + 1);
    expect(rows[1]?.recorded_at.getTime()).toBe(rows[0]?.recorded_at.getTime());
  });

  it('keeps a reserved value unique on the write side, frees it on release and hands it on by transfer', async () => {
    const context = { actor: { type: 'system' as const, id: 'test' }, correlationId: 'c3' };
    const value = `held-${newId('ten').slice(-8)}`;
    const claim = (ownerId: string) =>
      claimReservation(t.sigid, { scope: 'platform', kind: 'slug', value, ownerId }, context);
    await claim('ten_a');
    await expect(claim('ten_b')).rejects.toMatchObject({ code: 'slug_taken' });
    await transferReservation(
      t.sigid,
      { scope: 'platform', kind: 'slug', value, fromOwnerId: 'ten_a', toOwnerId: 'ten_b' },
      context,
    );
    await expect(claim('ten_a')).rejects.toMatchObject({ code: 'slug_taken' });
    await expect(
      releaseReservation(t.sigid, { scope: 'platform', kind: 'slug', value, ownerId: 'ten_a' }, context),
    ).rejects.toMatchObject({ code: 'not_found' });
    await releaseReservation(t.sigid, { scope: 'platform', kind: 'slug', value, ownerId: 'ten_b' }, context);
    await expect(claim('ten_c')).resolves.toMatchObject({ ownerId: 'ten_c', adopted: false });
  });
});
