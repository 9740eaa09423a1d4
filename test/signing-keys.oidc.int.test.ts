import type { AddressInfo } from 'node:net';
import express from 'express';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicJwks } from '../read-models/signing-keys.ts';
import { useCase } from '../services/context.ts';
import { ensureSigningKeys, rotateSigningKeys, signingKeySet } from '../services/signing-keys.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const RETENTION_SECONDS = 2;
const CLIENT = { client_id: 'reporting', client_secret: 'a-client-secret-of-some-length-0123456789' };

/**
 * A real oidc-provider 9.13, configured as SigID's OIDC layer will configure it (`jwks` from
 * `signingKeySet`), mounted on a local express app: what it publishes and which key it signs with,
 * across rotations. Client credentials with a resource indicator give JWT access tokens, signed
 * ES256 or RS256 by the resource asked for.
 */
describe('signing keys in oidc-provider', () => {
  let t: TestSigid;
  let tenantId: string;
  let server: ReturnType<ReturnType<typeof express>['listen']>;
  let issuer: string;
  let provider: Provider;
  const context = () => useCase({ tenantId, actor: { type: 'system', id: 'oidc' }, correlationId: 'req_oidc' });

  /** What the tenant's pool would do when its keys change: build the issuer's provider again. */
  async function buildProvider(jwks?: Awaited<ReturnType<typeof signingKeySet>>) {
    provider = new Provider(issuer, {
      jwks: jwks ?? (await signingKeySet(t.sigid, tenantId)),
      ttl: { ClientCredentials: 600 },
      clients: [{ ...CLIENT, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => 'urn:sigid:es256',
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, resource) => ({
            scope: 'reports:read',
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: resource === 'urn:sigid:rs256' ? 'RS256' : 'ES256' } },
          }),
        },
      },
    });
  }

  async function token(alg: 'ES256' | 'RS256') {
    const response = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'reports:read',
        resource: `urn:sigid:${alg.toLowerCase()}`,
        ...CLIENT,
      }),
    });
    const body = (await response.json()) as { access_token: string };
    expect(response.status, JSON.stringify(body)).toBe(200);
    return body.access_token;
  }

  async function published(): Promise<JSONWebKeySet> {
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
      jwks_uri: string;
    };
    const response = await fetch(discovery.jwks_uri);
    expect(response.headers.get('content-type')).toMatch(/^application\/jwk-set\+json/);
    return (await response.json()) as JSONWebKeySet;
  }

  /** The kid that signed the token, after checking that the issuer's published JWKS verifies it. */
  async function signer(jwt: string, jwks: JSONWebKeySet): Promise<string> {
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), { issuer });
    expect(payload.client_id).toBe(CLIENT.client_id);
    return decodeProtectedHeader(jwt).kid as string;
  }

  /** Waits until the read models have what a service call wrote (the HTTP routes do this before answering). */
  async function projected(write: Promise<{ written: { position: number | null } }>) {
    const { written } = await write;
    if (written.position !== null) expect(await t.sigid.projections.waitFor(written.position, 10_000)).toBe(true);
  }

  const kidsOf = (jwks: { keys: Array<{ kid?: string | undefined }> }) => jwks.keys.map((key) => key.kid);

  beforeAll(async () => {
    t = await startSigid({ config: { signingKeyRetentionSeconds: RETENTION_SECONDS } });
    const tenant = await t.createTenant('OIDC');
    tenantId = tenant.tenantId;
    const app = express();
    // The provider of the moment: rebuilt below as the pool would rebuild it on a key change.
    app.use(`/t/${tenant.slug}`, (request, response) => provider.callback()(request, response));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/t/${tenant.slug}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  it('publishes the next, active and retiring keys, signs with the active one, and drops a key after its retire_at', async () => {
    await projected(ensureSigningKeys(t.sigid, tenantId, context()));
    const initial = await publicJwks(t.sigid.readModels, tenantId);
    const [es1, rs1, es2, rs2] = kidsOf(initial);
    await buildProvider();

    // Both active keys and both next keys are published; only the active ones sign.
    let jwks = await published();
    expect(kidsOf(jwks)).toEqual([es1, rs1, es2, rs2]);
    expect(jwks.keys.map((key) => key.key_ops ?? null)).toEqual([null, null, ['verify'], ['verify']]);
    for (const key of jwks.keys) expect(key).not.toHaveProperty('d');
    expect(await signer(await token('ES256'), jwks)).toBe(es1);
    expect(await signer(await token('RS256'), jwks)).toBe(rs1);
    const signedBeforeRotation = await token('ES256');

    // A rotation: the next keys sign, the old ones are still published, so what they signed verifies.
    await projected(rotateSigningKeys(t.sigid, tenantId, context()));
    const rotated = await publicJwks(t.sigid.readModels, tenantId);
    const [es3, rs3] = kidsOf(rotated).slice(2, 4);
    expect(kidsOf(rotated)).toEqual([es2, rs2, es3, rs3, es1, rs1]);
    await buildProvider();
    jwks = await published();
    expect(kidsOf(jwks)).toEqual([es2, rs2, es3, rs3, es1, rs1]);
    expect(await signer(await token('ES256'), jwks)).toBe(es2);
    expect(await signer(await token('RS256'), jwks)).toBe(rs2);
    expect(await signer(signedBeforeRotation, jwks)).toBe(es1);

    // After retire_at the old keys are published no more, and what they signed no longer verifies.
    const retireAt = Math.max(
      ...(
        await t.sigid.readModels
          .selectFrom('signing_keys')
          .select('retire_at')
          .where('tenant_id', '=', tenantId)
          .execute()
      ).map((row) => row.retire_at?.getTime() ?? 0),
    );
    await new Promise((resolve) => setTimeout(resolve, retireAt - Date.now() + 50));
    await buildProvider();
    jwks = await published();
    expect(kidsOf(jwks)).toEqual([es2, rs2, es3, rs3]);
    await expect(signer(signedBeforeRotation, jwks)).rejects.toThrow();
    expect(await signer(await token('ES256'), jwks)).toBe(es2);

    // ensureSigningKeys (the pool's call before it builds) retires them for good: private parts destroyed.
    await projected(ensureSigningKeys(t.sigid, tenantId, context()));
    const sealed = await t.sigid.readModels
      .selectFrom('sealed_secrets')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', 'signing-key')
      .execute();
    expect(sealed.map((row) => row.id).sort()).toEqual([es2, rs2, es3, rs3].sort());
    await buildProvider();
    expect(kidsOf(await published())).toEqual([es2, rs2, es3, rs3]);
  });

  it('signs with the key without key_ops whatever the order of the set; without key_ops, with the first of the algorithm', async () => {
    await projected(ensureSigningKeys(t.sigid, tenantId, context()));
    const set = await signingKeySet(t.sigid, tenantId);
    const active = set.keys.filter((key) => key.key_ops === undefined).map((key) => key.kid);
    expect(active).toHaveLength(2);
    const reversed = { keys: [...set.keys].reverse() };
    await buildProvider(reversed);
    let jwks = await published();
    expect(kidsOf(jwks)).toEqual(kidsOf(reversed));
    expect([await signer(await token('ES256'), jwks), await signer(await token('RS256'), jwks)]).toEqual(active);

    // The control: the same reversed set without key_ops signs with whichever key of the algorithm comes first.
    const bare = { keys: reversed.keys.map(({ key_ops: _ops, ...key }) => key) };
    await buildProvider(bare);
    jwks = await published();
    const firstEs = bare.keys.find((key) => key.alg === 'ES256')?.kid;
    expect(firstEs).not.toBe(active[0]);
    expect(await signer(await token('ES256'), jwks)).toBe(firstEs);
  });
});
