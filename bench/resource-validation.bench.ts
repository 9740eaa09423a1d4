/**
 * Resource-server validation of a DPoP-bound access token: `createTokenValidator` (src/resource-server/)
 * against bare jose on the same inputs — `jwtVerify` of the token, then `jwtVerify` of the DPoP proof with
 * its embedded key, the `htm`/`htu`/`ath` checks, the key thumbprint against `cnf.jkt` and a jti set —
 * alternating, median of BENCH_RUNS (≥ 5) runs. One token (a client reuses it), a fresh proof per
 * request (made before each run, untimed), the issuer's keys local to both (no network). Target ≥ 0.8×.
 *
 * Scale: BENCH_VALIDATIONS (validations per run), BENCH_RUNS.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  EmbeddedJWK,
  exportJWK,
  generateKeyPair,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { createTokenValidator } from '../src/resource-server/index.ts';
import { alternate, describeMachine, envInt, main, reportMedians, reportRatio, type Sample } from './support.ts';

const VALIDATIONS = envInt('BENCH_VALIDATIONS', 5_000);
const ISSUER = 'https://id.example.test/t/acme';
const AUDIENCE = 'https://mcp.example.test/mcp';
const URL_CALLED = 'https://mcp.example.test/mcp';

main(async () => {
  console.log(`Resource-server validation of a DPoP-bound JWT: ${VALIDATIONS} per run; ${describeMachine()}`);
  const issuerKeys = await generateKeyPair('ES256', { extractable: true });
  const issuerJwk = { ...(await exportJWK(issuerKeys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const keys = createLocalJWKSet({ keys: [issuerJwk] });
  const client = await generateKeyPair('ES256', { extractable: true });
  const clientJwk: JWK = await exportJWK(client.publicKey);
  const jkt = await calculateJwkThumbprint(clientJwk);
  const token = await new SignJWT({
    sub: 'sub_1',
    subject_type: 'user',
    client_id: 'client-1',
    scope: 'projects:read',
    cnf: { jkt },
    jti: randomUUID(),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(issuerKeys.privateKey);
  const ath = createHash('sha256').update(token).digest('base64url');
  const makeProofs = () =>
    Promise.all(
      Array.from({ length: VALIDATIONS }, () =>
        new SignJWT({ htm: 'POST', htu: URL_CALLED, jti: randomUUID(), ath })
          .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: clientJwk })
          .setIssuedAt()
          .sign(client.privateKey),
      ),
    );

  const validator = createTokenValidator({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys,
    requireScopes: ['projects:read'],
  });
  let moduleProofs: string[] = [];
  let bareProofs: string[] = [];

  async function timed(work: (index: number) => Promise<void>): Promise<Sample> {
    const started = performance.now();
    for (let index = 0; index < VALIDATIONS; index++) await work(index);
    return { rate: VALIDATIONS / ((performance.now() - started) / 1000) };
  }

  const samples = await alternate('dpop validation', [
    {
      name: 'createTokenValidator',
      before: async () => {
        moduleProofs = await makeProofs();
      },
      run: () =>
        timed(async (index) => {
          const result = await validator.validate({
            authorization: `DPoP ${token}`,
            dpop: moduleProofs[index],
            method: 'POST',
            url: URL_CALLED,
          });
          if (!result.ok) throw new Error(`refused: ${result.code}`);
        }),
    },
    {
      name: 'bare jose',
      before: async () => {
        bareProofs = await makeProofs();
      },
      run: () => {
        const seen = new Set<string>();
        return timed(async (index) => {
          const { payload } = await jwtVerify(token, keys, {
            issuer: ISSUER,
            audience: AUDIENCE,
            typ: 'at+jwt',
            algorithms: ['ES256'],
          });
          const proof = bareProofs[index] as string;
          const verified = await jwtVerify(proof, EmbeddedJWK, {
            typ: 'dpop+jwt',
            algorithms: ['ES256'],
            maxTokenAge: 60,
          });
          const claims = verified.payload as Record<string, unknown>;
          if (claims.htm !== 'POST' || claims.htu !== URL_CALLED) throw new Error('htm/htu');
          if (claims.ath !== createHash('sha256').update(token).digest('base64url')) throw new Error('ath');
          const thumbprint = await calculateJwkThumbprint(verified.protectedHeader.jwk as JWK);
          if (thumbprint !== (payload.cnf as { jkt: string }).jkt) throw new Error('jkt');
          if (seen.has(String(claims.jti))) throw new Error('replay');
          seen.add(String(claims.jti));
        });
      },
    },
  ]);
  reportMedians('validations/s', samples);
  reportRatio({
    label: 'DPoP-bound token validation',
    samples,
    subject: 'createTokenValidator',
    baseline: 'bare jose',
    target: 0.8,
  });
});
