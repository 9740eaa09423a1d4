import { describe, expect, it } from 'vitest';
import { policyDecider } from '../commands/policy.ts';
import type { PolicyEvent } from '../events/policy.ts';
import { tokenPolicyOutcome } from '../src/oidc/policies.ts';
import { checkPolicyText, compilePolicySet, decide, nothingCanMatch } from '../src/policies/cedar.ts';
import { specFor } from './support/given-when-then.ts';

const policy = specFor(policyDecider);

const content = {
  name: 'Readers',
  description: '',
  cedar: 'permit(principal, action == SigID::Action::"read", resource);',
};
const created = {
  type: 'policy.created',
  data: { policy_id: 'pol_1', enabled: true, version: 1, ...content },
} satisfies PolicyEvent;
const create = { type: 'create_policy' as const, policy_id: 'pol_1', content, enabled: true };

describe('policy decider', () => {
  it('creates a policy once as version 1; the same create again decides nothing, another id is refused', () => {
    policy([]).when(create).thenEmits([created]);
    policy([created]).when(create).thenEmits([]);
    policy([created])
      .when({ ...create, policy_id: 'pol_2' })
      .thenThrows('policy_exists');
  });

  it('makes every change of content a new version carrying the whole content; no change, no version', () => {
    const cedar = 'permit(principal, action == SigID::Action::"list", resource);';
    const updated = {
      type: 'policy.updated',
      data: { policy_id: 'pol_1', version: 2, ...content, cedar },
    } satisfies PolicyEvent;
    policy([created]).when({ type: 'update_policy', changes: { cedar } }).thenEmits([updated]);
    policy([created])
      .when({ type: 'update_policy', changes: { name: 'Readers' } })
      .thenEmits([]);
    policy([created, updated])
      .when({ type: 'update_policy', changes: { description: 'Now described' } })
      .thenEmits([
        {
          type: 'policy.updated',
          data: { policy_id: 'pol_1', version: 3, ...content, cedar, description: 'Now described' },
        },
      ]);
  });

  it('enables and disables only when it changes something', () => {
    const disabled = { type: 'policy.disabled', data: { policy_id: 'pol_1' } } satisfies PolicyEvent;
    policy([created]).when({ type: 'set_policy_enabled', enabled: true }).thenEmits([]);
    policy([created]).when({ type: 'set_policy_enabled', enabled: false }).thenEmits([disabled]);
    policy([created, disabled])
      .when({ type: 'set_policy_enabled', enabled: true })
      .thenEmits([{ type: 'policy.enabled', data: { policy_id: 'pol_1' } }]);
  });

  it('refuses every command on a policy never created or deleted', () => {
    const deleted = { type: 'policy.deleted', data: { policy_id: 'pol_1' } } satisfies PolicyEvent;
    policy([created]).when({ type: 'delete_policy' }).thenEmits([deleted]);
    for (const given of [[], [created, deleted]]) {
      policy(given).when({ type: 'delete_policy' }).thenThrows('not_found');
      policy(given)
        .when({ type: 'update_policy', changes: { name: 'x' } })
        .thenThrows('not_found');
      policy(given).when({ type: 'set_policy_enabled', enabled: false }).thenThrows('not_found');
    }
  });
});

describe('Cedar at issuance', () => {
  const request = {
    sub: undefined,
    clientId: 'client_1',
    audience: 'https://api.example.com/',
    scopes: ['a', 'b'],
    ip: '::ffff:127.0.0.1',
    amr: [],
    authTime: undefined,
    now: 1_800_000_000,
  };

  it('needs no permit: only forbids act, on the API (refused) or on a scope (dropped)', () => {
    const onlyPermit = compilePolicySet('unit:permit', [
      { policy_id: 'pol_p', cedar: 'permit(principal, action == SigID::Action::"read", resource);' },
    ]);
    expect(tokenPolicyOutcome(onlyPermit, request)).toEqual({ refused: false, scopes: ['a', 'b'], denials: [] });
    const dropB = compilePolicySet('unit:drop', [
      {
        policy_id: 'pol_b',
        cedar: 'forbid(principal, action == SigID::Action::"issue_token", resource == SigID::Scope::"b");',
      },
    ]);
    expect(tokenPolicyOutcome(dropB, request)).toEqual({
      refused: false,
      scopes: ['a'],
      denials: [{ resource: 'scope', value: 'b', policy_ids: ['pol_b'] }],
    });
    // Only scope b can be forbidden here: the API and scope a are not even asked about, with the same outcome.
    expect(nothingCanMatch(dropB, 'issue_token', { type: 'Api', id: request.audience })).toBe(true);
    expect(nothingCanMatch(dropB, 'issue_token', { type: 'Scope', id: 'a' })).toBe(true);
    expect(nothingCanMatch(dropB, 'issue_token', { type: 'Scope', id: 'b' })).toBe(false);
    const lockdown = compilePolicySet('unit:lockdown', [
      {
        policy_id: 'pol_l',
        cedar:
          'forbid(principal is SigID::Application, action == SigID::Action::"issue_token", resource is SigID::Api) when { context has ip && context.ip.isLoopback() };',
      },
    ]);
    expect(tokenPolicyOutcome(lockdown, request)).toMatchObject({ refused: true, scopes: [] });
    expect(tokenPolicyOutcome(lockdown, { ...request, ip: '203.0.113.9' })).toMatchObject({ refused: false });
    // A person's token is a User principal, with the age of its second factor.
    const freshMfa = compilePolicySet('unit:mfa', [
      {
        policy_id: 'pol_m',
        cedar:
          'forbid(principal is SigID::User, action == SigID::Action::"issue_token", resource == SigID::Scope::"a") unless { context has mfa_age_seconds && context.mfa_age_seconds < 600 };',
      },
    ]);
    const person = { ...request, sub: 'sub_1', amr: ['pwd', 'otp'] };
    expect(tokenPolicyOutcome(freshMfa, { ...person, authTime: request.now - 60 }).scopes).toEqual(['a', 'b']);
    expect(tokenPolicyOutcome(freshMfa, { ...person, authTime: request.now - 3600 }).scopes).toEqual(['b']);
    expect(tokenPolicyOutcome(freshMfa, { ...person, amr: ['pwd'], authTime: request.now }).scopes).toEqual(['b']);
  });

  it("reads the principal's organizations and attributes only for policies that can ask about them", () => {
    const reads = (cedar: string) => compilePolicySet('unit:principal', [{ policy_id: 'pol_p', cedar }]).readsPrincipal;
    for (const cedar of [
      'permit(principal in SigID::Organization::"org_1", action, resource);',
      'permit(principal is SigID::Agent in SigID::Organization::"org_1", action, resource);',
      'forbid(principal, action, resource) unless { principal has status && principal.status == "active" };',
      'forbid(principal, action, resource) when { principal in SigID::Organization::"org_1" };',
      'forbid(principal, action, resource) when { principal is SigID::Agent in SigID::Organization::"org_1" };',
    ]) {
      expect(reads(cedar), cedar).toBe(true);
    }
    for (const cedar of [
      'permit(principal, action, resource);',
      'forbid(principal == SigID::Agent::"agt_1", action, resource) when { context.delegation_depth > 1 };',
      'permit(principal is SigID::User, action, resource is SigID::Resource) when { resource.kind == "invoice" };',
    ]) {
      expect(reads(cedar), cedar).toBe(false);
    }
  });

  it('decides nothing at issuance when no forbid can apply to issue_token', () => {
    const forReads = compilePolicySet('unit:reads', [
      { policy_id: 'pol_r', cedar: 'forbid(principal, action == SigID::Action::"read", resource);' },
      { policy_id: 'pol_p', cedar: 'permit(principal, action, resource);' },
    ]);
    expect(forReads.forbidsTokens).toBe(false);
    expect(tokenPolicyOutcome(forReads, request)).toEqual({ refused: false, scopes: ['a', 'b'], denials: [] });
    for (const cedar of [
      'forbid(principal, action, resource) when { context.delegation_depth > 5 };',
      'forbid(principal, action in [SigID::Action::"read", SigID::Action::"issue_token"], resource);',
    ]) {
      expect(compilePolicySet('unit:tokens', [{ policy_id: 'pol_t', cedar }]).forbidsTokens, cedar).toBe(true);
    }
    // Remembered decisions are per set and per request: the same request again, the same outcome; another time, decided anew.
    const night = compilePolicySet('unit:night', [
      {
        policy_id: 'pol_n',
        cedar:
          'forbid(principal, action == SigID::Action::"issue_token", resource is SigID::Api) when { context.time < 1800000000 };',
      },
    ]);
    expect(tokenPolicyOutcome(night, { ...request, now: 1_799_999_999 }).refused).toBe(true);
    expect(tokenPolicyOutcome(night, { ...request, now: 1_799_999_999 }).refused).toBe(true);
    expect(tokenPolicyOutcome(night, { ...request, now: 1_800_000_000 }).refused).toBe(false);
  });

  it('decides a request against the statements that can match it, with the same answer as all of them', () => {
    const set = compilePolicySet('unit:slices', [
      {
        policy_id: 'pol_one',
        cedar: 'permit(principal, action == SigID::Action::"read", resource == SigID::Resource::"inv_1");',
      },
      { policy_id: 'pol_two', cedar: 'permit(principal, action, resource == SigID::Resource::"inv_2");' },
      {
        policy_id: 'pol_all',
        cedar: 'forbid(principal, action, resource) when { context has organization && context.organization == "x" };',
      },
    ]);
    const ask = (id: string, action: 'read' | 'delete', organization?: string) =>
      decide(set, {
        principal: { type: 'User', id: 'u' },
        action,
        resource: { type: 'Resource', id },
        context: { time: 1, amr: [], delegation_depth: 0, organization },
      });
    expect(ask('inv_1', 'read')).toEqual({ decision: 'allow', policies: ['pol_one'], errors: [] });
    expect(ask('inv_1', 'delete')).toEqual({ decision: 'deny', policies: [], errors: [] });
    expect(ask('inv_2', 'delete')).toEqual({ decision: 'allow', policies: ['pol_two'], errors: [] });
    expect(ask('inv_3', 'read')).toEqual({ decision: 'deny', policies: [], errors: [] });
    expect(ask('inv_1', 'read', 'x')).toEqual({ decision: 'deny', policies: ['pol_all'], errors: [] });
    expect(ask('inv_2', 'delete', 'x')).toEqual({ decision: 'deny', policies: ['pol_all'], errors: [] });
  });

  it('checks a text: its statements, or 400 invalid_request with Cedar’s diagnostics', () => {
    expect(
      checkPolicyText(
        'permit(principal, action == SigID::Action::"read", resource);\nforbid(principal, action, resource) when { context.delegation_depth > 1 };',
      ),
    ).toHaveLength(2);
    expect(() => checkPolicyText('permit(principal, action, resource) unless { context.amr };')).toThrow(
      expect.objectContaining({ code: 'invalid_request', status: 400 }),
    );
    expect(() => checkPolicyText('// only a comment')).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });
});
