import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import type { ReadModels } from '../read-models/database.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { verifyClientSecret } from '../services/applications.ts';
import { useCase } from '../services/context.ts';
import { loadConfig } from '../src/config.ts';
import { connectPostgres, type Database } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { MasterKeyRing } from '../src/secrets/keyring.ts';
import { SealedSecrets } from '../src/secrets/sealed-secrets.ts';
import { createSigid } from '../src/sigid.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { TxtDnsServer } from './support/dns-server.ts';
import { type ServerProcess, startServerProcess } from './support/server-process.ts';
import { WebhookReceiver } from './support/webhook-receiver.ts';

/**
 * Writes of more than one durable step, killed (SIGKILL, from inside, at a named step) between the
 * steps; then the client retries with the same Idempotency-Key against a fresh process on the same
 * database. The retry must finish the write exactly once, within seconds, and answer as the first
 * run would have: one tenant, one key that works, no duplicate.
 */
describe.runIf(postgresReachable)('multi-step writes killed between their steps', () => {
  const operatorKey = `op-${randomBytes(24).toString('hex')}`;
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let env: Record<string, string>;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    database = await createPostgresDatabase();
    db = connectPostgres(database.url, { max: 2 });
    await migrateToLatest(db);
    env = {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: randomBytes(32).toString('base64'),
      SIGID_OPERATOR_KEY: operatorKey,
      SIGID_IDEMPOTENCY_LEASE_MS: '1000',
      SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1',
    };
  });
  // Each test's processes go with it: a live one would hold the workers' locks in the next test.
  // A failed test shows what its processes said (a crash on start, a refused bind…).
  afterEach(async ({ task }) => {
    for (const server of servers.splice(0)) {
      await server.kill();
      if (task.result?.state === 'fail')
        console.error(`sigid serve at ${server.url}:\n${server.output().slice(-8000)}`);
    }
  });
  afterAll(async () => {
    await db?.close();
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

  /** Sends the request to a server that dies at `failpoint`; the client sees the connection drop. */
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
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  async function events(type: string, tenantId?: string): Promise<Array<{ data: Record<string, unknown> }>> {
    const { rows } = await db.query<{ data: Record<string, unknown> }>(
      `select data from sigid_events where event_type = $1 and ($2::text is null or tenant_id = $2) order by global_position`,
      [type, tenantId ?? null],
    );
    return rows;
  }

  for (const failpoint of ['tenant.create:after-slug', 'tenant.create:after-tenant', 'api-key.issue:after-secret']) {
    it(`a tenant create killed at ${failpoint} is finished by its retry, once, with a working key`, async () => {
      const slug = `crash-${randomBytes(4).toString('hex')}`;
      const idempotencyKey = `create-${slug}`;
      const body = { name: 'Crash-tested', slug };
      await dieAt(failpoint, (server) => post(server, '/api/v1/tenants', operatorKey, body, idempotencyKey));

      const server = await start();
      const retried = await retry(() => post(server, '/api/v1/tenants', operatorKey, body, idempotencyKey));
      expect(retried.status).toBe(201);
      const created = (await retried.json()) as { tenant: { id: string; slug: string }; api_key: { key: string } };
      expect(created.tenant.slug).toBe(slug);
      const listed = await fetch(`${server.url}/api/v1/api-keys`, {
        headers: { authorization: `Bearer ${created.api_key.key}` },
      });
      expect(listed.status).toBe(200);

      // Exactly one tenant and one key came of it, and a further retry gives the same answer.
      const tenants = (await events('tenant.created')).filter((event) => event.data.slug === slug);
      expect(tenants).toHaveLength(1);
      expect(await events('api_key.created', created.tenant.id)).toHaveLength(1);
      const again = await post(server, '/api/v1/tenants', operatorKey, body, idempotencyKey);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await again.json()).toEqual(created);
    });
  }

  it('an API key issue whose answer died after its event landed is answered by its retry with that key', async () => {
    const server = await start();
    const made = await post(
      server,
      '/api/v1/tenants',
      operatorKey,
      { name: 'Keys', slug: `keys-${randomBytes(4).toString('hex')}` },
      'k',
    );
    const tenant = (await made.json()) as { tenant: { id: string }; api_key: { key: string } };
    await dieAt('after-append:api_key', (doomed) =>
      post(doomed, '/api/v1/api-keys', tenant.api_key.key, { name: 'deploy' }, 'deploy-key'),
    );
    const landed = (await events('api_key.created', tenant.tenant.id)).filter((event) => event.data.name === 'deploy');
    expect(landed).toHaveLength(1);

    const retried = await retry(() =>
      post(server, '/api/v1/api-keys', tenant.api_key.key, { name: 'deploy' }, 'deploy-key'),
    );
    expect(retried.status).toBe(201);
    const key = (await retried.json()) as { id: string; key: string };
    // The very key the event records, shown at last, and it works.
    expect(key.id).toBe(landed[0]?.data.key_id);
    const works = await fetch(`${server.url}/api/v1/api-keys`, { headers: { authorization: `Bearer ${key.key}` } });
    expect(works.status).toBe(200);
    expect(
      (await events('api_key.created', tenant.tenant.id)).filter((event) => event.data.name === 'deploy'),
    ).toHaveLength(1);
  });

  it('a webhook create killed after storing its secret is finished by its retry, once', async () => {
    const server = await start();
    const made = await post(
      server,
      '/api/v1/tenants',
      operatorKey,
      { name: 'Hooks', slug: `hooks-${randomBytes(4).toString('hex')}` },
      'h',
    );
    const tenant = (await made.json()) as { tenant: { id: string }; api_key: { key: string } };
    const body = { url: 'http://127.0.0.1:9/sigid', event_types: ['api_key.*'] };
    const send = (target: ServerProcess) => post(target, '/api/v1/webhooks', tenant.api_key.key, body, 'hook-1');
    await dieAt('webhook.create:after-secret', send);
    const retried = await retry(() => send(server));
    expect(retried.status).toBe(201);
    const endpoint = (await retried.json()) as { id: string; secret: string };
    expect(endpoint.secret).toMatch(/^whsec_/);
    expect(await events('webhook.endpoint.created', tenant.tenant.id)).toHaveLength(1);
  });

  /** Whether `secret` works for the tenant's `clientId`, as the OIDC layer will ask (read model and sealed store). */
  function clientSecretWorks(tenantId: string, clientId: string, secret: string) {
    const secrets = new SealedSecrets(db, new MasterKeyRing(Buffer.from(env.SIGID_MASTER_KEY as string, 'base64')));
    return verifyClientSecret({ readModels: db.kysely<ReadModels>(), secrets }, tenantId, clientId, secret);
  }

  async function tenantOn(server: ServerProcess, name: string) {
    const slug = `${name.toLowerCase()}-${randomBytes(4).toString('hex')}`;
    const made = await post(server, '/api/v1/tenants', operatorKey, { name, slug }, `tenant-${slug}`);
    expect(made.status).toBe(201);
    return (await made.json()) as { tenant: { id: string }; api_key: { key: string } };
  }

  for (const failpoint of [
    'application.create:after-client-id',
    'application.create:after-secret',
    'after-append:application',
  ]) {
    it(`an application create killed at ${failpoint} is finished by its retry, once, with a working secret`, async () => {
      const server = await start();
      const tenant = await tenantOn(server, 'Apps');
      const body = { kind: 'web', client_name: 'Crash-tested', redirect_uris: ['https://app.example.com/cb'] };
      const send = (target: ServerProcess) => post(target, '/api/v1/applications', tenant.api_key.key, body, 'app-1');
      await dieAt(failpoint, send);

      const retried = await retry(() => send(server));
      expect(retried.status).toBe(201);
      const application = (await retried.json()) as { id: string; client_id: string; client_secret: string };
      expect(application.client_secret).toMatch(/^sigid_cs_/);
      expect(await clientSecretWorks(tenant.tenant.id, application.client_id, application.client_secret)).toBe(true);
      // One application, one client_id claim, one stored secret; a further retry answers the same.
      expect(await events('application.created', tenant.tenant.id)).toHaveLength(1);
      expect(await events('reservation.claimed', tenant.tenant.id)).toHaveLength(1);
      const stored = await db.query<{ count: number }>(
        `select count(*)::int as count from sealed_secrets where kind = 'client-secret' and tenant_id = $1`,
        [tenant.tenant.id],
      );
      expect(stored.rows[0]?.count).toBe(1);
      const again = await send(server);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await again.json()).toEqual(application);
    });
  }

  it('an application delete killed before its client_id is released leaves the client_id free to register again', async () => {
    const server = await start();
    const tenant = await tenantOn(server, 'Deletes');
    const body = { kind: 'm2m', client_name: 'Doomed', client_id: 'nightly-sync' };
    const made = await post(server, '/api/v1/applications', tenant.api_key.key, body, 'doomed');
    const doomedApp = (await made.json()) as { id: string };
    await dieAt('application.delete:after-delete', (target) =>
      fetch(`${target.url}/api/v1/applications/${doomedApp.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${tenant.api_key.key}` },
      }),
    );
    expect(await events('application.deleted', tenant.tenant.id)).toHaveLength(1);
    expect(await events('reservation.released', tenant.tenant.id)).toHaveLength(0);

    const again = await post(
      server,
      '/api/v1/applications',
      tenant.api_key.key,
      { ...body, client_name: 'Reborn' },
      'reborn',
    );
    expect(again.status).toBe(201);
    const reborn = (await again.json()) as { id: string; client_id: string; client_secret: string };
    expect(reborn.client_id).toBe('nightly-sync');
    expect(await clientSecretWorks(tenant.tenant.id, 'nightly-sync', reborn.client_secret)).toBe(true);
    const owners = (await events('reservation.claimed', tenant.tenant.id)).map((event) => event.data.owner_id);
    expect(owners).toEqual([doomedApp.id, reborn.id]);
  });

  it('an API create killed between its identifier claim and its event is finished by its retry, once', async () => {
    const server = await start();
    const tenant = await tenantOn(server, 'Apis');
    const body = { name: 'Billing', identifier: 'https://billing.example.com/api' };
    const send = (target: ServerProcess) => post(target, '/api/v1/apis', tenant.api_key.key, body, 'api-1');
    await dieAt('api.create:after-identifier', send);
    expect(await events('api.created', tenant.tenant.id)).toHaveLength(0);

    const retried = await retry(() => send(server));
    expect(retried.status).toBe(201);
    expect(await events('api.created', tenant.tenant.id)).toHaveLength(1);
    expect(await events('reservation.claimed', tenant.tenant.id)).toHaveLength(1);
    // Without the key, the identifier is the API's: a second create is refused.
    const other = await post(server, '/api/v1/apis', tenant.api_key.key, body, 'api-2');
    expect(other.status).toBe(409);
  });

  it('an invitation create killed between its e-mail and its event is finished by its retry: one e-mail, one invitation', async () => {
    const server = await start();
    const tenant = await tenantOn(server, 'Invites');
    const body = { email: 'invited@example.com' };
    const send = (target: ServerProcess) =>
      post(target, '/api/v1/invitations', tenant.api_key.key, body, 'invite-once');
    await dieAt('invitation.create:after-email', send);
    expect(await events('email.queued', tenant.tenant.id)).toHaveLength(1);
    expect(await events('invitation.created', tenant.tenant.id)).toHaveLength(0);

    const retried = await retry(() => send(server));
    expect(retried.status).toBe(201);
    const invitation = (await retried.json()) as { id: string; status: string };
    expect(invitation.status).toBe('pending');
    expect(await events('email.queued', tenant.tenant.id)).toHaveLength(1);
    const created = await events('invitation.created', tenant.tenant.id);
    expect(created).toHaveLength(1);
    // The invitation names the message that was queued before the crash: its link is the one that works.
    const queued = await events('email.queued', tenant.tenant.id);
    expect(created[0]?.data.message_id).toBe(queued[0]?.data.message_id);
  });

  it('an API delete killed before its identifier is released leaves the identifier free to register again', async () => {
    const server = await start();
    const tenant = await tenantOn(server, 'ApisGone');
    const body = { name: 'Doomed', identifier: 'https://doomed.example.com/' };
    const made = await post(server, '/api/v1/apis', tenant.api_key.key, body, 'doomed-api');
    const doomed = (await made.json()) as { id: string };
    await dieAt('api.delete:after-delete', (target) =>
      fetch(`${target.url}/api/v1/apis/${doomed.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${tenant.api_key.key}` },
      }),
    );
    expect(await events('api.deleted', tenant.tenant.id)).toHaveLength(1);
    expect(await events('reservation.released', tenant.tenant.id)).toHaveLength(0);

    const again = await post(server, '/api/v1/apis', tenant.api_key.key, { ...body, name: 'Reborn' }, 'reborn-api');
    expect(again.status).toBe(201);
    const reborn = (await again.json()) as { id: string };
    const owners = (await events('reservation.claimed', tenant.tenant.id)).map((event) => event.data.owner_id);
    expect(owners).toEqual([doomed.id, reborn.id]);
  });

  it('an organization create killed between its name claim and its event is finished by its retry, once', async () => {
    const server = await start();
    const tenant = await tenantOn(server, 'Orgs');
    const send = (target: ServerProcess) =>
      post(target, '/api/v1/organizations', tenant.api_key.key, { name: 'acme' }, 'org-1');
    await dieAt('organization.create:after-name', send);
    expect(await events('organization.created', tenant.tenant.id)).toHaveLength(0);

    const retried = await retry(() => send(server));
    expect(retried.status).toBe(201);
    expect(await events('organization.created', tenant.tenant.id)).toHaveLength(1);
    expect(await events('reservation.claimed', tenant.tenant.id)).toHaveLength(1);
    const other = await post(server, '/api/v1/organizations', tenant.api_key.key, { name: 'acme' }, 'org-2');
    expect(other.status).toBe(409);
  });

  /** A verified domain of a new organization of `tenant`, its TXT proof served by `dns`. */
  async function verifiedDomain(server: ServerProcess, key: string, dns: TxtDnsServer, name: string, domain: string) {
    const made = await post(server, '/api/v1/organizations', key, { name }, `make-${name}`);
    const organization = (await made.json()) as { id: string };
    const added = await post(
      server,
      `/api/v1/organizations/${organization.id}/domains`,
      key,
      { domain },
      `add-${name}`,
    );
    const proof = (await added.json()) as { verification: { name: string; value: string } };
    // Published beside any record there (two organizations' proofs for one domain can both be in its DNS).
    const published = dns.records.get(proof.verification.name) ?? [];
    dns.records.set(proof.verification.name, [...published, [proof.verification.value]]);
    const verify = (target: ServerProcess) =>
      post(target, `/api/v1/organizations/${organization.id}/domains/${domain}/verify`, key, {}, `verify-${name}`);
    return { organization, verify };
  }

  it('a domain verification killed between its claim and its event is finished by its retry; no other organization can take it meanwhile', async () => {
    const dns = await new TxtDnsServer().start();
    env.SIGID_DNS_SERVERS = dns.address;
    try {
      const server = await start();
      const tenant = await tenantOn(server, 'Domains');
      const key = tenant.api_key.key;
      const first = await verifiedDomain(server, key, dns, 'first', 'acme.example.com');
      await dieAt('organization.domain-verify:after-claim', first.verify);
      expect(await events('organization.domain.verified', tenant.tenant.id)).toHaveLength(0);
      expect(await events('reservation.claimed', tenant.tenant.id)).toHaveLength(2);

      // The claim stands for the first organization: a second one with the proof published cannot verify.
      const second = await verifiedDomain(server, key, dns, 'second', 'acme.example.com');
      const refused = await second.verify(server);
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { code: string }).code).toBe('domain_taken');

      const retried = await retry(() => first.verify(server));
      expect(retried.status).toBe(200);
      expect(((await retried.json()) as { status: string }).status).toBe('verified');
      expect(await events('organization.domain.verified', tenant.tenant.id)).toHaveLength(1);
    } finally {
      await dns.close();
    }
  });

  it('an organization delete killed before its name and verified domain are released leaves both free', async () => {
    const dns = await new TxtDnsServer().start();
    env.SIGID_DNS_SERVERS = dns.address;
    try {
      const server = await start();
      const tenant = await tenantOn(server, 'OrgsGone');
      const key = tenant.api_key.key;
      const doomed = await verifiedDomain(server, key, dns, 'doomed', 'doomed.example.com');
      expect((await doomed.verify(server)).status).toBe(200);
      await dieAt('organization.delete:after-delete', (target) =>
        fetch(`${target.url}/api/v1/organizations/${doomed.organization.id}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${key}` },
        }),
      );
      expect(await events('organization.deleted', tenant.tenant.id)).toHaveLength(1);
      expect(await events('reservation.released', tenant.tenant.id)).toHaveLength(0);

      const again = await post(server, '/api/v1/organizations', key, { name: 'doomed' }, 'reborn-org');
      expect(again.status).toBe(201);
      const heir = await verifiedDomain(server, key, dns, 'heir', 'doomed.example.com');
      expect((await heir.verify(server)).status).toBe(200);
    } finally {
      await dns.close();
    }
  });

  it('a verified domain removal killed before its release leaves the domain free for another organization', async () => {
    const dns = await new TxtDnsServer().start();
    env.SIGID_DNS_SERVERS = dns.address;
    try {
      const server = await start();
      const tenant = await tenantOn(server, 'DomainsGone');
      const key = tenant.api_key.key;
      const owner = await verifiedDomain(server, key, dns, 'owner', 'moving.example.com');
      expect((await owner.verify(server)).status).toBe(200);
      await dieAt('organization.domain-remove:after-remove', (target) =>
        fetch(`${target.url}/api/v1/organizations/${owner.organization.id}/domains/moving.example.com`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${key}` },
        }),
      );
      expect(await events('organization.domain.removed', tenant.tenant.id)).toHaveLength(1);
      expect(await events('reservation.released', tenant.tenant.id)).toHaveLength(0);

      const next = await verifiedDomain(server, key, dns, 'next', 'moving.example.com');
      expect((await next.verify(server)).status).toBe(200);
    } finally {
      await dns.close();
    }
  });

  it('a role create killed between its name claim and its event is finished by its retry, once', async () => {
    const server = await start();
    const tenant = await tenantOn(server, 'Roles');
    const send = (target: ServerProcess) =>
      post(target, '/api/v1/roles', tenant.api_key.key, { name: 'Clerk' }, 'role-1');
    await dieAt('role.create:after-name', send);
    expect(await events('role.created', tenant.tenant.id)).toHaveLength(0);

    const retried = await retry(() => send(server));
    expect(retried.status).toBe(201);
    expect(await events('role.created', tenant.tenant.id)).toHaveLength(1);
    expect(await events('reservation.claimed', tenant.tenant.id)).toHaveLength(1);
    const other = await post(server, '/api/v1/roles', tenant.api_key.key, { name: 'CLERK' }, 'role-2');
    expect(other.status).toBe(409);
  });

  it('a role rename killed after claiming the new name leaves that name free for another role', async () => {
    const server = await start();
    const tenant = await tenantOn(server, 'RolesRenamed');
    const made = await post(server, '/api/v1/roles', tenant.api_key.key, { name: 'Clerk' }, 'renamed-role');
    const role = (await made.json()) as { id: string };
    await dieAt('role.update:after-name', (target) =>
      fetch(`${target.url}/api/v1/roles/${role.id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${tenant.api_key.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Cashier' }),
      }),
    );
    expect(await events('role.updated', tenant.tenant.id)).toHaveLength(0);
    // The role kept its name; the name it was to take is not held against anyone.
    const taken = await post(server, '/api/v1/roles', tenant.api_key.key, { name: 'Cashier' }, 'cashier');
    expect(taken.status).toBe(201);
    const clash = await post(server, '/api/v1/roles', tenant.api_key.key, { name: 'clerk' }, 'clerk-again');
    expect(clash.status).toBe(409);
  });

  it('a role delete killed before its name is released leaves no one holding the role, and its name free', async () => {
    const server = await start();
    const tenant = await tenantOn(server, 'RolesGone');
    const key = tenant.api_key.key;
    // A user of the tenant: signed up and linked in this process, on the same database.
    const config = loadConfig(
      {},
      { databaseUrl: database.url, masterKey: env.SIGID_MASTER_KEY, dataDir: undefined, logLevel: 'silent' },
    );
    const writer = await createSigid(config, { logger: pino({ level: 'silent' }) });
    const context = useCase({
      tenantId: PLATFORM_TENANT,
      actor: { type: 'system', id: 'test' },
      correlationId: 'test',
    });
    let sub: string;
    try {
      const signedUp = await signUpWithPassword(
        writer,
        { email: `holder-${randomBytes(4).toString('hex')}@example.com`, password: 'a password to keep' },
        context,
      );
      if (signedUp.status !== 'created') throw new Error('exists');
      sub = (await linkAccount(writer, signedUp.accountId, tenant.tenant.id, context)).sub;
    } finally {
      await writer.close();
    }
    const made = await post(server, '/api/v1/roles', key, { name: 'Doomed' }, 'doomed-role');
    const doomed = (await made.json()) as { id: string };
    const assign = () =>
      fetch(`${server.url}/api/v1/roles/${doomed.id}/users/${sub}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${key}` },
      });
    // The server's projection learns of the link shortly.
    let assigned = await assign();
    for (let tries = 0; assigned.status === 404 && tries < 40; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      assigned = await assign();
    }
    expect(assigned.status).toBe(200);

    await dieAt('role.delete:after-delete', (target) =>
      fetch(`${target.url}/api/v1/roles/${doomed.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${key}` },
      }),
    );
    expect(await events('role.deleted', tenant.tenant.id)).toHaveLength(1);
    expect((await events('role.unassigned', tenant.tenant.id)).map((event) => event.data)).toEqual([
      { role_id: doomed.id, sub, organization_id: null, reason: 'role_deleted' },
    ]);
    expect(await events('reservation.released', tenant.tenant.id)).toHaveLength(0);
    // What the issuer reads a user's roles from no longer has the role, nor the user holding it.
    const held = async () => {
      const { rows } = await db.query<{ count: number }>(
        'select count(*)::int as count from role_assignments where tenant_id = $1 and sub = $2',
        [tenant.tenant.id, sub],
      );
      return rows[0]?.count;
    };
    const deadline = Date.now() + 10_000;
    while ((await held()) !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await held()).toBe(0);
    const roles = await fetch(`${server.url}/api/v1/role-assignments?sub=${sub}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(((await roles.json()) as { data: unknown[] }).data).toEqual([]);

    // The name is free: a new role takes it over from the deleted one.
    const again = await post(server, '/api/v1/roles', key, { name: 'doomed' }, 'reborn-role');
    expect(again.status).toBe(201);
    const reborn = (await again.json()) as { id: string };
    const owners = (await events('reservation.claimed', tenant.tenant.id))
      .filter((event) => event.data.kind === 'role_name')
      .map((event) => event.data.owner_id);
    expect(owners).toEqual([doomed.id, reborn.id]);
  });

  for (const [failpoint, landed] of [
    ['application.rotate:after-secret', 0],
    ['after-append:application', 1],
  ] as const) {
    it(`a client secret rotation killed at ${failpoint} is finished by its retry, once`, async () => {
      const server = await start();
      const tenant = await tenantOn(server, 'Rotates');
      const made = await post(
        server,
        '/api/v1/applications',
        tenant.api_key.key,
        { kind: 'm2m', client_name: 'Rotated' },
        'rotated',
      );
      const application = (await made.json()) as { id: string; client_id: string; client_secret: string };
      const send = (target: ServerProcess) =>
        post(target, `/api/v1/applications/${application.id}/secrets`, tenant.api_key.key, {}, 'rotate-1');
      await dieAt(failpoint, send);
      // Killed before its event (the new secret stored, inert), or right after it.
      expect(await events('application.secret_rotated', tenant.tenant.id)).toHaveLength(landed);

      const retried = await retry(() => send(server));
      expect(retried.status).toBe(201);
      const rotated = (await retried.json()) as { client_secret: string; previous_secret_expires_at: string };
      expect(await clientSecretWorks(tenant.tenant.id, application.client_id, rotated.client_secret)).toBe(true);
      expect(await clientSecretWorks(tenant.tenant.id, application.client_id, application.client_secret)).toBe(true);
      const recorded = await events('application.secret_rotated', tenant.tenant.id);
      expect(recorded).toHaveLength(1);
      // The answer says what the event records, whichever run appended it.
      expect(rotated.previous_secret_expires_at).toBe(recorded[0]?.data.previous_secret_expires_at);
    });
  }

  it('a redelivery and a replay killed right after their request is recorded are queued anyway, once, and answered by their retries', async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      const server = await start();
      const made = await post(
        server,
        '/api/v1/tenants',
        operatorKey,
        { name: 'Again', slug: `again-${randomBytes(4).toString('hex')}` },
        'a',
      );
      const tenant = (await made.json()) as { tenant: { id: string }; api_key: { key: string } };
      const auth = { authorization: `Bearer ${tenant.api_key.key}` };
      receiver.route('/again', []);
      const hook = await post(
        server,
        '/api/v1/webhooks',
        tenant.api_key.key,
        { url: `${receiver.origin}/again`, event_types: ['api_key.created'] },
        'hook-again',
      );
      const endpoint = (await hook.json()) as { id: string; secret: string };
      receiver.setSecrets('/again', [endpoint.secret]);
      for (const name of ['one', 'two']) await post(server, '/api/v1/api-keys', tenant.api_key.key, { name }, name);
      await receiver.waitFor(() => receiver.received('/again').length === 2);
      const messages = (await (
        await fetch(`${server.url}/api/v1/webhooks/${endpoint.id}/messages`, { headers: auth })
      ).json()) as { data: Array<{ id: string; event_id: string; status: string }> };
      const first = messages.data.find((message) => message.event_id === receiver.received('/again')[0]?.id);
      expect(first?.status).toBe('delivered');
      await server.kill();

      // Each request dies right after its event is appended: nothing was queued by the request itself.
      const redeliver = (target: ServerProcess) =>
        post(target, `/api/v1/webhooks/${endpoint.id}/messages/${first?.id}/redeliver`, tenant.api_key.key, {}, 're-1');
      const replay = (target: ServerProcess) =>
        post(target, `/api/v1/webhooks/${endpoint.id}/replay`, tenant.api_key.key, { after_position: 0 }, 'replay-1');
      await dieAt('after-append:webhook_endpoint', redeliver);
      await dieAt('after-append:webhook_endpoint', replay);
      const [asked] = await events('webhook.message.redelivery_requested', tenant.tenant.id);
      expect(await events('webhook.endpoint.replay_requested', tenant.tenant.id)).toHaveLength(1);

      // A fresh process's fan-out reads both requests and queues them: the event once more, then every
      // api_key.created of the tenant (its first key's too, made before the endpoint) again.
      const after = await start();
      await receiver.waitFor(() => receiver.received('/again').length === 6);
      const ids = receiver.received('/again').map((delivery) => delivery.id);
      const [one, two] = ids;
      const firstKeyEvent = await db.query<{ event_id: string }>(
        `select event_id from sigid_events where event_type = 'api_key.created' and tenant_id = $1 order by global_position limit 1`,
        [tenant.tenant.id],
      );
      expect(ids).toEqual([one, two, one, firstKeyEvent.rows[0]?.event_id, one, two]);

      // The retries answer with what was queued (the redelivery under the id its event names), queue
      // nothing more, and record no second request.
      const redelivered = await retry(() => redeliver(after));
      expect(redelivered.status).toBe(202);
      expect(((await redelivered.json()) as { id: string }).id).toBe(asked?.data.redelivery_message_id);
      const replayed = await retry(() => replay(after));
      expect(replayed.status).toBe(202);
      expect(await replayed.json()).toMatchObject({ enqueued: 3, truncated: false });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(receiver.received('/again')).toHaveLength(6);
      const queued = await db.query<{ origin: string }>(
        'select origin from webhook_messages where tenant_id = $1 order by seq',
        [tenant.tenant.id],
      );
      expect(queued.rows.map((row) => row.origin)).toEqual([
        'stream',
        'stream',
        'redelivery',
        'replay',
        'replay',
        'replay',
      ]);
    } finally {
      await receiver.close();
    }
  });

  it('an endpoint SigID disables (410 Gone) and is killed right after recording it stays disabled, and gets nothing more', async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      const server = await start();
      const made = await post(
        server,
        '/api/v1/tenants',
        operatorKey,
        { name: 'Gone', slug: `gone-${randomBytes(4).toString('hex')}` },
        'g',
      );
      const tenant = (await made.json()) as { tenant: { id: string }; api_key: { key: string } };
      receiver.route('/gone', [], () => ({ status: 410 }));
      const hook = await post(
        server,
        '/api/v1/webhooks',
        tenant.api_key.key,
        { url: `${receiver.origin}/gone`, event_types: ['api_key.*'] },
        'hook-gone',
      );
      const endpoint = (await hook.json()) as { id: string; secret: string };
      receiver.setSecrets('/gone', [endpoint.secret]);
      await server.kill();

      // The dispatcher that sees the 410 records the disable, and dies right after.
      const doomed = await start('webhook.dispatcher:after-disable');
      await post(doomed, '/api/v1/api-keys', tenant.api_key.key, { name: 'trigger' }, 'trigger').catch(() => undefined);
      expect(await doomed.exited).toBe('SIGKILL');
      const seen = receiver.requests('/gone').length;
      expect(seen).toBeGreaterThan(0);

      const after = await start();
      // The restarted process's projection reads the disable recorded before the kill (soon after start).
      const show = async () =>
        (await (
          await fetch(`${after.url}/api/v1/webhooks/${endpoint.id}`, {
            headers: { authorization: `Bearer ${tenant.api_key.key}` },
          })
        ).json()) as { status: string };
      let shown = await show();
      for (let tries = 0; shown.status !== 'disabled' && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        shown = await show();
      }
      expect(shown).toMatchObject({ status: 'disabled', disabled_reason: 'gone' });
      await post(after, '/api/v1/api-keys', tenant.api_key.key, { name: 'after' }, 'after');
      // The new process's dispatcher has had its chance: no event after the disable reaches the gone
      // receiver. (The one whose attempt died with the process may be tried once more: at least once.)
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const names = receiver.requests('/gone').map((request) => request.data.name);
      expect(names).not.toContain('after');
      expect(new Set(names)).toEqual(new Set(['trigger']));
    } finally {
      await receiver.close();
    }
  });
});
