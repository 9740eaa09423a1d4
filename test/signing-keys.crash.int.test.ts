import { randomBytes } from 'node:crypto';
import { CompactSign, compactVerify, importJWK } from 'jose';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PublicJwk } from '../events/signing-key.ts';
import { useCase } from '../services/context.ts';
import { ensureSigningKeys, signingKeySet } from '../services/signing-keys.ts';
import { loadConfig } from '../src/config.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { type ServerProcess, startServerProcess } from './support/server-process.ts';

/**
 * A rotation seals its new private keys, then appends the events naming them: two durable steps. A
 * real `sigid serve` is killed (SIGKILL) between them; the client retries with the same
 * Idempotency-Key against a fresh process on the same database. The retry must reuse the keys the
 * dead run sealed (same kids, from the key's seeded source) and end with one consistent key set:
 * one rotation recorded, and every private part the very key its event published.
 */
describe.runIf(postgresReachable)('signing keys: a rotation killed between sealing and appending', () => {
  const operatorKey = `op-${randomBytes(24).toString('hex')}`;
  const masterKey = randomBytes(32).toString('base64');
  let database: { url: string; drop: () => Promise<void> };
  let env: Record<string, string>;
  let sigid: Sigid;
  const servers: ServerProcess[] = [];

  /** A SigID in this process on the same database: to read the store as the OIDC layer would. */
  const open = () =>
    createSigid(
      loadConfig({}, { databaseUrl: database.url, masterKey, operatorKey, logLevel: 'silent', dataDir: undefined }),
      { logger: pino({ level: 'silent' }) },
    );

  beforeAll(async () => {
    database = await createPostgresDatabase();
    sigid = await open();
    env = {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: masterKey,
      SIGID_OPERATOR_KEY: operatorKey,
      SIGID_IDEMPOTENCY_LEASE_MS: '1000',
    };
  });
  afterEach(async ({ task }) => {
    for (const server of servers.splice(0)) {
      await server.kill();
      if (task.result?.state === 'fail')
        console.error(`sigid serve at ${server.url}:\n${server.output().slice(-8000)}`);
    }
  });
  afterAll(async () => {
    await sigid?.close();
    await database?.drop();
  });

  async function start(failpoint?: string): Promise<ServerProcess> {
    const server = await startServerProcess({ ...env, ...(failpoint ? { SIGID_FAILPOINTS: failpoint } : {}) });
    servers.push(server);
    return server;
  }

  function post(server: ServerProcess, path: string, key: string, body: unknown, idempotencyKey: string) {
    return fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        'idempotency-key': idempotencyKey,
      },
      body: JSON.stringify(body),
    });
  }

  async function newTenant(server: ServerProcess, name: string) {
    const slug = `${name}-${randomBytes(4).toString('hex')}`;
    const made = await post(server, '/api/v1/tenants', operatorKey, { name, slug }, slug);
    expect(made.status).toBe(201);
    const body = (await made.json()) as { tenant: { id: string }; api_key: { key: string } };
    return { tenantId: body.tenant.id, key: body.api_key.key };
  }

  const rotate = (server: ServerProcess, key: string, idempotencyKey: string) =>
    post(server, '/api/v1/signing-keys/rotate', key, {}, idempotencyKey);

  async function dieAt(failpoint: string, send: (server: ServerProcess) => Promise<Response>) {
    const doomed = await start(failpoint);
    await expect(send(doomed)).rejects.toThrow();
    expect(await doomed.exited).toBe('SIGKILL');
  }

  /** Retries until the dead request's lease has run out (a 409 with Retry-After meanwhile). */
  async function retry(send: () => Promise<Response>): Promise<Response> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const response = await send();
      if (response.status !== 409 || Date.now() > deadline) return response;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  async function events(tenantId: string) {
    const { rows } = await sigid.db.query<{ type: string; data: { kid: string; alg: string; public_jwk?: PublicJwk } }>(
      `select event_type as type, data from sigid_events where tenant_id = $1 and event_type like 'signing_key.%' order by global_position`,
      [tenantId],
    );
    return rows;
  }

  async function sealed(tenantId: string) {
    return sigid.readModels
      .selectFrom('sealed_secrets')
      .select(['id', 'activated_at'])
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', 'signing-key')
      .orderBy('id')
      .execute();
  }

  /** Every key of the set signs what its published public JWK verifies: the private parts are the published keys. */
  async function expectConsistent(tenantId: string) {
    const created = new Map(
      (await events(tenantId))
        .filter((event) => event.type === 'signing_key.created')
        .map((event) => [event.data.kid, event.data.public_jwk as PublicJwk]),
    );
    const { keys } = await signingKeySet(sigid, tenantId);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const { key_ops: _ops, ...privateJwk } = key;
      const signed = await new CompactSign(new TextEncoder().encode('kid check'))
        .setProtectedHeader({ alg: key.alg })
        .sign(await importJWK(privateJwk, key.alg));
      await compactVerify(signed, await importJWK({ ...created.get(key.kid), alg: key.alg } as never, key.alg));
    }
    return keys;
  }

  it('a rotation killed after sealing its new keys is finished by its retry with those keys, once', async () => {
    const server = await start();
    const tenant = await newTenant(server, 'rotated');
    expect((await rotate(server, tenant.key, 'first-keys')).status).toBe(200);
    const before = await events(tenant.tenantId);
    expect(before).toHaveLength(4);

    await dieAt('signing-keys.rotate:after-seal', (doomed) => rotate(doomed, tenant.key, 'rotate-1'));
    // The new private parts are sealed, inert (no event names them yet); nothing was recorded.
    expect(await events(tenant.tenantId)).toEqual(before);
    const afterCrash = await sealed(tenant.tenantId);
    const orphans = afterCrash.filter((row) => row.activated_at === null).map((row) => row.id);
    expect(afterCrash).toHaveLength(6);
    expect(orphans).toHaveLength(2);

    const retried = await retry(() => rotate(server, tenant.key, 'rotate-1'));
    expect(retried.status).toBe(200);
    const answer = (await retried.json()) as { initialized: boolean; keys: Array<{ id: string; status: string }> };
    expect(answer.initialized).toBe(false);

    // One rotation, whose new next keys are the ones the dead run sealed; no key was made twice.
    const after = await events(tenant.tenantId);
    expect(after.slice(4).map((event) => event.type)).toEqual(
      ['created', 'activated', 'superseded', 'created', 'activated', 'superseded'].map((verb) => `signing_key.${verb}`),
    );
    const next = answer.keys.filter((key) => key.status === 'next').map((key) => key.id);
    expect(next.sort()).toEqual(orphans.sort());
    expect((await sealed(tenant.tenantId)).map((row) => row.id)).toEqual(afterCrash.map((row) => row.id));
    const keys = await expectConsistent(tenant.tenantId);
    expect(keys.map((key) => key.kid).sort()).toEqual(answer.keys.map((key) => key.id).sort());

    const again = await rotate(server, tenant.key, 'rotate-1');
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(answer);
    expect(await events(tenant.tenantId)).toHaveLength(10);
  });

  it("a tenant's first rotation (it makes the first keys) killed after sealing is finished by its retry with those keys", async () => {
    const server = await start();
    const tenant = await newTenant(server, 'first');
    await dieAt('signing-keys.rotate:after-seal', (doomed) => rotate(doomed, tenant.key, 'init-1'));
    expect(await events(tenant.tenantId)).toEqual([]);
    const afterCrash = (await sealed(tenant.tenantId)).map((row) => row.id);
    expect(afterCrash).toHaveLength(4);

    const retried = await retry(() => rotate(server, tenant.key, 'init-1'));
    expect(retried.status).toBe(200);
    const answer = (await retried.json()) as { initialized: boolean; keys: Array<{ id: string }> };
    expect(answer.initialized).toBe(true);
    expect(answer.keys.map((key) => key.id).sort()).toEqual(afterCrash);
    expect(await events(tenant.tenantId)).toHaveLength(4);
    expect((await sealed(tenant.tenantId)).map((row) => row.id)).toEqual(afterCrash);
    await expectConsistent(tenant.tenantId);
  });

  it('two processes making a tenant’s first keys at once end with one set', async () => {
    const server = await start();
    const tenant = await newTenant(server, 'raced');
    const other = await open();
    try {
      const context = useCase({
        tenantId: tenant.tenantId,
        actor: { type: 'system', id: 'oidc' },
        correlationId: 'race',
      });
      const results = await Promise.all([
        ensureSigningKeys(sigid, tenant.tenantId, context),
        ensureSigningKeys(other, tenant.tenantId, context),
      ]);
      expect(results.map((result) => result.initialized).sort()).toEqual([false, true]);
      expect((await events(tenant.tenantId)).map((event) => event.type)).toEqual(Array(4).fill('signing_key.created'));
      const mine = await expectConsistent(tenant.tenantId);
      expect((await signingKeySet(other, tenant.tenantId)).keys).toEqual(mine);
    } finally {
      await other.close();
    }
  });
});
