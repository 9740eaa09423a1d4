import { randomBytes } from 'node:crypto';
import pino from 'pino';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeysProjection } from '../projections/api-keys.ts';
import { tenantsProjection } from '../projections/tenants.ts';
import { webhookEndpointsProjection } from '../projections/webhook-endpoints.ts';
import { loadConfig } from '../src/config.ts';
import { createApp } from '../src/http/app.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { signingKeys, storeWebhookSecret } from '../src/webhooks/secrets.ts';
import { generateSecret } from '../src/webhooks/signature.ts';
import { postgresReachable } from './support/databases.ts';
import { OPERATOR_KEY, startSigid, type TestSigid } from './support/sigid.ts';
import { WebhookReceiver } from './support/webhook-receiver.ts';

const backends = ['pglite', ...(postgresReachable ? ['postgres' as const] : [])] as const;

describe.each(backends)('secrets driven by their events (%s)', (backend) => {
  let t: TestSigid;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    t = await startSigid({
      backend,
      config: {
        webhooks: {
          ...loadWebhookConfig({
            SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1',
            SIGID_WEBHOOK_RETRY_SCHEDULE: '100ms,200ms,400ms',
            SIGID_WEBHOOK_POLL_MS: '50',
          }),
        },
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it('leaves an endpoint with a working secret after concurrent rotations', async () => {
    const tenant = await t.createTenant('Concurrent rotations');
    const auth = `Bearer ${tenant.key}`;
    receiver.route('/rotated', []);
    const created = await t.http
      .post('/api/v1/webhooks')
      .set('Authorization', auth)
      .send({ url: `${receiver.origin}/rotated`, event_types: ['api_key.*'] })
      .expect(201);
    const rotations = await Promise.all(
      // Five at once: on PostgreSQL the old code left no secret at all (each expired the others' new one).
      [0, 1, 2, 3, 4].map(() =>
        t.http
          .post(`/api/v1/webhooks/${created.body.id}/rotate-secret`)
          .set('Authorization', auth)
          .send({ overlap_seconds: 0 }),
      ),
    );
    const secrets = rotations.filter((rotation) => rotation.status === 200).map((rotation) => rotation.body.secret);
    expect(secrets.length).toBeGreaterThan(0);
    // A receiver that knows only the new secrets (the old one is retired at once) gets every delivery.
    receiver.setSecrets('/rotated', secrets);
    await t.issueKeys(tenant.key, 2, 'after rotations');
    await receiver.waitFor(() => receiver.received('/rotated').length === 2, 10_000);
    expect(receiver.rejected.filter((rejected) => rejected.path === '/rotated')).toHaveLength(0);
    // Exactly one secret signs: the current one.
    expect(await signingKeys(t.sigid.secrets, tenant.tenantId, created.body.id)).toHaveLength(1);
  });

  it('deletes every secret of a deleted tenant', async () => {
    const tenant = await t.createTenant('Deleted with its secrets');
    await t.http
      .post('/api/v1/webhooks')
      .set('Authorization', `Bearer ${tenant.key}`)
      .send({ url: 'http://127.0.0.1:9/hooks', event_types: ['tenant.*'] })
      .expect(201);
    await t.issueKeys(tenant.key, 1);
    const kinds = () =>
      t.sigid.readModels
        .selectFrom('sealed_secrets')
        .select('kind')
        .where('tenant_id', '=', tenant.tenantId)
        .orderBy('kind')
        .execute();
    expect((await kinds()).map((row) => row.kind)).toEqual(['api-key', 'api-key', 'webhook-secret']);
    await t.http.delete(`/api/v1/tenants/${tenant.tenantId}`).set('Authorization', t.operator).expect(204);
    expect(await kinds()).toEqual([]);
  });

  it('never signs with a secret whose event did not land', async () => {
    const tenant = await t.createTenant('Orphan secret');
    const created = await t.http
      .post('/api/v1/webhooks')
      .set('Authorization', `Bearer ${tenant.key}`)
      .send({ url: 'http://127.0.0.1:9/hooks', event_types: ['tenant.*'] })
      .expect(201);
    const exported = async () =>
      (await signingKeys(t.sigid.secrets, tenant.tenantId, created.body.id)).map((key) =>
        key.export().toString('base64'),
      );
    const before = await exported();
    expect(before).toHaveLength(1);
    // A rotation that stored its secret and died before appending `secret_rotated`.
    await storeWebhookSecret(t.sigid.secrets, {
      tenantId: tenant.tenantId,
      endpointId: created.body.id,
      secretId: 'whsec_orphan',
      secret: generateSecret(),
    });
    expect(await exported()).toEqual(before);
  });
});

describe('authentication follows the event log, not the secret store', () => {
  let sigid: Sigid;

  beforeAll(async () => {
    // No secrets reactor: revoking appends the event, and nothing ever deletes the hash.
    sigid = await createSigid(
      loadConfig(
        {},
        {
          dataDir: undefined,
          operatorKey: OPERATOR_KEY,
          masterKey: randomBytes(32).toString('base64'),
          logLevel: 'silent',
        },
      ),
      {
        logger: pino({ level: 'silent' }),
        projections: [tenantsProjection, apiKeysProjection, webhookEndpointsProjection],
      },
    );
    sigid.start();
  });
  afterAll(async () => {
    await sigid?.close();
  });

  it('refuses a revoked key whose hash is still stored', async () => {
    const http = supertest(createApp(sigid));
    const tenant = await http
      .post('/api/v1/tenants')
      .set('Authorization', `Bearer ${OPERATOR_KEY}`)
      .send({ name: 'No reactor', slug: `no-reactor-${randomBytes(3).toString('hex')}` })
      .expect(201);
    // Nothing activates a stored key here (that is the reactor's job): do it by hand.
    const activateAll = () =>
      sigid.readModels.updateTable('sealed_secrets').set({ activated_at: new Date() }).execute();
    await activateAll();
    const admin = `Bearer ${tenant.body.api_key.key}`;
    const victim = await http.post('/api/v1/api-keys').set('Authorization', admin).send({ name: 'victim' });
    expect(victim.status).toBe(201);
    await activateAll();
    await http.get('/api/v1/api-keys').set('Authorization', `Bearer ${victim.body.key}`).expect(200);
    await http.delete(`/api/v1/api-keys/${victim.body.id}`).set('Authorization', admin).expect(204);
    const stored = await sigid.readModels
      .selectFrom('sealed_secrets')
      .select('id')
      .where('id', '=', victim.body.id)
      .execute();
    expect(stored).toHaveLength(1);
    await http.get('/api/v1/api-keys').set('Authorization', `Bearer ${victim.body.key}`).expect(401);
  });
});
