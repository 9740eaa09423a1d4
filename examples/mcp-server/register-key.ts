/**
 * Gives an agent a key and an identity anchor (docs/agents.md walkthrough): makes a P-256 key pair,
 * asks SigID for a challenge, signs it, registers the public key (proof of possession), then anchors
 * the agent by the same key's did:key (`did:key:zDn…`) and passes the anchor's challenge-response, and
 * keeps the private JWK in `AGENT_KEY` (0600). An agent gets no token before an anchor is verified.
 *
 *   SIGID_URL=http://localhost:3000 KEY=sigid_sk_… AGENT=agt_… node examples/mcp-server/register-key.ts
 */
import { writeFileSync } from 'node:fs';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { didKeyOf } from '../../test/support/multikey.ts';

const { SIGID_URL = 'http://localhost:3000', KEY, AGENT, AGENT_KEY = 'agent-key.json' } = process.env;
if (!KEY || !AGENT) throw new Error('KEY (a tenant admin key) and AGENT are required');

const admin = async (path: string, body: unknown) => {
  const answer = await fetch(`${SIGID_URL}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await answer.json()) as Record<string, unknown>;
  if (!answer.ok) throw new Error(`${path}: ${answer.status} ${JSON.stringify(json)}`);
  return json;
};

const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
const { nonce } = (await admin(`/api/v1/agents/${AGENT}/challenges`, {})) as { nonce: string };
const proof = await new CompactSign(new TextEncoder().encode(nonce))
  .setProtectedHeader({ alg: 'ES256' })
  .sign(privateKey);
const registered = await admin(`/api/v1/agents/${AGENT}/keys`, {
  jwk: await exportJWK(publicKey),
  challenge: nonce,
  proof,
});
const sign = (message: string) =>
  new CompactSign(new TextEncoder().encode(message)).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
const did = didKeyOf(await exportJWK(publicKey));
const anchor = await admin(`/api/v1/agents/${AGENT}/anchors`, { kind: 'did_key', did });
const challenge = (await admin(`/api/v1/agents/${AGENT}/anchors/${anchor.id}/challenges`, {})) as { nonce: string };
const verifyAnswer = await fetch(`${SIGID_URL}/api/v1/agents/${AGENT}/anchors/${anchor.id}/verify`, {
  method: 'POST',
  headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
  body: JSON.stringify({ challenge: challenge.nonce, proof: await sign(challenge.nonce) }),
});
const verified = (await verifyAnswer.json()) as Record<string, unknown>;
if (!verifyAnswer.ok) throw new Error(`anchor verify: ${verifyAnswer.status} ${JSON.stringify(verified)}`);
console.log(`anchor ${anchor.id} (${did}) ${verified.status}`);
writeFileSync(AGENT_KEY, JSON.stringify(await exportJWK(privateKey)), { mode: 0o600 });
console.log(`registered key ${registered.kid}; private key in ${AGENT_KEY}`);
