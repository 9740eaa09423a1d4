import { LRUCache } from 'lru-cache';
import type { PolicyDenial } from '../../events/policy.ts';
import type { PrincipalFacts } from '../../read-models/principals.ts';
import { type AnchorStanding, anchorPolicyContext } from '../agents/anchors/index.ts';
import {
  type CompiledPolicySet,
  decide,
  nothingCanMatch,
  type RequestContext,
  type RequestEntity,
} from '../policies/cedar.ts';

/** `amr` values (RFC 8176) that are a second factor: with an `auth_time`, they give the context's `mfa_age_seconds`. */
const SECOND_FACTORS = new Set(['mfa', 'otp', 'hwk', 'swk', 'sms', 'fpt', 'face']);

/** The most decisions remembered per policy set. */
const MEMO_SIZE = 10_000;

/**
 * Decisions at issuance, remembered per compiled policy set (so per version of the tenant's
 * policies) and keyed by the whole request. Exact: a decision depends on the policies and the
 * request alone (every entity is built from the request), and `time` is in whole seconds, so a
 * busy client pays for at most one decision per scope per second.
 */
const memos = new WeakMap<CompiledPolicySet, LRUCache<string, string[]>>();

/** Whether decisions are remembered (the benchmark turns it off to show the cost of deciding every token). */
export const issuanceMemo = { enabled: true };

/** Who a token is for, as the issuer knows it at the moment it decides. */
export interface TokenRequest {
  /** The tenant's `sub` for a person's token; undefined for a client's own (client_credentials). */
  sub: string | undefined;
  clientId: string;
  /** The API's identifier (the token's `aud`). */
  audience: string;
  /** The scopes the token would carry without policies, in order. */
  scopes: readonly string[];
  ip: string | undefined;
  amr: readonly string[];
  /** When the person signed in, seconds since the epoch. */
  authTime: number | undefined;
  now: number;
  /** An agent's verified, unrevoked anchors (its own token); none for anyone else. */
  anchors?: readonly AnchorStanding[] | undefined;
  /** How many actors deep a delegated token is (RFC 8693 token exchange); 0 when none acts for anyone. */
  delegationDepth?: number | undefined;
  /** The principal's organizations and attributes, when the policies ask about them (`readsPrincipal`). */
  principalFacts?: PrincipalFacts | undefined;
}

/** Who a token is for, in Cedar: the person, else the client itself, an agent (`agt_…`) or an application. */
export function principalOf(sub: string | undefined, clientId: string): { type: string; id: string } {
  if (sub) return { type: 'User', id: sub };
  return clientId.startsWith('agt_') ? { type: 'Agent', id: clientId } : { type: 'Application', id: clientId };
}

/**
 * The anchors' part of the context: `anchor_kinds`, the kinds of the verified, unrevoked anchors
 * (empty for anyone but an anchored agent), and `anchor_verified_age_seconds`, the age of the
 * freshest verification (absent without one: test it with `has`).
 */
export function anchorContext(
  anchors: readonly AnchorStanding[],
  now: Date,
): { anchor_kinds: string[]; anchor_verified_age_seconds?: number } {
  const kinds = new Set<string>();
  let freshest: number | undefined;
  for (const anchor of anchors) {
    const standing = anchorPolicyContext(anchor, now);
    if (!standing.anchor_verified || standing.verified_at_age_seconds === undefined) continue;
    kinds.add(standing.anchor_kind);
    freshest = Math.min(freshest ?? Number.POSITIVE_INFINITY, standing.verified_at_age_seconds);
  }
  return {
    anchor_kinds: [...kinds].sort(),
    ...(freshest === undefined ? {} : { anchor_verified_age_seconds: freshest }),
  };
}

export interface TokenPolicyOutcome {
  /** Whether a forbid on the API refuses the whole token. */
  refused: boolean;
  /** The scopes left, in order. */
  scopes: string[];
  /** Each forbid that decided: on the API (refused), or on a scope (dropped). */
  denials: PolicyDenial[];
}

/**
 * What a tenant's policies make of a token at issuance: `issue_token` on the API (a forbid refuses
 * the token) and on each scope it would carry (a forbid drops the scope). Only forbids act here:
 * no permit is needed, so a tenant's policies can only narrow what APIs and grants already allow.
 */
export function tokenPolicyOutcome(set: CompiledPolicySet, request: TokenRequest): TokenPolicyOutcome {
  // No forbid can apply to issue_token: nothing to decide.
  if (!set.forbidsTokens) return { refused: false, scopes: [...request.scopes], denials: [] };
  let memo = memos.get(set);
  if (!memo) {
    memo = new LRUCache({ max: MEMO_SIZE });
    memos.set(set, memo);
  }
  // A client's own token is an agent's (`agt_…`, principal `Agent`) or an application's.
  const principal: RequestEntity = {
    ...principalOf(request.sub, request.clientId),
    ...(request.principalFacts
      ? { organizations: request.principalFacts.organizations, attributes: request.principalFacts.attributes }
      : {}),
  };
  const secondFactor = request.amr.some((value) => SECOND_FACTORS.has(value));
  const context: RequestContext = {
    time: request.now,
    amr: request.amr,
    delegation_depth: request.delegationDepth ?? 0,
    ip: request.ip,
    mfa_age_seconds:
      secondFactor && request.authTime !== undefined ? Math.max(0, request.now - request.authTime) : undefined,
    ...anchorContext(request.anchors ?? [], new Date(request.now * 1000)),
  };
  const forbidding = (resource: RequestEntity) => {
    if (nothingCanMatch(set, 'issue_token', resource)) return [];
    const key = JSON.stringify([principal, resource, request.audience, context]);
    const known = issuanceMemo.enabled ? memo.get(key) : undefined;
    if (known) return known;
    const decision = decide(set, {
      principal,
      action: 'issue_token',
      resource,
      scopeApi: request.audience,
      context,
    });
    // A deny with deciding policies is a forbid; a deny for want of a permit is no refusal here.
    const forbids = decision.decision === 'deny' ? decision.policies : [];
    memo.set(key, forbids);
    return forbids;
  };
  const onApi = forbidding({ type: 'Api', id: request.audience });
  if (onApi.length > 0) {
    return {
      refused: true,
      scopes: [],
      denials: [{ resource: 'api', value: request.audience, policy_ids: onApi }],
    };
  }
  const scopes: string[] = [];
  const denials: PolicyDenial[] = [];
  for (const value of request.scopes) {
    const onScope = forbidding({ type: 'Scope', id: value });
    if (onScope.length > 0) denials.push({ resource: 'scope', value, policy_ids: onScope });
    else scopes.push(value);
  }
  return { refused: false, scopes, denials };
}
