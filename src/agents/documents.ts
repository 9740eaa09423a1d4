import { FlattenedSign, importJWK } from 'jose';
import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import type { AgentKeyRow } from '../../read-models/agent-keys.ts';
import type { AgentRow } from '../../read-models/agents.ts';
import { useCase } from '../../services/context.ts';
import { ensureSigningKeys, signingKeySet } from '../../services/signing-keys.ts';
import { newId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';

/**
 * What SigID publishes about an agent, without auth: its did:web DID document and, when the tenant
 * opted the agent in, a signed A2A-style agent card. Agent ids are tenant-scoped, so both live below
 * the tenant's issuer: `{PUBLIC_URL}/t/{slug}/agents/{id}/did.json` is the document of
 * `did:web:{host}:t:{slug}:agents:{id}` (did:web maps `:` to `/` and a port's `:` is `%3A`).
 */

/** The did:web DID of an agent of the tenant `slug`, from SigID's public URL (its path kept). */
export function agentDid(publicUrl: string, slug: string, agentId: string): string {
  const url = new URL(publicUrl);
  const path = url.pathname.split('/').filter(Boolean).map(encodeURIComponent);
  return ['did', 'web', encodeURIComponent(url.host), ...path, 't', slug, 'agents', agentId].join(':');
}

/** Where the DID document of an agent is served. */
export function agentDidUrl(publicUrl: string, slug: string, agentId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/t/${slug}/agents/${agentId}/did.json`;
}

/** The public JWK of a registered key as a DID document lists it (`kid` and `alg` kept). */
const publicKeyJwk = (key: AgentKeyRow) => ({ ...key.jwk });

/**
 * The agent's DID document: every key not revoked is a verification method (`JsonWebKey2020`, id
 * `{did}#{kid}`); only active keys are for `authentication` and `assertionMethod` (a deprecated
 * key still verifies what it signed before, it proves nothing new). A revoked key is absent.
 */
export function didDocument(did: string, keys: readonly AgentKeyRow[]) {
  const active = keys.filter((key) => key.status === 'active').map((key) => `${did}#${key.kid}`);
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/suites/jws-2020/v1'],
    id: did,
    controller: did,
    verificationMethod: keys.map((key) => ({
      id: `${did}#${key.kid}`,
      type: 'JsonWebKey2020',
      controller: did,
      publicKeyJwk: publicKeyJwk(key),
    })),
    authentication: active,
    assertionMethod: active,
  };
}

/** JSON canonicalization (RFC 8785) of the plain data an agent card holds (strings, integers, booleans, arrays, objects). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** SigID itself, when publishing an agent card needs the tenant's first signing keys. */
const CARD_ACTOR = { type: 'system', id: 'agent-card' } as const;

/**
 * An agent's A2A-style agent card (A2A 0.3 `AgentCard`): name, description, its service URL (or its
 * DID document), the tenant issuer as the OAuth authorization server (client credentials with
 * `private_key_jwt`), its DID; signed as A2A's `signatures[]` say: a detached JWS (RFC 7515) over
 * the card's RFC 8785 canonical form without `signatures`, made with the tenant's current ES256
 * signing key (verifiable with the issuer's `jwks_uri`).
 */
export async function agentCard(
  sigid: Sigid,
  tenant: { id: string; slug: string },
  agent: AgentRow,
): Promise<Record<string, unknown>> {
  const publicUrl = sigid.config.publicUrl.replace(/\/+$/, '');
  const issuer = `${publicUrl}/t/${tenant.slug}`;
  const did = agentDid(publicUrl, tenant.slug, agent.agent_id);
  const scopes = Object.fromEntries(
    agent.allowed_scopes.flatMap((entry) => entry.scopes).map((scope) => [scope, scope]),
  );
  const card = {
    protocolVersion: '0.3.0',
    name: agent.name,
    description: agent.description,
    url: agent.agent_card.url ?? agentDidUrl(publicUrl, tenant.slug, agent.agent_id),
    version: String(agent.revision),
    capabilities: {},
    defaultInputModes: ['application/json'],
    defaultOutputModes: ['application/json'],
    skills: [],
    securitySchemes: {
      sigid: {
        type: 'oauth2',
        description: 'Tokens from the tenant issuer.',
        oauth2MetadataUrl: `${issuer}/.well-known/oauth-authorization-server`,
        flows: { clientCredentials: { tokenUrl: `${issuer}/token`, scopes } },
      },
    },
    security: [{ sigid: [] }],
    authorization_server: issuer,
    did,
    agent_id: agent.agent_id,
  };
  let set = await signingKeySet(sigid, tenant.id);
  if (set.keys.length === 0) {
    await ensureSigningKeys(
      sigid,
      tenant.id,
      useCase({ tenantId: PLATFORM_TENANT, actor: CARD_ACTOR, correlationId: newId('req') }),
    );
    set = await signingKeySet(sigid, tenant.id);
  }
  const signer = set.keys.find((key) => key.alg === 'ES256' && key.key_ops === undefined);
  if (!signer) throw new Error(`tenant ${tenant.id} has no active ES256 signing key`);
  const jws = await new FlattenedSign(new TextEncoder().encode(canonicalJson(card)))
    .setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'JOSE', jku: `${issuer}/jwks` })
    .sign(await importJWK(signer, 'ES256'));
  return { ...card, signatures: [{ protected: jws.protected, signature: jws.signature }] };
}
