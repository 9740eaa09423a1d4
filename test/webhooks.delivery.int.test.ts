import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listWebhookMessages } from '../read-models/webhook-messages.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { systemResolver } from '../src/webhooks/ssrf.ts';
import { postgresReachable } from './support/databases.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';
import { WebhookReceiver } from './support/webhook-receiver.ts';

/**
 * Deliveries to a real receiver that verifies every request with the third-party `standardwebhooks`
 * library. Short retry schedule (100 ms, 200 ms, 400 ms) so retries happen within the test.
 */
describe('webhook delivery', () => {
  let t: TestSigid;
  let receiver: WebhookReceiver;
  /** A customer's DNS, which we cannot run: names set here resolve as the test says, others as usual. */
  const customerDns = new Map<string, string[]>();

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    t = await startSigid({
      backend: postgresReachable ? 'postgres' : 'pglite',
      config: {
        webhooks: {
          ...loadWebhookConfig({
            SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1',
            SIGID_WEBHOOK_RETRY_SCHEDULE: '100ms,200ms,400ms',
            SIGID_WEBHOOK_POLL_MS: '50',
            SIGID_WEBHOOK_TIMEOUT_MS: '1000',
            SIGID_WEBHOOK_DISABLE_AFTER: '1500ms',
          }),
          resolve: async (host) => customerDns.get(host) ?? systemResolver(host),
        },
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  async function endpoint(
    key: string,
    path: string,
    eventTypes: string[],
    answer?: Parameters<WebhookReceiver['route']>[2],
  ): Promise<{ id: string; secret: string }> {
    receiver.route(path, [], answer);
    const created = await t.http
      .post('/api/v1/webhooks')
      .set('Authorization', `Bearer ${key}`)
      .send({ url: `${receiver.origin}${path}`, event_types: eventTypes })
      .expect(201);
    receiver.setSecrets(path, [created.body.secret]);
    return { id: created.body.id, secret: created.body.secret };
  }

  /** Polls `read` until `done` holds (5 s at most). */
  async function until<T>(read: () => PromiseLike<T>, done: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + 5000;
    let value = await read();
    while (!done(value) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      value = await read();
    }
    return value;
  }

  async function audit(key: string) {
    const response = await t.http.get('/api/v1/audit-logs?limit=200&order=asc').set('Authorization', `Bearer ${key}`);
    return response.body.data as Array<{
      id: string;
      action: string;
      time: string;
      actor: { type: string; id: string };
      target: { id: string };
      data: Record<string, unknown>;
    }>;
  }

  it('delivers each subscribed event once, signed per Standard Webhooks, with the event id as webhook-id', async () => {
    const tenant = await t.createTenant('Delivery');
    const all = await endpoint(tenant.key, '/all', ['*']);
    await endpoint(tenant.key, '/tenant-only', ['tenant.*']);
    await t.issueKeys(tenant.key, 2);
    await t.http
      .patch(`/api/v1/tenants/${tenant.tenantId}`)
      .set('Authorization', t.operator)
      .send({ name: 'Delivery renamed' })
      .expect(200);

    await receiver.waitFor(
      () => receiver.received('/all').length >= 5 && receiver.received('/tenant-only').length >= 1,
    );
    const records = await audit(tenant.key);
    const expected = records.filter(
      (record) => record.time >= (records.find((r) => r.target.id === all.id)?.time ?? ''),
    );
    const got = receiver.received('/all');
    expect(got.map((delivery) => delivery.type)).toEqual([
      'webhook.endpoint.created',
      'webhook.endpoint.created',
      'api_key.created',
      'api_key.created',
      'tenant.renamed',
    ]);
    // webhook-id is the event id; the payload's data is the event's data; timestamps are the event's.
    expect(got.map((delivery) => delivery.id)).toEqual(expected.map((record) => record.id));
    for (const [index, delivery] of got.entries()) {
      expect(delivery.data).toEqual(expected[index]?.data);
      expect(delivery.eventTimestamp).toBe(expected[index]?.time);
      expect(Object.keys(JSON.parse(delivery.body))).toEqual(['type', 'timestamp', 'data']);
      expect(Math.abs(delivery.timestamp - Date.now() / 1000)).toBeLessThan(60);
      expect(delivery.body).not.toContain(all.secret.slice(6));
    }
    expect(receiver.received('/tenant-only').map((delivery) => delivery.type)).toEqual(['tenant.renamed']);
    expect(receiver.rejected).toEqual([]);
  });

  it('retries a failing receiver and keeps its messages in order, logging every attempt', async () => {
    const tenant = await t.createTenant('Retries');
    let failures = 0;
    const flaky = await endpoint(tenant.key, '/flaky', ['api_key.*'], () =>
      failures++ < 2 ? { status: 503, body: `down for maintenance ${'.'.repeat(10_000)}` } : { status: 204 },
    );
    const keys = await t.issueKeys(tenant.key, 5);
    await receiver.waitFor(() => receiver.received('/flaky').length >= 5);
    // The first message failed twice before the second was tried at all.
    const requests = receiver.requests('/flaky').map((delivery) => delivery.data.key_id);
    expect(requests).toEqual([keys[0], keys[0], ...keys]);
    expect(receiver.received('/flaky').map((delivery) => delivery.data.key_id)).toEqual(keys);

    // The log is written after each batch: wait for it to say every message arrived.
    const messages = await until(
      () => t.http.get(`/api/v1/webhooks/${flaky.id}/messages`).set('Authorization', `Bearer ${tenant.key}`),
      (response) => response.body.data.every((message: { status: string }) => message.status === 'delivered'),
    );
    expect(messages.body.data).toHaveLength(5);
    const first = messages.body.data[4];
    expect(first).toMatchObject({ status: 'delivered', attempts: 3, event_type: 'api_key.created' });
    const detail = await t.http
      .get(`/api/v1/webhooks/${flaky.id}/messages/${first.id}`)
      .set('Authorization', `Bearer ${tenant.key}`)
      .expect(200);
    expect(detail.body.attempt_log.map((attempt: { response_status: number }) => attempt.response_status)).toEqual([
      503, 503, 204,
    ]);
    const [failed] = detail.body.attempt_log;
    expect(failed).toMatchObject({ outcome: 'failed', attempt: 1 });
    expect(failed.response_body.length).toBe(4096);
    expect(failed.latency_ms).toBeGreaterThanOrEqual(0);
    expect(Date.parse(failed.next_attempt_at) - Date.parse(failed.attempted_at)).toBeGreaterThanOrEqual(70);
    const log = await t.http
      .get(`/api/v1/webhooks/${flaky.id}/attempts?limit=100`)
      .set('Authorization', `Bearer ${tenant.key}`)
      .expect(200);
    expect(log.body.data).toHaveLength(7);
  });

  it("honours the receiver's Retry-After", async () => {
    const tenant = await t.createTenant('Retry-After');
    let answered = 0;
    await endpoint(tenant.key, '/busy', ['api_key.*'], () =>
      answered++ === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 },
    );
    await t.issueKeys(tenant.key, 1);
    await receiver.waitFor(() => receiver.received('/busy').length === 1);
    const [first, second] = receiver.requests('/busy');
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(950);
  });

  it('disables an endpoint at once when it answers 410 Gone, and audits it', async () => {
    const tenant = await t.createTenant('Gone');
    const gone = await endpoint(tenant.key, '/gone', ['api_key.*'], () => ({ status: 410 }));
    await t.issueKeys(tenant.key, 3);
    await receiver.waitFor(() => receiver.requests('/gone').length >= 1);
    const deadline = Date.now() + 5000;
    let status = 'enabled';
    let body: Record<string, unknown> = {};
    while (status !== 'disabled' && Date.now() < deadline) {
      const response = await t.http.get(`/api/v1/webhooks/${gone.id}`).set('Authorization', `Bearer ${tenant.key}`);
      body = response.body;
      status = response.body.status;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(body).toMatchObject({ status: 'disabled', disabled_reason: 'gone' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests('/gone')).toHaveLength(1);
    const record = (await audit(tenant.key)).find((entry) => entry.action === 'webhook.endpoint.disabled');
    expect(record).toMatchObject({ actor: { type: 'system' }, target: { id: gone.id }, data: { reason: 'gone' } });
  });

  it('disables an endpoint left with no signing secret, with that reason and an audit entry, rather than stall', async () => {
    const tenant = await t.createTenant('No secret');
    const orphan = await endpoint(tenant.key, '/orphan', ['api_key.*']);
    await t.sigid.readModels
      .deleteFrom('sealed_secrets')
      .where('tenant_id', '=', tenant.tenantId)
      .where('kind', '=', 'webhook-secret')
      .where('owner_id', '=', orphan.id)
      .execute();
    await t.issueKeys(tenant.key, 3);
    const body = await until(
      async () =>
        (await t.http.get(`/api/v1/webhooks/${orphan.id}`).set('Authorization', `Bearer ${tenant.key}`)).body as {
          status: string;
          disabled_reason: string | null;
        },
      (value) => value.status === 'disabled',
    );
    expect(body).toMatchObject({ status: 'disabled', disabled_reason: 'no_signing_secret' });
    const record = await until(
      async () => (await audit(tenant.key)).find((entry) => entry.action === 'webhook.endpoint.disabled'),
      (entry) => entry !== undefined,
    );
    expect(record).toMatchObject({
      actor: { type: 'system' },
      target: { id: orphan.id },
      data: { reason: 'no_signing_secret' },
    });
    // Nothing went out unsigned; the messages wait, untried, for a new secret and an enable.
    expect(receiver.requests('/orphan')).toHaveLength(0);
    const messages = await listWebhookMessages(t.sigid.readModels, tenant.tenantId, orphan.id, { limit: 10 });
    // (Those queued before the disable: the fan-out queues nothing for a disabled endpoint.)
    expect(messages.length).toBeGreaterThan(0);
    expect(new Set(messages.map((message) => `${message.status} ${message.attempts}`))).toEqual(new Set(['pending 0']));
  });

  it('never lets a dead endpoint delay a healthy one', async () => {
    const tenant = await t.createTenant('Dead and healthy');
    await endpoint(tenant.key, '/dead', ['api_key.*'], () => 'hang');
    await endpoint(tenant.key, '/healthy', ['api_key.*']);
    await t.issueKeys(tenant.key, 5);
    await receiver.waitFor(() => receiver.received('/healthy').length === 5, 5000);
    // Everything reached the healthy receiver while the dead one's first attempt still hung: before
    // SigID gave up on that attempt (closed its connection), so nothing waited for it.
    const lastHealthy = receiver.received('/healthy')[4]!.receivedAt;
    const [firstDead] = receiver.requests('/dead');
    expect(firstDead).toBeDefined();
    expect(lastHealthy).toBeLessThan(firstDead?.closedAt ?? Number.POSITIVE_INFINITY);
  });

  it('counts an endpoint as failing from its first failure after its last success', async () => {
    const tenant = await t.createTenant('Flapping');
    const auth = `Bearer ${tenant.key}`;
    let firstTries = 0;
    // `flap 0` fails once then goes through; `flap 1` is refused for good (given up at once).
    const hook = await endpoint(tenant.key, '/flapping', ['api_key.*'], (delivery) =>
      delivery.data.name === 'flap 1' ? { status: 400 } : firstTries++ === 0 ? { status: 503 } : { status: 204 },
    );
    await t.issueKeys(tenant.key, 2, 'flap');
    const messages = await until(
      () => t.http.get(`/api/v1/webhooks/${hook.id}/messages`).set('Authorization', auth),
      (response) =>
        response.body.data.filter((message: { status: string }) => message.status !== 'pending').length === 2,
    );
    const refused = messages.body.data.find((message: { status: string }) => message.status === 'failed');
    const { rows } = await t.sigid.db.query<{ failing_since: Date }>(
      'select failing_since from webhook_subscriptions where endpoint_id = $1',
      [hook.id],
    );
    // Not the first 503, which the success after it cleared.
    expect(rows[0]?.failing_since.toISOString()).toBe(refused.last_attempt_at);
  });

  it('disables an endpoint that keeps failing for the configured period', async () => {
    const tenant = await t.createTenant('Failing');
    const failing = await endpoint(tenant.key, '/failing', ['api_key.*'], () => ({ status: 500 }));
    await t.issueKeys(tenant.key, 3);
    const deadline = Date.now() + 8000;
    let body: Record<string, unknown> = {};
    while (body.status !== 'disabled' && Date.now() < deadline) {
      body = (await t.http.get(`/api/v1/webhooks/${failing.id}`).set('Authorization', `Bearer ${tenant.key}`)).body;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(body).toMatchObject({ status: 'disabled', disabled_reason: 'failing' });
    expect(String(body.disabled_detail)).toMatch(/HTTP 500/);
    const record = (await audit(tenant.key)).find((entry) => entry.action === 'webhook.endpoint.disabled');
    expect(record).toMatchObject({ actor: { type: 'system' }, data: { reason: 'failing' } });
  });

  it('redelivers one message with the same webhook-id, and replays everything since a time after an outage', async () => {
    const tenant = await t.createTenant('Replay');
    const auth = `Bearer ${tenant.key}`;
    const recovering = await endpoint(tenant.key, '/recovering', ['api_key.*']);
    await t.issueKeys(tenant.key, 1, 'before');
    await receiver.waitFor(() => receiver.received('/recovering').length === 1);
    const [message] = (await t.http.get(`/api/v1/webhooks/${recovering.id}/messages`).set('Authorization', auth)).body
      .data;
    const redelivered = await t.http
      .post(`/api/v1/webhooks/${recovering.id}/messages/${message.id}/redeliver`)
      .set('Authorization', auth)
      .expect(202);
    expect(redelivered.body).toMatchObject({ origin: 'redelivery', event_id: message.event_id });
    // Queued as it answers; a dispatcher already at work on this endpoint may have sent it by then.
    expect(['pending', 'delivered']).toContain(redelivered.body.status);
    await receiver.waitFor(() => receiver.received('/recovering').length === 2);
    expect(receiver.received('/recovering')[1]!.id).toBe(receiver.received('/recovering')[0]!.id);

    // An outage: the endpoint is disabled while events happen; then enabled and replayed.
    const since = new Date(Date.now() - 1).toISOString();
    await t.http.post(`/api/v1/webhooks/${recovering.id}/disable`).set('Authorization', auth).expect(200);
    const missed = await t.issueKeys(tenant.key, 3, 'during');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.received('/recovering')).toHaveLength(2);
    await t.http.post(`/api/v1/webhooks/${recovering.id}/enable`).set('Authorization', auth).expect(200);
    const replay = await t.http
      .post(`/api/v1/webhooks/${recovering.id}/replay`)
      .set('Authorization', auth)
      .send({ since })
      .expect(202);
    expect(replay.body).toMatchObject({ enqueued: 3, truncated: false });
    await receiver.waitFor(() => receiver.received('/recovering').length === 5);
    expect(
      receiver
        .received('/recovering')
        .slice(2)
        .map((delivery) => delivery.data.key_id),
    ).toEqual(missed);
    const actions = (await audit(tenant.key)).map((entry) => entry.action);
    expect(actions).toContain('webhook.message.redelivery_requested');
    expect(actions).toContain('webhook.endpoint.replay_requested');
  });

  it('signs with both secrets during a rotation overlap, then with the new one only', async () => {
    const tenant = await t.createTenant('Rotation');
    const auth = `Bearer ${tenant.key}`;
    const rotating = await endpoint(tenant.key, '/rotating', ['api_key.*']);
    const rotated = await t.http
      .post(`/api/v1/webhooks/${rotating.id}/rotate-secret`)
      .set('Authorization', auth)
      .send({ overlap_seconds: 3600 })
      .expect(200);
    // A receiver still on the old secret and one already on the new both verify.
    receiver.setSecrets('/rotating', [rotating.secret]);
    await t.issueKeys(tenant.key, 1);
    await receiver.waitFor(() => receiver.received('/rotating').length === 1);
    receiver.setSecrets('/rotating', [rotated.body.secret]);
    await t.issueKeys(tenant.key, 1);
    await receiver.waitFor(() => receiver.received('/rotating').length === 2);
    expect(receiver.received('/rotating').map((delivery) => delivery.signature.split(' ').length)).toEqual([2, 2]);

    await t.http
      .post(`/api/v1/webhooks/${rotating.id}/rotate-secret`)
      .set('Authorization', auth)
      .send({ overlap_seconds: 0 })
      .then((response) => receiver.setSecrets('/rotating', [response.body.secret]));
    await t.issueKeys(tenant.key, 1);
    await receiver.waitFor(() => receiver.received('/rotating').length === 3);
    expect(receiver.received('/rotating')[2]!.signature.split(' ')).toHaveLength(1);
  });

  it('replays after a position, and logs every attempt with its time, status, latency and body', async () => {
    const tenant = await t.createTenant('Replay by position');
    const auth = `Bearer ${tenant.key}`;
    const hook = await endpoint(tenant.key, '/positions', ['api_key.*'], () => ({ status: 202, body: 'queued' }));
    const keys = await t.issueKeys(tenant.key, 3);
    await receiver.waitFor(() => receiver.received('/positions').length === 3);
    const messages = await until(
      () => t.http.get(`/api/v1/webhooks/${hook.id}/messages`).set('Authorization', auth),
      (response) => response.body.data.every((message: { status: string }) => message.status === 'delivered'),
    );
    const [, second] = [...messages.body.data].reverse();
    const replay = await t.http
      .post(`/api/v1/webhooks/${hook.id}/replay`)
      .set('Authorization', auth)
      .send({ after_position: second.event_position })
      .expect(202);
    expect(replay.body).toMatchObject({ enqueued: 1 });
    await receiver.waitFor(() => receiver.received('/positions').length === 4);
    expect(receiver.received('/positions')[3]!.data.key_id).toBe(keys[2]);
    const attempts = await t.http.get(`/api/v1/webhooks/${hook.id}/attempts`).set('Authorization', auth).expect(200);
    expect(attempts.body.data[0]).toMatchObject({
      outcome: 'succeeded',
      response_status: 202,
      response_body: 'queued',
      error: null,
    });
    expect(typeof attempts.body.data[0].latency_ms).toBe('number');
    expect(Date.parse(attempts.body.data[0].attempted_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('keeps delivering when a receiver answers with text PostgreSQL cannot store (NUL, controls)', async () => {
    const tenant = await t.createTenant('Hostile receiver');
    const auth = `Bearer ${tenant.key}`;
    const hook = await endpoint(tenant.key, '/hostile-body', ['api_key.*'], () => ({
      status: 200,
      body: 'ok\u0000 and\u0007end',
    }));
    await t.issueKeys(tenant.key, 2);
    await receiver.waitFor(() => receiver.received('/hostile-body').length === 2);
    const messages = await until(
      () => t.http.get(`/api/v1/webhooks/${hook.id}/messages`).set('Authorization', auth),
      (response) => response.body.data.every((message: { status: string }) => message.status === 'delivered'),
    );
    expect(messages.body.data.map((message: { status: string }) => message.status)).toEqual(['delivered', 'delivered']);
    const attempts = await t.http.get(`/api/v1/webhooks/${hook.id}/attempts`).set('Authorization', auth).expect(200);
    expect(attempts.body.data).toHaveLength(2);
    expect(attempts.body.data[0].response_body).toBe('ok\ufffd and\ufffdend');
  });

  it('refuses, at delivery time, a name that was public when saved and now points inside (DNS rebinding)', async () => {
    const tenant = await t.createTenant('Rebinding');
    const auth = `Bearer ${tenant.key}`;
    customerDns.set('rebinding.test', ['93.184.216.34']);
    const created = await t.http
      .post('/api/v1/webhooks')
      .set('Authorization', auth)
      .send({ url: 'https://rebinding.test/hook', event_types: ['api_key.*'] })
      .expect(201);
    customerDns.set('rebinding.test', ['127.0.0.2']);
    await t.issueKeys(tenant.key, 1);
    const attempts = await until(
      () => t.http.get(`/api/v1/webhooks/${created.body.id}/attempts`).set('Authorization', auth),
      (response) => response.body.data.length > 0,
    );
    expect(attempts.body.data[0]).toMatchObject({ outcome: 'failed', response_status: null });
    expect(attempts.body.data[0].error).toMatch(/refused: .*127\.0\.0\.2.*loopback/);
    await t.http.delete(`/api/v1/webhooks/${created.body.id}`).set('Authorization', auth).expect(204);
  });

  it('stops a long queue to a slow receiver within about a second of a disable, and resumes it in order', async () => {
    const tenant = await t.createTenant('Slow receiver');
    const auth = `Bearer ${tenant.key}`;
    // Forty keys first (and the tenant's own), then one replay queues them all at once, for a receiver
    // that takes 100 ms to answer each.
    const since = new Date(Date.now() - 1000).toISOString();
    await t.issueKeys(tenant.key, 40);
    const hook = await endpoint(tenant.key, '/slow-queue', ['api_key.created'], () => ({ status: 204, delayMs: 100 }));
    const replay = await t.http
      .post(`/api/v1/webhooks/${hook.id}/replay`)
      .set('Authorization', auth)
      .send({ since })
      .expect(202);
    const queued: number = replay.body.enqueued;
    expect(queued).toBe(41);
    await receiver.waitFor(() => receiver.received('/slow-queue').length >= 2);
    await t.http.post(`/api/v1/webhooks/${hook.id}/disable`).set('Authorization', auth).expect(200);
    const atDisable = receiver.requests('/slow-queue').length;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const afterDisable = receiver.requests('/slow-queue').length - atDisable;
    // One batch lasts at most a second (about ten 100 ms answers here), and the disable is seen when
    // that batch's save returns (give or take the fan-out's lag under load): not three seconds' worth.
    expect(afterDisable).toBeLessThanOrEqual(16);
    expect(receiver.requests('/slow-queue').length).toBeLessThan(queued);
    await t.http.post(`/api/v1/webhooks/${hook.id}/enable`).set('Authorization', auth).expect(200);
    const unique = () => [...new Set(receiver.received('/slow-queue').map((delivery) => delivery.id))];
    await receiver.waitFor(() => unique().length >= queued);
    // Every event arrived, first arrivals in stream order (the order the replay queued them in).
    const messages = await t.http.get(`/api/v1/webhooks/${hook.id}/messages?limit=100`).set('Authorization', auth);
    const streamOrder = (messages.body.data as Array<{ event_id: string }>)
      .map((message) => message.event_id)
      .reverse();
    expect(unique()).toEqual(streamOrder);
  });

  it('stops delivering, retries included, once the tenant is deleted', async () => {
    const tenant = await t.createTenant('Deleted tenant');
    const hook = await endpoint(tenant.key, '/deleted-tenant', ['api_key.*', 'tenant.*'], () => ({ status: 503 }));
    await t.issueKeys(tenant.key, 2);
    await receiver.waitFor(() => receiver.requests('/deleted-tenant').length >= 2);
    await t.http.delete(`/api/v1/tenants/${tenant.tenantId}`).set('Authorization', t.operator).expect(204);
    // The endpoint is gone with its tenant, so its delivery log is read straight from the read model.
    const cancelled = async () =>
      (await listWebhookMessages(t.sigid.readModels, tenant.tenantId, hook.id, { limit: 100 })).map(
        (message) => message.status,
      );
    const deadline = Date.now() + 5000;
    while ((await cancelled()).some((status) => status === 'pending') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(new Set(await cancelled())).toEqual(new Set(['cancelled']));
    const seen = receiver.requests('/deleted-tenant').length;
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(receiver.requests('/deleted-tenant')).toHaveLength(seen);
    expect(receiver.requests('/deleted-tenant').map((delivery) => delivery.type)).not.toContain('tenant.deleted');
  });
});
