import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { organizationAggregate } from '../commands/organization.ts';
import { type ConnectionOidc, findConnection, listConnections } from '../read-models/connections.ts';
import { findOrganization } from '../read-models/organizations.ts';
import { createConnection, type NewConnection } from '../services/connections.ts';
import { useCase } from '../services/context.ts';
import { handleCommand } from '../src/command-handler.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { seededRandom } from '../src/random.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { relyingParty } from '../src/sso/oidc-connection.ts';
import { runChild } from './support/crash-child.ts';
import { IDP_CLIENT_ID, IDP_CLIENT_SECRET, startCustomerIdp } from './support/customer-idp.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { settled } from './support/settled.ts';

const REDIRECT_URI = 'http://127.0.0.1:1/callback';

/**
 * An SSO connection create (its client secret sealed, then `connection.created` naming the secret's
 * id) killed with SIGKILL between the two, in a child process, against a real customer IdP: no
 * connection, a secret that never works, and a retry (the same ids, as an Idempotency-Key's, or fresh
 * ones) that makes exactly one connection whose secret the IdP accepts.
 */
describe.runIf(postgresReachable)('SSO connection creates killed between their steps', { timeout: 60_000 }, () => {
  const masterKey = randomBytes(32).toString('base64');
  // The IdP listens on 127.0.0.1 over http: allowlisted, as in development.
  const allowlist = { SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' };
  let database: { url: string; drop: () => Promise<void> };
  let sigid: Sigid;
  let idp: Awaited<ReturnType<typeof startCustomerIdp>>;

  const settle = () => settled(sigid);
  const system = (tenantId: string) => ({
    tenantId,
    actor: { type: 'system', id: 'test' } as const,
    correlationId: 'test',
  });
  const connection = (): NewConnection => ({
    name: 'Acme Workforce',
    protocol: 'oidc',
    oidc: { issuer: idp.issuer, client_id: IDP_CLIENT_ID, client_secret: IDP_CLIENT_SECRET },
  });

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const config = loadConfig(allowlist, {
      databaseUrl: database.url,
      masterKey,
      dataDir: undefined,
      logLevel: 'silent',
    });
    sigid = await createSigid(config, { logger: pino({ level: 'silent' }) });
    sigid.start();
    idp = await startCustomerIdp({ redirectUris: [REDIRECT_URI], users: {} });
  });
  afterAll(async () => {
    await idp?.close();
    await sigid?.close();
    await database?.drop();
  });

  /** A tenant of its own with one organization, projected, so each test counts only its own writes. */
  async function organization() {
    const tenantId = newId('ten');
    const organizationId = newId('org');
    await handleCommand(
      sigid.log,
      organizationAggregate,
      organizationId,
      {
        type: 'create_organization',
        organization_id: organizationId,
        name: 'acme',
        settings: { display_name: 'Acme', metadata: {} },
      },
      system(tenantId),
    );
    await settle();
    return { tenantId, organizationId };
  }

  const child = (input: object, env: Record<string, string> = {}) =>
    runChild('connection-child.ts', {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: masterKey,
      SIGID_EMAIL_WORKER: 'false',
      ...allowlist,
      CONNECTION_INPUT: JSON.stringify(input),
      ...env,
    });

  async function created(tenantId: string) {
    const { rows } = await sigid.db.query<{ data: { connection_id: string; oidc: { client_secret_id: string } } }>(
      `select data from sigid_events where event_type = 'connection.created' and tenant_id = $1 order by global_position`,
      [tenantId],
    );
    return rows.map((row) => row.data);
  }

  /** The tenant's connection secrets as stored, active or not. */
  async function stored(tenantId: string) {
    const { rows } = await sigid.db.query<{ id: string; owner_id: string; activated_at: Date | null }>(
      `select id, owner_id, activated_at from sealed_secrets where kind = 'connection-secret' and tenant_id = $1`,
      [tenantId],
    );
    return rows;
  }

  /** Whether the IdP accepts SigID's client authenticated with `secret` (a pushed authorization request). */
  async function idpAccepts(oidc: ConnectionOidc, secret: string): Promise<boolean> {
    const configuration = await relyingParty(sigid, `test:${randomBytes(4).toString('hex')}`, oidc, secret, true);
    try {
      await client.buildAuthorizationUrlWithPAR(configuration, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      return true;
    } catch (error) {
      // oidc-provider refuses a Basic authentication with a 401 and its challenge.
      if (
        error instanceof client.WWWAuthenticateChallengeError &&
        error.cause[0]?.parameters.error === 'invalid_client'
      )
        return false;
      throw error;
    }
  }

  /** The one connection of the organization, its secret the one the IdP knows, active and accepted. */
  async function oneWorkingConnection(tenantId: string, organizationId: string) {
    const events = await created(tenantId);
    expect(events).toHaveLength(1);
    // The read model follows the event (settle's gap-free head may stop short of an append just made).
    await expect
      .poll(
        async () =>
          (await listConnections(sigid.readModels, tenantId, organizationId, { limit: 10 })).map(
            (row) => row.connection_id,
          ),
        { timeout: 10_000 },
      )
      .toEqual([events[0]?.connection_id]);
    const listed = await listConnections(sigid.readModels, tenantId, organizationId, { limit: 10 });
    const oidc = listed[0]?.oidc as ConnectionOidc;
    expect(oidc.client_secret_id).toBe(events[0]?.oidc.client_secret_id);
    const secret = await sigid.secrets.get(tenantId, 'connection-secret', oidc.client_secret_id);
    expect(secret?.toString('utf8')).toBe(IDP_CLIENT_SECRET);
    expect(await idpAccepts(oidc, IDP_CLIENT_SECRET)).toBe(true);
    expect(await idpAccepts(oidc, 'not-the-client-secret')).toBe(false);
    return listed[0];
  }

  /** Killed after sealing its secret: no connection at all, and the secret sealed but inert. */
  async function killedAfterSecret(input: object, tenantId: string, organizationId: string) {
    expect(await child(input, { SIGID_FAILPOINTS: 'connection.create:after-secret' })).toBe('SIGKILL');
    await settle();
    expect(await created(tenantId)).toEqual([]);
    expect(await listConnections(sigid.readModels, tenantId, organizationId, { limit: 10 })).toEqual([]);
    // The child died at the failpoint: after the secret's put, before the event.
    const [orphan, ...more] = await stored(tenantId);
    expect(more).toEqual([]);
    if (!orphan) throw new Error('the killed child sealed no secret');
    expect(orphan.activated_at).toBeNull();
    expect(await findConnection(sigid.readModels, tenantId, orphan.owner_id)).toBeUndefined();
    expect(await sigid.secrets.get(tenantId, 'connection-secret', orphan.id)).toBeUndefined();
    expect(await sigid.secrets.listOwned(tenantId, 'connection-secret', orphan.owner_id)).toEqual([]);
    return orphan;
  }

  it('a create run to its end in a child makes the connection, with a working secret', async () => {
    const { tenantId, organizationId } = await organization();
    expect(await child({ tenantId, organizationId, connection: connection() })).toBe(0);
    await settle();
    const made = await oneWorkingConnection(tenantId, organizationId);
    expect((await stored(tenantId)).map((row) => row.owner_id)).toEqual([made?.connection_id]);
  });

  it('a create killed after sealing its secret leaves no connection and an inert secret; its retry with the same ids finishes it, once', async () => {
    const { tenantId, organizationId } = await organization();
    const seed = { value: randomBytes(32).toString('hex'), at: new Date().toISOString() };
    const orphan = await killedAfterSecret(
      { tenantId, organizationId, connection: connection(), seed },
      tenantId,
      organizationId,
    );

    // The retry draws the same ids (as a retried Idempotency-Key does): the sealed secret is reused.
    const row = await findOrganization(sigid.readModels, tenantId, organizationId);
    if (!row) throw new Error('no organization');
    const retry = () =>
      createConnection(
        sigid,
        row,
        connection(),
        useCase(system(tenantId), seededRandom(Buffer.from(seed.value, 'hex'), new Date(seed.at))),
      );
    const { connectionId } = await retry();
    expect(connectionId).toBe(orphan.owner_id);
    await settle();
    const made = await oneWorkingConnection(tenantId, organizationId);
    expect(made?.oidc?.client_secret_id).toBe(orphan.id);
    expect(await stored(tenantId)).toEqual([
      expect.objectContaining({ id: orphan.id, activated_at: expect.any(Date) }),
    ]);

    // A further retry records nothing.
    expect((await retry()).written.types).toEqual([]);
    await settle();
    expect(await created(tenantId)).toHaveLength(1);
    expect(await stored(tenantId)).toHaveLength(1);
  });

  it('a create killed after sealing its secret and retried with fresh ids makes one connection; the orphaned secret never works', async () => {
    const { tenantId, organizationId } = await organization();
    const orphan = await killedAfterSecret(
      { tenantId, organizationId, connection: connection() },
      tenantId,
      organizationId,
    );

    expect(await child({ tenantId, organizationId, connection: connection() })).toBe(0);
    await settle();
    const made = await oneWorkingConnection(tenantId, organizationId);
    expect(made?.connection_id).not.toBe(orphan.owner_id);
    expect(made?.oidc?.client_secret_id).not.toBe(orphan.id);
    // Nothing names the first run's secret: whether kept or swept, it is never active.
    const left = (await stored(tenantId)).filter((secret) => secret.id === orphan.id);
    expect(left.every((secret) => secret.activated_at === null)).toBe(true);
    expect(await sigid.secrets.get(tenantId, 'connection-secret', orphan.id)).toBeUndefined();
    expect(await sigid.secrets.listOwned(tenantId, 'connection-secret', orphan.owner_id)).toEqual([]);
    expect(
      (await sigid.secrets.listOwned(tenantId, 'connection-secret', made?.connection_id as string)).map((s) => s.id),
    ).toEqual([made?.oidc?.client_secret_id]);
  });
});
