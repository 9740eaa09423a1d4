import { describe, expect, it } from 'vitest';
import { agentDecider } from '../commands/agent.ts';
import { type DelegationTerms, delegationDecider, type ParentDelegation } from '../commands/delegation.ts';
import type { DelegationLimits } from '../events/agent.ts';
import type { DelegationEvent } from '../events/delegation.ts';
import { actorsOf } from '../src/oidc/token-exchange.ts';
import { specFor } from './support/given-when-then.ts';

const delegation = specFor(delegationDecider);
const agent = specFor(agentDecider);

const now = '2026-12-08T10:00:00.000Z';
const inMinutes = (minutes: number) => new Date(Date.parse(now) + minutes * 60_000).toISOString();
const limits: DelegationLimits = {
  scopes: ['invoices:read', 'invoices:write'],
  audiences: ['https://billing.example.com/api'],
  max_lifetime_seconds: 600,
  max_chain_depth: 2,
};
const terms: DelegationTerms = {
  sub: 'sub_1',
  agent_id: 'agt_1',
  audience: 'https://billing.example.com/api',
  scopes: ['invoices:read'],
  expires_at: inMinutes(5),
  max_chain_depth: 2,
  parent_delegation_id: null,
  consent: { type: 'api', actor: 'key_1' },
};
const create = { type: 'create_delegation' as const, delegation_id: 'dlg_1', terms, limits, parent: null, now };
const created = {
  type: 'delegation.created',
  data: { delegation_id: 'dlg_1', ...terms, depth: 1 },
} satisfies DelegationEvent;
const parent: ParentDelegation = {
  delegation_id: 'dlg_1',
  sub: 'sub_1',
  agent_id: 'agt_1',
  audience: terms.audience,
  scopes: ['invoices:read'],
  expires_at: inMinutes(5),
  max_chain_depth: 2,
  depth: 1,
  active: true,
};
const child = (change: Partial<DelegationTerms>, parentChange: Partial<ParentDelegation> = {}) => ({
  ...create,
  delegation_id: 'dlg_2',
  terms: { ...terms, agent_id: 'agt_2', parent_delegation_id: 'dlg_1', expires_at: inMinutes(4), ...change },
  parent: { ...parent, ...parentChange },
});

describe('delegation decider', () => {
  it('creates a delegation within the limits once; the same create again decides nothing', () => {
    delegation([]).when(create).thenEmits([created]);
    delegation([created]).when(create).thenEmits([]);
    delegation([created])
      .when({ ...create, delegation_id: 'dlg_9' })
      .thenThrows('delegation_exists');
  });

  it('refuses what the limits do not allow: a scope, an audience, a lifetime, a depth, an end in the past', () => {
    for (const change of [
      { scopes: ['payments:refund'] },
      { audience: 'https://crm.example.com/api' },
      { expires_at: inMinutes(11) },
      { expires_at: now },
      { max_chain_depth: 3 },
    ]) {
      delegation([])
        .when({ ...create, terms: { ...terms, ...change } })
        .thenThrows('invalid_request');
    }
  });

  it('derives only narrower: never a scope, audience, end, depth or user beyond the parent, nor from a revoked one', () => {
    delegation([])
      .when(child({}))
      .thenEmits([
        {
          type: 'delegation.created',
          data: { delegation_id: 'dlg_2', ...child({}).terms, depth: 2 },
        },
      ]);
    for (const [change, parentChange] of [
      [{ scopes: ['invoices:write'] }, {}],
      [{ expires_at: inMinutes(6) }, {}],
      [{ sub: 'sub_2' }, {}],
      [{ agent_id: 'agt_1' }, {}],
      [{}, { active: false }],
      [{}, { max_chain_depth: 1 }],
      [{ max_chain_depth: 2 }, { depth: 2 }],
    ] as Array<[Partial<DelegationTerms>, Partial<ParentDelegation>]>) {
      delegation([]).when(child(change, parentChange)).thenThrows('invalid_request');
    }
  });

  it('revokes once; a revoke of nothing is a 404', () => {
    const revoked = {
      type: 'delegation.revoked',
      data: { delegation_id: 'dlg_1', agent_id: 'agt_1', reason: 'revoked' },
    } satisfies DelegationEvent;
    delegation([created]).when({ type: 'revoke_delegation', reason: 'revoked' }).thenEmits([revoked]);
    delegation([created, revoked]).when({ type: 'revoke_delegation', reason: 'revoked' }).thenEmits([]);
    delegation([]).when({ type: 'revoke_delegation', reason: 'revoked' }).thenThrows('not_found');
  });

  it('suspends an agent with revoke_delegations in one event, even when it is suspended already', () => {
    const settings = {
      name: 'Bot',
      description: '',
      owner: { type: 'user' as const, id: 'sub_1' },
      allowed_scopes: [],
      delegation: { scopes: [], audiences: [], max_lifetime_seconds: 300, max_chain_depth: 1 },
      agent_card: { enabled: false, url: null },
    };
    const agentCreated = { type: 'agent.created' as const, data: { agent_id: 'agt_1', ...settings } };
    const suspended = { type: 'agent.suspended' as const, data: { agent_id: 'agt_1', reason: 'x' } };
    agent([agentCreated])
      .when({ type: 'suspend_agent', reason: 'x', revoke_keys: false, revoke_delegations: true })
      .thenEmits([{ type: 'agent.suspended', data: { agent_id: 'agt_1', reason: 'x', revoke_delegations: true } }]);
    agent([agentCreated, suspended])
      .when({ type: 'suspend_agent', reason: 'x', revoke_keys: false, revoke_delegations: true })
      .thenEmits([{ type: 'agent.suspended', data: { agent_id: 'agt_1', reason: 'x', revoke_delegations: true } }]);
    agent([agentCreated, suspended]).when({ type: 'suspend_agent', reason: 'x', revoke_keys: false }).thenEmits([]);
  });

  it('reads an act chain current actor first, and refuses a malformed one', () => {
    expect(actorsOf({ sub: 'agt_2', act: { sub: 'agt_1' } })).toEqual(['agt_2', 'agt_1']);
    expect(actorsOf({ sub: 1 })).toBeNull();
    expect(actorsOf('agt_1')).toBeNull();
  });
});
