import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, exportJWK, type GenerateKeyPairResult, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DidWebOptions, didWebUrl, verifyDidWeb } from '../src/agents/anchors/index.ts';
import { parseAllowlist, type Resolver } from '../src/webhooks/ssrf.ts';
import { multikeyOf } from './support/multikey.ts';

/**
 * did:web against a real HTTP server on 127.0.0.1. Names under .test stand for a customer's DNS
 * (which we cannot run): `agent.test` is allowlisted and served plainly, as in development.
 */

const challenge = 'sigid-anchor-challenge:agt_01J0:anc_01J0:2026-12-03T08:00:00Z:nonce-7f3a';

type Answer = { status?: number; body?: string; headers?: Record<string, string>; hang?: boolean };
const routes = new Map<string, Answer>();
let server: Server;
let port: number;
let did: string;
let options: DidWebOptions;

const resolve: Resolver = async (host) => {
  const records: Record<string, string[]> = {
    'agent.test': ['127.0.0.1'],
    'public.test': ['93.184.216.34'],
    'internal.test': ['10.0.0.7'],
    'loopback.test': ['127.0.0.1'],
  };
  const addresses = records[host];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return addresses;
};

type Key = { privateKey: GenerateKeyPairResult['privateKey']; jwk: JWK };
let edKey: Key;
let p256Key: Key;
let strayKey: Key;

async function keyOf(alg: 'EdDSA' | 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  return { privateKey, jwk: await exportJWK(publicKey) };
}

const sign = (key: Key, alg: string, kid: string | undefined, payload = challenge) =>
  new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg, ...(kid === undefined ? {} : { kid }) })
    .sign(key.privateKey);

function documentFor(id: string, extra: Record<string, unknown> = {}) {
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id,
    verificationMethod: [
      { id: `${id}#key-ed`, type: 'JsonWebKey2020', controller: id, publicKeyJwk: edKey.jwk },
      { id: '#key-p256', type: 'Multikey', controller: id, publicKeyMultibase: multikeyOf(p256Key.jwk) },
      { id: `${id}#key-unlisted`, type: 'JsonWebKey2020', controller: id, publicKeyJwk: strayKey.jwk },
    ],
    authentication: [`${id}#key-ed`],
    assertionMethod: ['#key-p256'],
    ...extra,
  };
}

function serve(path: string, answer: Answer | object) {
  routes.set(
    path,
    'status' in answer || 'body' in answer || 'hang' in answer ? (answer as Answer) : { body: JSON.stringify(answer) },
  );
}

beforeAll(async () => {
  [edKey, p256Key, strayKey] = await Promise.all([keyOf('EdDSA'), keyOf('ES256'), keyOf('EdDSA')]);
  server = createServer((request, response) => {
    const answer = routes.get(request.url ?? '');
    if (!answer) return void response.writeHead(404).end('not found');
    if (answer.hang) return;
    response.writeHead(answer.status ?? 200, { 'content-type': 'application/did+json', ...answer.headers });
    response.end(answer.body ?? '');
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  port = (server.address() as AddressInfo).port;
  did = `did:web:agent.test%3A${port}`;
  options = { allowlist: parseAllowlist('agent.test'), resolve, plainHttpForAllowlisted: true, timeoutMs: 1000 };
  serve('/.well-known/did.json', documentFor(did));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
});

describe('did:web: the DID names where its document lives', () => {
  it.each([
    ['did:web:example.com', 'https://example.com/.well-known/did.json'],
    ['did:web:w3c-ccg.github.io:user:alice', 'https://w3c-ccg.github.io/user/alice/did.json'],
    ['did:web:example.com%3A3000', 'https://example.com:3000/.well-known/did.json'],
    ['did:web:example.com%3A3000:agents:a%20b', 'https://example.com:3000/agents/a%20b/did.json'],
    ['did:web:Example.COM', 'https://example.com/.well-known/did.json'],
  ])('%s → %s', (input, url) => {
    expect(didWebUrl(input)).toMatchObject({ ok: true, value: { url } });
  });

  it.each([
    ['did:key:z6Mk'],
    ['did:web:'],
    ['did:web:127.0.0.1'],
    ['did:web:exa_mple.com'],
    ['did:web:example..com'],
    ['did:web:example.com:'],
    ['did:web:example.com:%2e%2e'],
    ['did:web:example.com:a%2Fb'],
    ['did:web:example.com%2Fevil'],
    ['did:web:example.com%40attacker.test'],
    ['did:web:example.com%3A99999'],
    ['did:web:example.com#key-1'],
    ['did:web:example.com/path'],
    ['did:web:example.com:%zz'],
  ])('refuses %s as malformed_did', (input) => {
    expect(didWebUrl(input)).toMatchObject({ ok: false, code: 'malformed_did' });
  });
});

describe('did:web: challenge-response against the fetched DID document', () => {
  it('accepts a JWS by a JsonWebKey2020 key referenced from authentication, and hashes the document', async () => {
    const result = await verifyDidWeb(did, challenge, await sign(edKey, 'EdDSA', `${did}#key-ed`), options);
    const served = routes.get('/.well-known/did.json')?.body as string;
    expect(result).toEqual({
      ok: true,
      value: {
        did,
        documentUrl: `http://agent.test:${port}/.well-known/did.json`,
        documentSha256: createHash('sha256').update(served).digest('hex'),
        keyId: `${did}#key-ed`,
        alg: 'EdDSA',
        publicJwk: { kty: 'OKP', crv: 'Ed25519', x: edKey.jwk.x },
      },
    });
  });

  it('accepts a P-256 Multikey named by a relative kid from assertionMethod, at a path DID', async () => {
    const pathDid = `${did}:agents:agt_1`;
    serve('/agents/agt_1/did.json', documentFor(pathDid));
    const result = await verifyDidWeb(pathDid, challenge, await sign(p256Key, 'ES256', '#key-p256'), options);
    expect(result).toMatchObject({ ok: true, value: { keyId: `${pathDid}#key-p256`, alg: 'ES256' } });
  });

  it('accepts an embedded authentication method (Ed25519VerificationKey2020)', async () => {
    const embeddedDid = `${did}:embedded`;
    serve(
      '/embedded/did.json',
      documentFor(embeddedDid, {
        authentication: [{ id: '#emb', type: 'Ed25519VerificationKey2020', publicKeyMultibase: multikeyOf(edKey.jwk) }],
      }),
    );
    expect(
      await verifyDidWeb(embeddedDid, challenge, await sign(edKey, 'EdDSA', `${embeddedDid}#emb`), options),
    ).toMatchObject({
      ok: true,
    });
  });

  it('refuses a payload that is not the challenge, and a signature by another key', async () => {
    expect(
      await verifyDidWeb(did, challenge, await sign(edKey, 'EdDSA', `${did}#key-ed`, 'other'), options),
    ).toMatchObject({
      ok: false,
      code: 'challenge_mismatch',
    });
    expect(await verifyDidWeb(did, challenge, await sign(strayKey, 'EdDSA', `${did}#key-ed`), options)).toMatchObject({
      ok: false,
      code: 'bad_signature',
    });
    expect(await verifyDidWeb(did, challenge, await sign(p256Key, 'ES256', `${did}#key-ed`), options)).toMatchObject({
      ok: false,
      code: 'unsupported_algorithm',
    });
  });

  it('refuses a kid that is missing, unknown, or a method not authorised for authentication', async () => {
    for (const kid of [undefined, '#nope', `${did}#key-unlisted`, 'did:web:other.test#key-ed']) {
      expect(await verifyDidWeb(did, challenge, await sign(strayKey, 'EdDSA', kid), options)).toMatchObject({
        ok: false,
        code: 'verification_method_not_found',
      });
    }
  });

  it('refuses a document that is not JSON, not a DID document, for another DID, or too large', async () => {
    const cases: Array<[string, Answer | object]> = [
      ['notjson', { body: '<html>hello</html>' }],
      ['notdoc', { body: '[1,2,3]' }],
      ['otherid', documentFor('did:web:attacker.test')],
      ['huge', { body: JSON.stringify({ ...documentFor('x'), padding: 'x'.repeat(70 * 1024) }) }],
      ['huge-declared', { body: '{}', headers: { 'content-length': String(1 << 20) } }],
    ];
    for (const [name, answer] of cases) {
      const caseDid = `${did}:${name}`;
      serve(`/${name}/did.json`, answer);
      const result = await verifyDidWeb(caseDid, challenge, await sign(edKey, 'EdDSA', `${caseDid}#key-ed`), options);
      expect(result, name).toMatchObject({ ok: false, code: 'did_document_invalid' });
    }
  });

  it('refuses private key material and key types SigID does not verify', async () => {
    const extractable = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const privateJwk = await exportJWK(extractable.privateKey);
    const rsa = await generateKeyPair('RS256');
    const cases: Array<[string, object, string]> = [
      ['private', { id: '#k', type: 'JsonWebKey2020', publicKeyJwk: privateJwk }, 'did_document_invalid'],
      [
        'rsa',
        { id: '#k', type: 'JsonWebKey2020', publicKeyJwk: await exportJWK(rsa.publicKey) },
        'unsupported_key_type',
      ],
      ['base58', { id: '#k', type: 'Ed25519VerificationKey2018', publicKeyBase58: 'abc' }, 'unsupported_key_type'],
      [
        'x25519',
        { id: '#k', type: 'Multikey', publicKeyMultibase: 'z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc' },
        'unsupported_key_type',
      ],
    ];
    for (const [name, method, code] of cases) {
      const caseDid = `${did}:${name}`;
      serve(`/${name}/did.json`, documentFor(caseDid, { verificationMethod: [method], authentication: ['#k'] }));
      const result = await verifyDidWeb(caseDid, challenge, await sign(edKey, 'EdDSA', '#k'), options);
      expect(result, name).toMatchObject({ ok: false, code });
      if (!result.ok) expect(result.message).not.toContain(privateJwk.d);
    }
  });

  it('refuses with did_document_unreachable on a 404, a 500, a server that never answers, and an unknown host', async () => {
    serve('/error/did.json', { status: 500, body: 'oops' });
    serve('/hang/did.json', { hang: true });
    for (const caseDid of [`${did}:missing`, `${did}:error`, `${did}:hang`, 'did:web:nowhere.test']) {
      const started = Date.now();
      const result = await verifyDidWeb(caseDid, challenge, await sign(edKey, 'EdDSA', '#key-ed'), options);
      expect(result, caseDid).toMatchObject({ ok: false, code: 'did_document_unreachable' });
      expect(Date.now() - started).toBeLessThan(2500);
    }
  });

  it('refuses private addresses and plain http outside the allowlist, also behind a redirect', async () => {
    const proof = await sign(edKey, 'EdDSA', '#key-ed');
    // Not allowlisted: https to a loopback or private address is refused before connecting.
    for (const host of ['loopback.test', 'internal.test']) {
      const result = await verifyDidWeb(`did:web:${host}%3A${port}`, challenge, proof, options);
      expect(result).toMatchObject({ ok: false, code: 'forbidden_address' });
      if (!result.ok) expect(result.message).toMatch(/SigID does not fetch from there\.$/);
    }
    // Allowlisted but without the development allowance: did:web is https, and this server speaks http.
    expect(await verifyDidWeb(did, challenge, proof, { ...options, plainHttpForAllowlisted: false })).toMatchObject({
      ok: false,
      code: 'did_document_unreachable',
    });
    serve('/to-internal/did.json', {
      status: 302,
      headers: { location: `https://internal.test:${port}/.well-known/did.json` },
    });
    expect(await verifyDidWeb(`${did}:to-internal`, challenge, proof, options)).toMatchObject({
      ok: false,
      code: 'forbidden_address',
    });
    serve('/to-http/did.json', { status: 301, headers: { location: 'http://public.test/.well-known/did.json' } });
    expect(await verifyDidWeb(`${did}:to-http`, challenge, proof, options)).toMatchObject({
      ok: false,
      code: 'https_required',
    });
    // A redirect that stays on allowed ground is followed (the document must still be for the DID).
    const movedDid = `${did}:moved`;
    serve('/moved/did.json', { status: 307, headers: { location: '/moved/v2/did.json' } });
    serve('/moved/v2/did.json', documentFor(movedDid));
    expect(await verifyDidWeb(movedDid, challenge, await sign(edKey, 'EdDSA', '#key-ed'), options)).toMatchObject({
      ok: true,
      value: { documentUrl: `http://agent.test:${port}/moved/v2/did.json` },
    });
    serve('/bad-location/did.json', { status: 302, headers: { location: 'http://[::1' } });
    expect(await verifyDidWeb(`${did}:bad-location`, challenge, proof, options)).toMatchObject({
      ok: false,
      code: 'did_document_unreachable',
    });
    serve('/loop/did.json', { status: 302, headers: { location: '/loop/did.json' } });
    expect(await verifyDidWeb(`${did}:loop`, challenge, proof, options)).toMatchObject({
      ok: false,
      code: 'did_document_unreachable',
    });
  });

  it('refuses a malformed proof before fetching anything', async () => {
    const before = routes.size;
    expect(await verifyDidWeb(did, challenge, 'not-a-jws', options)).toMatchObject({
      ok: false,
      code: 'malformed_proof',
    });
    expect(routes.size).toBe(before);
  });
});
