import { randomUUID } from 'node:crypto';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accessTokenHash,
  challenge,
  createTokenValidator,
  MemoryReplayCache,
  protectedResourceMetadata,
  protectedResourceMetadataUrl,
  type RefusedToken,
  type TokenValidatorOptions,
} from '../src/resource-server/index.ts';

const ISSUER = 'https://id.example.test/t/acme';
const AUDIENCE = 'https://mcp.example.test/mcp';
const URL_CALLED = 'https://mcp.example.test/mcp?session=1';
const now = () => Math.floor(Date.now() / 1000);

interface Keys {
  privateKey: CryptoKey;
  publicJwk: JWK;
}
async function keyPair(kid?: string): Promise<Keys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), ...(kid ? { kid, alg: 'ES256', use: 'sig' } : {}) };
  return { privateKey, publicJwk };
}

/**
 * The issuer as the validator sees it: its metadata and JWKS, served by an in-memory fetch (the
 * validator's own fetching path runs; no network). Counts requests, so caching shows.
 */
function issuerFetch(jwks: JWK[], requests: string[] = []): typeof fetch {
  return (async (input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input);
    requests.push(url);
    if (url === `${ISSUER}/.well-known/openid-configuration`) {
      return Response.json({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` });
    }
    if (url === `${ISSUER}/jwks`) return Response.json({ keys: jwks });
    return new Response('not found', { status: 404 });
  }) as typeof fetch;
}

describe('the resource-server token validator', () => {
  let signer: Keys;
  let forger: Keys;
  let client: Keys;
  let otherClient: Keys;
  let clientJkt: string;

  beforeAll(async () => {
    signer = await keyPair('key-1');
    forger = await keyPair('key-1');
    client = await keyPair();
    otherClient = await keyPair();
    clientJkt = await calculateJwkThumbprint(client.publicJwk);
  });

  const validator = (options: Partial<TokenValidatorOptions> = {}) =>
    createTokenValidator({ issuer: ISSUER, audience: AUDIENCE, fetch: issuerFetch([signer.publicJwk]), ...options });

  async function token(claims: Record<string, unknown> = {}, options: { key?: Keys; typ?: string } = {}) {
    const { exp = now() + 300, ...rest } = claims;
    return new SignJWT({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'sub_user_1',
      subject_type: 'user',
      client_id: 'client-1',
      scope: 'projects:read tickets:create',
      jti: randomUUID(),
      ...rest,
    })
      .setProtectedHeader({ alg: 'ES256', typ: options.typ ?? 'at+jwt', kid: 'key-1' })
      .setIssuedAt()
      .setExpirationTime(exp as number)
      .sign((options.key ?? signer).privateKey);
  }

  async function proof(
    accessToken: string,
    overrides: { key?: Keys; htm?: string; htu?: string; iat?: number; jti?: string; ath?: string } = {},
  ) {
    const key = overrides.key ?? client;
    return new SignJWT({
      htm: overrides.htm ?? 'POST',
      htu: overrides.htu ?? 'https://mcp.example.test/mcp',
      jti: overrides.jti ?? randomUUID(),
      ath: overrides.ath ?? accessTokenHash(accessToken),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
      .setIssuedAt(overrides.iat ?? now())
      .sign(key.privateKey);
  }

  const bearer = (value: string) => ({ authorization: `Bearer ${value}`, method: 'POST', url: URL_CALLED });
  const dpop = (value: string, proofValue: string | undefined, method = 'POST', url = URL_CALLED) => ({
    authorization: `DPoP ${value}`,
    dpop: proofValue,
    method,
    url,
  });

  function refused(result: Awaited<ReturnType<ReturnType<typeof validator>['validate']>>): RefusedToken {
    if (result.ok) throw new Error('expected a refusal');
    return result;
  }

  it('accepts a good token: its subject, subject type, scopes and client, and no actors', async () => {
    const result = await validator().validate(bearer(await token()));
    expect(result).toMatchObject({
      ok: true,
      sub: 'sub_user_1',
      subject_type: 'user',
      scopes: ['projects:read', 'tickets:create'],
      client_id: 'client-1',
      actors: [],
      delegation_id: null,
      jkt: null,
    });
  });

  it('fetches the issuer metadata and JWKS once for many tokens', async () => {
    const requests: string[] = [];
    const v = validator({ fetch: issuerFetch([signer.publicJwk], requests) });
    for (let i = 0; i < 5; i++) expect((await v.validate(bearer(await token()))).ok).toBe(true);
    expect(requests).toEqual([`${ISSUER}/.well-known/openid-configuration`, `${ISSUER}/jwks`]);
  });

  it('answers a request without a token with a bare challenge naming the resource metadata', async () => {
    const result = refused(await validator().validate({ authorization: undefined, method: 'GET', url: URL_CALLED }));
    expect(result).toMatchObject({ status: 401, error: null, code: 'token_missing' });
    expect(result.wwwAuthenticate).toBe(
      'Bearer resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp", ' +
        'DPoP resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp", algs="ES256 ES384 ES512 EdDSA Ed25519 PS256 PS384 PS512 RS256"',
    );
  });

  it.each([
    ['a forged signature', async () => token({}, { key: forger }), 'signature_invalid'],
    ['the wrong audience', async () => token({ aud: 'https://other.example.test/api' }), 'audience_mismatch'],
    [
      'the wrong issuer (another tenant)',
      async () => token({ iss: 'https://id.example.test/t/other' }),
      'issuer_mismatch',
    ],
    ['an expired token', async () => token({ exp: now() - 60 }), 'token_expired'],
    ['an ID token (typ JWT)', async () => token({}, { typ: 'JWT' }), 'token_type_invalid'],
    ['no subject_type', async () => token({ subject_type: undefined }), 'subject_type_missing'],
    [
      'act without delegation_id',
      async () => token({ act: { sub: 'agt_1', subject_type: 'agent' } }),
      'delegation_id_missing',
    ],
    [
      'an act without sub',
      async () => token({ act: { subject_type: 'agent' }, delegation_id: 'dlg_1' }),
      'actor_invalid',
    ],
    ['not a JWT', async () => 'not-a-jwt', 'token_malformed'],
  ])('refuses %s: 401 invalid_token', async (_label, make, code) => {
    const result = refused(await validator().validate(bearer(await make())));
    expect(result).toMatchObject({ status: 401, error: 'invalid_token', code });
    expect(result.wwwAuthenticate).toMatch(
      /^Bearer resource_metadata="[^"]+", error="invalid_token", error_description="/,
    );
  });

  it('refuses a missing scope, asked by the validator or by the call', async () => {
    const v = validator({ requireScopes: ['projects:read'] });
    const value = await token({ scope: 'projects:read' });
    expect((await v.validate(bearer(value))).ok).toBe(true);
    const result = refused(await v.validate(bearer(value), { requireScopes: ['tickets:create'] }));
    expect(result).toMatchObject({ status: 403, error: 'insufficient_scope', code: 'scope_missing' });
    expect(result.wwwAuthenticate).toContain('scope="projects:read tickets:create"');
    const none = refused(await v.validate(bearer(await token({ scope: 'tickets:create' }))));
    expect(none.code).toBe('scope_missing');
  });

  it('refuses a subject type the resource does not accept (403)', async () => {
    const v = validator({ subjectTypes: ['agent'] });
    expect(refused(await v.validate(bearer(await token())))).toMatchObject({
      status: 403,
      code: 'subject_type_not_allowed',
    });
    const agent = await v.validate(bearer(await token({ sub: 'agt_1', subject_type: 'agent' })));
    expect(agent).toMatchObject({ ok: true, subject_type: 'agent', sub: 'agt_1' });
  });

  it('reads a delegated token: the actors outermost first and its delegation_id; refuses a chain too deep', async () => {
    const delegated = await token({
      act: { sub: 'agt_2', subject_type: 'agent', act: { sub: 'agt_1', subject_type: 'agent' } },
      delegation_id: 'dlg_1',
    });
    const result = await validator({ maxActorDepth: 2 }).validate(bearer(delegated));
    expect(result).toMatchObject({
      ok: true,
      sub: 'sub_user_1',
      actors: [
        { sub: 'agt_2', subject_type: 'agent' },
        { sub: 'agt_1', subject_type: 'agent' },
      ],
      delegation_id: 'dlg_1',
    });
    expect(refused(await validator().validate(bearer(delegated)))).toMatchObject({
      status: 403,
      code: 'actor_chain_too_deep',
    });
    expect(
      refused(
        await validator({ maxActorDepth: 0 }).validate(
          bearer(await token({ act: { sub: 'a' }, delegation_id: 'dlg_2' })),
        ),
      ).code,
    ).toBe('actor_chain_too_deep');
  });

  describe('DPoP-bound tokens', () => {
    const bound = () => token({ cnf: { jkt: clientJkt } });

    it('accepts a bound token with a good proof, and gives its thumbprint', async () => {
      const value = await bound();
      const result = await validator().validate(dpop(value, await proof(value)));
      expect(result).toMatchObject({ ok: true, jkt: clientJkt });
    });

    it('refuses a bound token presented as a Bearer token (its proof stolen or not)', async () => {
      const value = await bound();
      const result = refused(await validator().validate(bearer(value)));
      expect(result).toMatchObject({ status: 401, code: 'dpop_bound_token_as_bearer' });
      expect(result.wwwAuthenticate).toMatch(/^DPoP /);
    });

    it('refuses a bound token without a proof', async () => {
      const value = await bound();
      expect(refused(await validator().validate(dpop(value, undefined)))).toMatchObject({
        status: 401,
        error: 'invalid_dpop_proof',
        code: 'dpop_proof_missing',
      });
    });

    it('refuses a proof by another key', async () => {
      const value = await bound();
      expect(refused(await validator().validate(dpop(value, await proof(value, { key: otherClient }))))).toMatchObject({
        error: 'invalid_dpop_proof',
        code: 'dpop_key_mismatch',
      });
    });

    it('refuses a proof used twice (replayed jti)', async () => {
      const v = validator();
      const value = await bound();
      const once = await proof(value);
      expect((await v.validate(dpop(value, once))).ok).toBe(true);
      expect(refused(await v.validate(dpop(value, once)))).toMatchObject({ code: 'dpop_replayed' });
    });

    it('refuses a proof for another method or URL; ignores the query', async () => {
      const value = await bound();
      expect(refused(await validator().validate(dpop(value, await proof(value), 'GET')))).toMatchObject({
        code: 'dpop_htm_mismatch',
      });
      expect(
        refused(await validator().validate(dpop(value, await proof(value, { htu: 'https://mcp.example.test/other' })))),
      ).toMatchObject({ code: 'dpop_htu_mismatch' });
      // Normalised: an explicit default port, upper-case host, a query on the proof's htu.
      const same = await proof(value, { htu: 'https://MCP.example.test:443/mcp?x=1' });
      expect((await validator().validate(dpop(value, same))).ok).toBe(true);
    });

    it('refuses a proof for another token (ath), and one too old or from the future', async () => {
      const value = await bound();
      expect(refused(await validator().validate(dpop(value, await proof(value, { ath: 'x' }))))).toMatchObject({
        code: 'dpop_ath_mismatch',
      });
      expect(refused(await validator().validate(dpop(value, await proof(value, { iat: now() - 600 }))))).toMatchObject({
        code: 'dpop_iat_out_of_window',
      });
      expect(refused(await validator().validate(dpop(value, await proof(value, { iat: now() + 600 }))))).toMatchObject({
        code: 'dpop_iat_out_of_window',
      });
    });

    it('refuses a proof that is not one JWS (two headers), or signed by other than its jwk', async () => {
      const value = await bound();
      const good = await proof(value);
      expect(refused(await validator().validate(dpop(value, `${good}, ${good}`)))).toMatchObject({
        code: 'dpop_proof_invalid',
      });
      const [head, body] = good.split('.');
      const other = (await proof(value, { key: otherClient })).split('.')[2];
      expect(refused(await validator().validate(dpop(value, `${head}.${body}.${other}`)))).toMatchObject({
        code: 'dpop_proof_invalid',
      });
    });

    it('refuses an unbound token under the DPoP scheme, and any unbound token when DPoP is required', async () => {
      const value = await token();
      expect(refused(await validator().validate(dpop(value, await proof(value))))).toMatchObject({
        code: 'token_not_dpop_bound',
      });
      const strict = validator({ requireDpop: true });
      const result = refused(await strict.validate(bearer(value)));
      expect(result).toMatchObject({ code: 'dpop_required' });
      expect(result.wwwAuthenticate).not.toContain('Bearer');
    });
  });

  it('answers 503 when the issuer cannot be read, and reads it again on the next request', async () => {
    let up = false;
    const flaky = (async (input: string | URL | Request) => {
      if (!up) throw new TypeError('fetch failed');
      return issuerFetch([signer.publicJwk])(input);
    }) as typeof fetch;
    const v = validator({ fetch: flaky });
    const value = await token();
    expect(refused(await v.validate(bearer(value)))).toMatchObject({ status: 503, code: 'issuer_unavailable' });
    up = true;
    expect((await v.validate(bearer(value))).ok).toBe(true);
  });

  it('remembers a proof only within its window, and stays bounded', () => {
    const cache = new MemoryReplayCache(3);
    const t0 = 1_000_000;
    expect(cache.firstUse('a', t0 + 100, t0)).toBe(true);
    expect(cache.firstUse('a', t0 + 100, t0 + 50)).toBe(false);
    expect(cache.firstUse('a', t0 + 300, t0 + 150)).toBe(true);
    for (const key of ['b', 'c', 'd', 'e']) cache.firstUse(key, t0 + 1000, t0 + 200);
    expect(cache.size).toBe(3);
  });

  it('makes RFC 9728 metadata, its well-known URL and challenges', () => {
    expect(protectedResourceMetadataUrl('https://mcp.example.test/mcp')).toBe(
      'https://mcp.example.test/.well-known/oauth-protected-resource/mcp',
    );
    expect(protectedResourceMetadataUrl('https://api.example.test')).toBe(
      'https://api.example.test/.well-known/oauth-protected-resource',
    );
    expect(
      protectedResourceMetadata({
        resource: AUDIENCE,
        authorizationServers: [ISSUER],
        scopesSupported: ['projects:read'],
        dpopAlgorithms: ['ES256'],
      }),
    ).toEqual({
      resource: AUDIENCE,
      authorization_servers: [ISSUER],
      scopes_supported: ['projects:read'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256'],
    });
    expect(challenge('Bearer', { resourceMetadata: 'https://x/y', error: 'invalid_token', description: 'a "b"' })).toBe(
      'Bearer resource_metadata="https://x/y", error="invalid_token", error_description="a \\"b\\""',
    );
  });
});
