import { describe, it } from 'vitest';
import { agentDecider, MAX_AGENT_KEYS } from '../commands/agent.ts';
import type { AgentEvent, AgentPublicJwk, AgentSettings, AnchorDescription } from '../events/agent.ts';
import { specFor } from './support/given-when-then.ts';

const agent = specFor(agentDecider);

const settings: AgentSettings = {
  name: 'Invoice bot',
  description: '',
  owner: { type: 'organization', id: 'org_1' },
  allowed_scopes: [{ api_id: 'api_1', scopes: ['invoices:read', 'invoices:write'] }],
  delegation: { scopes: ['invoices:read'], max_lifetime_seconds: 300, audiences: [], max_chain_depth: 1 },
  agent_card: { enabled: false, url: null },
};
const created = { type: 'agent.created', data: { agent_id: 'agt_1', ...settings } } satisfies AgentEvent;
const create = { type: 'create_agent' as const, agent_id: 'agt_1', settings };
const jwk = (kid: string): AgentPublicJwk => ({
  kty: 'OKP',
  crv: 'Ed25519',
  x: `x-${kid}`,
  kid,
  alg: 'Ed25519',
  use: 'sig',
});
const registered = (kid: string) =>
  ({
    type: 'agent.key.registered',
    data: { agent_id: 'agt_1', kid, jwk: jwk(kid), challenge_id: `chl_${kid}` },
  }) satisfies AgentEvent;
const revoked = (kid: string, reason: 'revoked' | 'agent_deleted' = 'revoked') =>
  ({ type: 'agent.key.revoked', data: { agent_id: 'agt_1', kid, reason } }) satisfies AgentEvent;
const suspended = { type: 'agent.suspended', data: { agent_id: 'agt_1', reason: 'incident' } } satisfies AgentEvent;
const deleted = { type: 'agent.deleted', data: { agent_id: 'agt_1', name: 'Invoice bot' } } satisfies AgentEvent;

describe('agent decider', () => {
  it('creates an agent once, its allowed scopes one entry per API without duplicates; a retry decides nothing', () => {
    agent([])
      .when({
        ...create,
        settings: {
          ...settings,
          allowed_scopes: [
            { api_id: 'api_1', scopes: ['invoices:read'] },
            { api_id: 'api_1', scopes: ['invoices:write', 'invoices:read'] },
          ],
        },
      })
      .thenEmits([created]);
    agent([created]).when(create).thenEmits([]);
    agent([created])
      .when({ ...create, agent_id: 'agt_2' })
      .thenThrows('agent_exists');
    // A deleted agent's id is never used again.
    agent([created, deleted]).when(create).thenThrows('agent_exists');
  });

  it('refuses delegation limits beyond the allowed scopes, at creation and when the scopes shrink', () => {
    agent([])
      .when({ ...create, settings: { ...settings, delegation: { ...settings.delegation, scopes: ['payroll:run'] } } })
      .thenThrows('invalid_request');
    agent([created])
      .when({ type: 'update_agent', changes: { allowed_scopes: [{ api_id: 'api_1', scopes: ['invoices:write'] }] } })
      .thenThrows('invalid_request');
  });

  it('records only what an update changes, with the previous values', () => {
    agent([created])
      .when({ type: 'update_agent', changes: { name: 'Invoice bot', description: 'Files invoices' } })
      .thenEmits([
        {
          type: 'agent.updated',
          data: { agent_id: 'agt_1', changes: { description: 'Files invoices' }, previous: { description: '' } },
        },
      ]);
    agent([created])
      .when({ type: 'update_agent', changes: { name: 'Invoice bot' } })
      .thenEmits([]);
  });

  it('suspends and reactivates, each once; suspending with revoke_keys revokes every live key in the same append', () => {
    agent([created]).when({ type: 'suspend_agent', reason: 'incident', revoke_keys: false }).thenEmits([suspended]);
    agent([created, suspended]).when({ type: 'suspend_agent', reason: 'again', revoke_keys: false }).thenEmits([]);
    agent([created, registered('k1'), registered('k2'), revoked('k2')])
      .when({ type: 'suspend_agent', reason: 'incident', revoke_keys: true })
      .thenEmits([suspended, revoked('k1')]);
    // Deprecating instead: only the active keys, in the same append; revoke_keys wins over it.
    const deprecated = (kid: string) => ({ type: 'agent.key.deprecated' as const, data: { agent_id: 'agt_1', kid } });
    agent([created, registered('k1'), registered('k2'), deprecated('k2'), registered('k3'), revoked('k3')])
      .when({ type: 'suspend_agent', reason: 'incident', revoke_keys: false, deprecate_keys: true })
      .thenEmits([suspended, deprecated('k1')]);
    agent([created, registered('k1')])
      .when({ type: 'suspend_agent', reason: 'incident', revoke_keys: true, deprecate_keys: true })
      .thenEmits([suspended, revoked('k1')]);
    agent([created, suspended])
      .when({ type: 'reactivate_agent' })
      .thenEmits([{ type: 'agent.reactivated', data: { agent_id: 'agt_1' } }]);
    agent([created]).when({ type: 'reactivate_agent' }).thenEmits([]);
  });

  it('deletes an agent with every key not yet revoked revoked first; nothing after', () => {
    agent([created, registered('k1'), registered('k2'), revoked('k2')])
      .when({ type: 'delete_agent' })
      .thenEmits([revoked('k1', 'agent_deleted'), deleted]);
    agent([created, deleted]).when({ type: 'delete_agent' }).thenThrows('not_found');
    agent([created, deleted])
      .when({ type: 'register_key', jwk: jwk('k3'), challenge_id: 'chl_3' })
      .thenThrows('not_found');
    agent([]).when({ type: 'suspend_agent', reason: '', revoke_keys: false }).thenThrows('not_found');
  });

  it('registers a key once, never a revoked one again, and at most MAX_AGENT_KEYS live ones', () => {
    agent([created])
      .when({ type: 'register_key', jwk: jwk('k1'), challenge_id: 'chl_k1' })
      .thenEmits([registered('k1')]);
    agent([created, registered('k1')])
      .when({ type: 'register_key', jwk: jwk('k1'), challenge_id: 'chl_x' })
      .thenEmits([]);
    agent([created, registered('k1'), revoked('k1')])
      .when({ type: 'register_key', jwk: jwk('k1'), challenge_id: 'chl_y' })
      .thenThrows('agent_key_revoked');
    const full = Array.from({ length: MAX_AGENT_KEYS }, (_, index) => registered(`k${index}`));
    agent([created, ...full])
      .when({ type: 'register_key', jwk: jwk('one-more'), challenge_id: 'c' })
      .thenThrows('agent_key_limit');
    // A revoked key frees its place.
    agent([created, ...full, revoked('k0')])
      .when({ type: 'register_key', jwk: jwk('one-more'), challenge_id: 'c' })
      .thenEmits([{ ...registered('one-more'), data: { ...registered('one-more').data, challenge_id: 'c' } }]);
  });

  it('deprecates and revokes keys independently, each once; an unknown key is 404', () => {
    const deprecated = { type: 'agent.key.deprecated', data: { agent_id: 'agt_1', kid: 'k1' } } satisfies AgentEvent;
    agent([created, registered('k1'), registered('k2')])
      .when({ type: 'deprecate_key', kid: 'k1' })
      .thenEmits([deprecated]);
    agent([created, registered('k1'), deprecated])
      .when({ type: 'deprecate_key', kid: 'k1' })
      .thenEmits([]);
    agent([created, registered('k1'), deprecated])
      .when({ type: 'revoke_key', kid: 'k1' })
      .thenEmits([revoked('k1')]);
    agent([created, registered('k1'), revoked('k1')])
      .when({ type: 'revoke_key', kid: 'k1' })
      .thenEmits([]);
    agent([created, registered('k1'), revoked('k1')])
      .when({ type: 'deprecate_key', kid: 'k1' })
      .thenThrows('agent_key_revoked');
    agent([created]).when({ type: 'revoke_key', kid: 'nope' }).thenThrows('not_found');
  });
});

describe('agent decider: anchors', () => {
  const didAnchor = { kind: 'did_key' as const, did: 'did:key:z6Mk1' };
  const added = (
    anchor_id: string,
    anchor: AnchorDescription = didAnchor,
    value = anchor.kind === 'client_credentials' ? `kid:${anchor.kid}` : 'did:key:z6Mk1',
  ) => ({ type: 'agent.anchor.added', data: { agent_id: 'agt_1', anchor_id, anchor, value } }) satisfies AgentEvent;
  const ccAnchor = { kind: 'client_credentials' as const, kid: 'k1' };
  const anchorRevoked = (anchor_id: string, reason: 'revoked' | 'agent_suspended' | 'agent_deleted' | 'key_revoked') =>
    ({ type: 'agent.anchor.revoked', data: { agent_id: 'agt_1', anchor_id, reason } }) satisfies AgentEvent;
  const evidence = { kind: 'did_key' as const, key_id: 'did:key:z6Mk1#z6Mk1', alg: 'EdDSA' };

  it('adds an anchor once; the same identity again on the agent is refused until revoked', () => {
    agent([created])
      .when({ type: 'add_anchor', anchor_id: 'anc_1', anchor: didAnchor, value: 'did:key:z6Mk1' })
      .thenEmits([added('anc_1')]);
    agent([created, added('anc_1')])
      .when({ type: 'add_anchor', anchor_id: 'anc_1', anchor: didAnchor, value: 'did:key:z6Mk1' })
      .thenEmits([]);
    agent([created, added('anc_1')])
      .when({ type: 'add_anchor', anchor_id: 'anc_2', anchor: didAnchor, value: 'did:key:z6Mk1' })
      .thenThrows('anchor_taken');
    agent([created, added('anc_1'), anchorRevoked('anc_1', 'revoked')])
      .when({ type: 'add_anchor', anchor_id: 'anc_2', anchor: didAnchor, value: 'did:key:z6Mk1' })
      .thenEmits([added('anc_2')]);
  });

  it('takes a client_credentials anchor only on a key the agent holds', () => {
    agent([created])
      .when({ type: 'add_anchor', anchor_id: 'anc_1', anchor: ccAnchor, value: 'kid:k1' })
      .thenThrows('invalid_request');
    agent([created, registered('k1'), revoked('k1')])
      .when({ type: 'add_anchor', anchor_id: 'anc_1', anchor: ccAnchor, value: 'kid:k1' })
      .thenThrows('invalid_request');
    agent([created, registered('k1')])
      .when({ type: 'add_anchor', anchor_id: 'anc_1', anchor: ccAnchor, value: 'kid:k1' })
      .thenEmits([added('anc_1', ccAnchor)]);
  });

  it('records a verification; a revoked anchor verifies nothing', () => {
    const verified = {
      type: 'agent.anchor.verified',
      data: { agent_id: 'agt_1', anchor_id: 'anc_1', kind: 'did_key', challenge_id: 'chl_1', evidence },
    } satisfies AgentEvent;
    agent([created, added('anc_1')])
      .when({ type: 'verify_anchor', anchor_id: 'anc_1', challenge_id: 'chl_1', evidence })
      .thenEmits([verified]);
    agent([created, added('anc_1'), anchorRevoked('anc_1', 'revoked')])
      .when({ type: 'verify_anchor', anchor_id: 'anc_1', challenge_id: 'chl_1', evidence })
      .thenThrows('agent_anchor_revoked');
    agent([created]).when({ type: 'revoke_anchor', anchor_id: 'anc_9' }).thenThrows('not_found');
  });

  it('revokes anchors with the key they were made with, on suspension with revoke_anchors, and on deletion', () => {
    const withAnchors = [created, registered('k1'), added('anc_1'), added('anc_2', ccAnchor)];
    // Revoking a key revokes its client_credentials anchor, not the others.
    agent(withAnchors)
      .when({ type: 'revoke_key', kid: 'k1' })
      .thenEmits([revoked('k1'), anchorRevoked('anc_2', 'key_revoked')]);
    // Revoking an anchor leaves the keys.
    agent(withAnchors)
      .when({ type: 'revoke_anchor', anchor_id: 'anc_2' })
      .thenEmits([anchorRevoked('anc_2', 'revoked')]);
    agent(withAnchors)
      .when({ type: 'suspend_agent', reason: 'incident', revoke_keys: false, revoke_anchors: true })
      .thenEmits([suspended, anchorRevoked('anc_1', 'agent_suspended'), anchorRevoked('anc_2', 'agent_suspended')]);
    agent(withAnchors)
      .when({ type: 'delete_agent' })
      .thenEmits([
        revoked('k1', 'agent_deleted'),
        anchorRevoked('anc_1', 'agent_deleted'),
        anchorRevoked('anc_2', 'agent_deleted'),
        deleted,
      ]);
  });
});
