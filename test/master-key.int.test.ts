import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator } from 'kysely/migration';
import pino from 'pino';
import supertest from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { migrations } from '../migrations/index.ts';
import { rotateMasterKey, sealedValuesByKey } from '../services/master-key.ts';
import { loadConfig } from '../src/config.ts';
import { mintKey } from '../src/credentials.ts';
import { seal } from '../src/crypto/aead.ts';
import { connectPostgres, type Database, openEmbedded } from '../src/db/database.ts';
import { createApp } from '../src/http/app.ts';
import { masterKeyId, SealedValueUnreadable } from '../src/secrets/keyring.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { signingKeys } from '../src/webhooks/secrets.ts';
import { secretKey } from '../src/webhooks/signature.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { OPERATOR_KEY } from './support/sigid.ts';

/**
 * (Several SigID processes open each database in turn; on PGlite each open is a few seconds, more
 * under a full parallel run, hence the longer test timeouts.)
 *
 * The sealed-secrets store across its migration and across a master-key rotation, on both
 * backends, judged by what a user notices: old keys still authenticate, secrets still sign, personal
 * data still reads, stored answers still replay; and after a rotation the old key opens nothing.
 */

/** One database that several SigID processes (one after another) open. */
interface Target {
  databaseUrl?: string;
  dataDir?: string;
  drop(): Promise<void>;
}

async function newTarget(backend: 'pglite' | 'postgres'): Promise<Target> {
  if (backend === 'postgres') {
    const database = await createPostgresDatabase();
    return { databaseUrl: database.url, drop: database.drop };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'sigid-master-key-'));
  return { dataDir, drop: () => rm(dataDir, { recursive: true, force: true }) };
}

function openDatabase(target: Target): Promise<Database> {
  return target.databaseUrl ? Promise.resolve(connectPostgres(target.databaseUrl)) : openEmbedded(target.dataDir);
}

async function openSigid(target: Target, current: Buffer, previous: Buffer[] = []): Promise<Sigid> {
  const config = loadConfig(
    {},
    {
      databaseUrl: target.databaseUrl,
      dataDir: target.dataDir,
      operatorKey: OPERATOR_KEY,
      masterKey: current.toString('base64'),
      previousMasterKeys: previous.map((key) => key.toString('base64')),
      logLevel: 'silent',
      webhooks: { ...loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' }), worker: false },
    },
  );
  const sigid = await createSigid(config, { logger: pino({ level: 'silent' }) });
  sigid.start();
  return sigid;
}

const backends = ['pglite', ...(postgresReachable ? ['postgres' as const] : [])] as const;
const targets: Target[] = [];
afterAll(async () => {
  for (const target of targets) await target.drop();
});

describe.each(backends)('sealed secrets (%s)', (backend) => {
  it('still reads, after the store migration, what was sealed or hashed before it', async () => {
    const target = await newTarget(backend);
    targets.push(target);
    const key = randomBytes(32);
    const db = await openDatabase(target);
    // The schema as it was before the store, and rows as the code of then wrote them.
    const before = await new Migrator({
      db: db.kysely<unknown>(),
      provider: { getMigrations: async () => migrations },
    }).migrateTo('2026_11_24_0002_webhook_retention');
    expect(before.error).toBeUndefined();
    const tenantId = 'ten_01jd000000000000000000test';
    const apiKey = mintKey('sk');
    const webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;
    const dataKey = randomBytes(32);
    const scope = `tenant:${tenantId} POST /api/v1/api-keys`;
    await db.query(
      `insert into tenants (tenant_id, slug, name, status, revision, created_at, updated_at)
       values ($1, 'old-tenant', 'Old', 'active', 0, now(), now())`,
      [tenantId],
    );
    await db.query(
      `insert into api_keys (tenant_id, key_id, name, created_by, created_at) values ($1, $2, 'old', 'operator:cli', now())`,
      [tenantId, apiKey.keyId],
    );
    await db.query('insert into api_key_secrets (key_id, tenant_id, secret_hash) values ($1, $2, $3)', [
      apiKey.keyId,
      tenantId,
      apiKey.hash,
    ]);
    await db.query('insert into webhook_secrets (tenant_id, secret_id, endpoint_id, sealed) values ($1, $2, $3, $4)', [
      tenantId,
      'whsec_old',
      'whk_old',
      seal(key, Buffer.from(webhookSecret), `sigid:webhook-secret:${tenantId}:whsec_old`),
    ]);
    await db.query('insert into subject_keys (tenant_id, subject_id, wrapped_key) values ($1, $2, $3)', [
      tenantId,
      'usr_old',
      seal(key, dataKey, `sigid:subject-key:${tenantId}:usr_old`),
    ]);
    await db.query(
      'insert into idempotency_keys (scope, key, request_hash, status_code, response) values ($1, $2, $3, 201, $4)',
      [scope, 'retry-1', 'hash', seal(key, Buffer.from('{"answer":1}'), `sigid:idempotency:${scope}:retry-1`)],
    );
    await db.close();

    const sigid = await openSigid(target, key);
    try {
      const http = supertest(createApp(sigid));
      await http.get('/api/v1/api-keys').set('Authorization', `Bearer ${apiKey.token}`).expect(200);
      const keys = await signingKeys(sigid.secrets, tenantId, 'whk_old');
      expect(keys.map((signing) => signing.export().toString('base64'))).toEqual([
        secretKey(webhookSecret).export().toString('base64'),
      ]);
      expect(await sigid.subjectKeys.find(tenantId, 'usr_old')).toEqual(dataKey);
      const answer = await sigid.readModels.selectFrom('idempotency_keys').selectAll().executeTakeFirstOrThrow();
      expect(
        sigid.secrets
          .open('idempotency', scope, 'retry-1', answer.response_key_id, answer.response as Uint8Array)
          .toString(),
      ).toBe('{"answer":1}');
      // The bare hash was sealed on start; nothing is left unsealed.
      const byKey = await sealedValuesByKey(sigid.readModels);
      expect(byKey).toContainEqual({ table: 'sealed_secrets', key_id: masterKeyId(key), count: 1 });
      expect(byKey.map((row) => row.key_id)).not.toContain('unsealed');
    } finally {
      await sigid.close();
    }
  }, 180_000);

  it('rotates the master key: everything re-wrapped, resumably; the new key reads it all, the old one nothing', async () => {
    const target = await newTarget(backend);
    targets.push(target);
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const operator = `Bearer ${OPERATOR_KEY}`;

    let sigid = await openSigid(target, oldKey);
    const http = supertest(createApp(sigid));
    const tenant = await http
      .post('/api/v1/tenants')
      .set('Authorization', operator)
      .send({ name: 'Rotating', slug: `rotating-${randomBytes(3).toString('hex')}` })
      .expect(201);
    const tenantId: string = tenant.body.tenant.id;
    const tenantKey = `Bearer ${tenant.body.api_key.key}`;
    const endpoint = await http
      .post('/api/v1/webhooks')
      .set('Authorization', tenantKey)
      .send({ url: 'http://127.0.0.1:9/hooks', event_types: ['*'] })
      .expect(201);
    const answer = await http
      .post('/api/v1/api-keys')
      .set('Authorization', tenantKey)
      .set('Idempotency-Key', 'rotate-me')
      .send({ name: 'made once' })
      .expect(201);
    const dataKey = await sigid.subjectKeys.keyFor(tenantId, 'usr_rotating');
    await sigid.close();

    /** What a user would notice of each kind of sealed value, read by `reader`. */
    async function readEverything(reader: Sigid) {
      const client = supertest(createApp(reader));
      {
        const authenticated = (await client.get('/api/v1/api-keys').set('Authorization', tenantKey)).status;
        const signing = await signingKeys(reader.secrets, tenantId, endpoint.body.id).then(
          (keys) => keys.map((key) => key.export().toString('base64')),
          (error: unknown) => error,
        );
        const subjectKey = await reader.subjectKeys.find(tenantId, 'usr_rotating').catch((error: unknown) => error);
        const replayed = await client
          .post('/api/v1/api-keys')
          .set('Authorization', tenantKey)
          .set('Idempotency-Key', 'rotate-me')
          .send({ name: 'made once' });
        return { authenticated, signing, subjectKey, replayed };
      }
    }
    /** The same, by a process of its own with these keys. */
    async function readEverythingWith(current: Buffer, previous: Buffer[] = []) {
      const reader = await openSigid(target, current, previous);
      try {
        return await readEverything(reader);
      } finally {
        await reader.close();
      }
    }
    const expectReadable = (read: Awaited<ReturnType<typeof readEverything>>) => {
      expect(read.authenticated).toBe(200);
      expect(read.signing).toEqual([secretKey(endpoint.body.secret).export().toString('base64')]);
      expect(read.subjectKey).toEqual(dataKey);
      expect(read.replayed.status).toBe(201);
      expect(read.replayed.headers['idempotent-replayed']).toBe('true');
      expect(read.replayed.body).toEqual(answer.body);
    };

    sigid = await openSigid(target, newKey, [oldKey]);
    try {
      // Switched, not yet re-wrapped: a process with both keys reads both.
      expectReadable(await readEverything(sigid));
      // A rotation that dies after its first batch, then runs again and finishes.
      await expect(
        rotateMasterKey(sigid.secrets, {
          batchSize: 1,
          onProgress: () => {
            throw new Error('killed mid-rotation');
          },
        }),
      ).rejects.toThrow('killed mid-rotation');
      const midway = await sealedValuesByKey(sigid.readModels);
      expect(midway.some((row) => row.key_id === masterKeyId(oldKey))).toBe(true);
      const result = await rotateMasterKey(sigid.secrets, { batchSize: 1 });
      expect(result.unreadable).toBe(0);
      expect(result.rewrapped.subject_keys).toBe(1);
      expect(result.rewrapped.idempotency_keys).toBeGreaterThanOrEqual(1);
      const byKey = await sealedValuesByKey(sigid.readModels);
      expect(byKey.map((row) => row.table).sort()).toEqual(['idempotency_keys', 'sealed_secrets', 'subject_keys']);
      expect(byKey.every((row) => row.key_id === masterKeyId(newKey))).toBe(true);
    } finally {
      await sigid.close();
    }

    expectReadable(await readEverythingWith(newKey));
    const stale = await readEverythingWith(oldKey);
    expect(stale.authenticated).toBe(401);
    expect(stale.signing).toBeInstanceOf(SealedValueUnreadable);
    expect(stale.subjectKey).toBeInstanceOf(SealedValueUnreadable);
    expect(stale.replayed.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(stale.replayed.body)).not.toContain('sigid_sk_');
  }, 180_000);
});
