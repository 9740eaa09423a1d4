import { createLocalJWKSet, type JWK, type JWTPayload, jwtVerify } from 'jose';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { applyDpopBinding } from 'oidc-provider/lib/helpers/grant_common.js';
import validateDpop from 'oidc-provider/lib/helpers/validate_dpop.js';
import type { DelegationLimits } from '../../events/agent.ts';
import type { PolicyDenial } from '../../events/policy.ts';
import type { PrincipalFacts } from '../../read-models/principals.ts';
import type { CompiledPolicySet } from '../policies/cedar.ts';
import { tokenPolicyOutcome } from './policies.ts';

/**
 * RFC 8693 token exchange at a tenant's issuer: an agent acting for a user. What it enforces:
 * - the caller is an agent authenticated as itself (`private_key_jwt`; the grant is only in agents'
 *   client metadata), with no `actor_token` (the authenticated agent is the actor);
 * - `subject_token` is an access token of THIS issuer (signature, `iss`, `typ` at+jwt, unexpired) of
 *   `subject_type` `user`, with `subject_token_type` access_token; a delegated one (with `act`)
 *   must still be in force (its delegation and every ancestor active, every actor active and not
 *   suspended since it was issued) — `invalid_grant` otherwise;
 * - exactly one target (`resource` or `audience`), an API of the tenant the subject token is for
 *   (never another audience: `invalid_target`);
 * - an active, unexpired delegation of that user to this agent for that audience (for a chain: one
 *   derived from the subject token's delegation), the chain no deeper than the delegation, every
 *   delegation up the chain and every actor's limits allow (`invalid_grant`);
 * - scopes = requested ∩ delegation ∩ subject token ∩ the agent's allowed ∩ its delegable ones; a
 *   requested scope outside is `invalid_scope`; then the tenant's Cedar policies (principal the
 *   agent, `delegation_depth` the chain's) drop scopes or refuse the token (`access_denied`);
 * - `exp` ≤ the delegation's end, the agent's `max_lifetime_seconds`, the subject token's `exp` and
 *   the API's token lifetime; DPoP-bound (`cnf.jkt`) when a proof is sent;
 * - the token: `sub` the user, `subject_type` user, `act` {sub: agent, subject_type: agent, act?},
 *   `delegation_id`, `aud` the API, `client_id` the agent; its `oauth.token.issued` names both.
 */

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

const PARAMETERS = [
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'requested_token_type',
  'resource',
  'audience',
  'scope',
];

/** A delegation as the issuer reads it (from the read model, on every request: a revocation is seen at once). */
export interface DelegationView {
  delegation_id: string;
  sub: string;
  agent_id: string;
  audience: string;
  scopes: readonly string[];
  expires_at: Date;
  max_chain_depth: number;
  depth: number;
  parent_delegation_id: string | null;
  active: boolean;
}

export interface AgentView {
  active: boolean;
  limits: DelegationLimits;
  /** When the agent was last suspended: its tokens issued at or before stay inactive. */
  suspendedAt: Date | undefined;
}

/** Everything one exchange reads about its agent, user, API and delegations, in one query. */
export interface ExchangeState {
  agent: (AgentView & { allowedScopes: readonly string[] }) | undefined;
  /** Whether the user is (still) one of the tenant's, not blocked. */
  userActive: boolean;
  api: { identifier: string; scopes: ReadonlySet<string>; accessTokenTtlSeconds: number } | undefined;
  /** The active, unexpired delegations of the user to the agent for the API derived from the parent (none: null), newest first. */
  candidates: DelegationView[];
}

/** What the issuer reads for delegated tokens. */
export interface DelegationSources {
  /** One read for an exchange: the agent (with its allowed scopes on the API), the user, the API, the candidates. */
  exchangeState(
    tenantId: string,
    match: { sub: string; agentId: string; audience: string; parentId: string | null },
  ): Promise<ExchangeState>;
  delegation(tenantId: string, delegationId: string): Promise<DelegationView | undefined>;
  agent(tenantId: string, agentId: string): Promise<AgentView | undefined>;
}

export interface Actor {
  sub: string;
  subject_type: 'agent';
  act?: Actor;
}

/** The claims a delegated token carries beyond oidc-provider's, by token (read by extraTokenClaims). */
export const delegatedClaims = new WeakMap<object, { act: Actor; delegation_id: string }>();

/** The actors of a token's `act`, current actor first; null when it is malformed. */
export function actorsOf(act: unknown): string[] | null {
  const actors: string[] = [];
  let current = act;
  while (current !== undefined) {
    if (typeof current !== 'object' || current === null) return null;
    const { sub, act: next } = current as { sub?: unknown; act?: unknown };
    if (typeof sub !== 'string' || actors.length > 10) return null;
    actors.push(sub);
    current = next;
  }
  return actors;
}

export interface ExchangeDeps {
  tenantId: string;
  issuer: string;
  jwks: { keys: JWK[] };
  delegations: DelegationSources;
  userExists(sub: string): Promise<boolean>;
  policies(): CompiledPolicySet | null | Promise<CompiledPolicySet | null>;
  /** The principal's organizations and attributes, for policies that ask about them. */
  principalFacts(principal: { type: string; id: string }): Promise<PrincipalFacts>;
  /** Records a token a policy refused (`policy.token.denied`). */
  refused(data: {
    agentId: string;
    sub: string;
    audience: string;
    scopes: string[];
    denials: PolicyDenial[];
  }): Promise<void>;
}

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

/** The issuer's public keys, to verify its own tokens with. */
export function issuerKeySet(jwks: { keys: JWK[] }) {
  return createLocalJWKSet({
    keys: jwks.keys.map((key) => {
      const out: Record<string, unknown> = {};
      for (const member of PUBLIC_MEMBERS) if (key[member] !== undefined) out[member] = key[member];
      return out as JWK;
    }),
  });
}

/** Why a token of this issuer is no longer in force, or null when it is. */
export async function inactiveReason(
  deps: Pick<ExchangeDeps, 'tenantId' | 'delegations' | 'userExists'>,
  claims: JWTPayload & Record<string, unknown>,
): Promise<string | null> {
  const iat = new Date(Number(claims.iat ?? 0) * 1000);
  const agentInForce = async (agentId: string) => {
    const agent = await deps.delegations.agent(deps.tenantId, agentId);
    return agent?.active === true && (agent.suspendedAt === undefined || agent.suspendedAt < iat);
  };
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : '';
  if (clientId.startsWith('agt_') && !(await agentInForce(clientId))) return 'the agent is suspended or deleted';
  if (claims.act !== undefined) {
    const actors = actorsOf(claims.act);
    if (!actors || typeof claims.delegation_id !== 'string') return 'the actor chain is malformed';
    for (const actor of actors) if (!(await agentInForce(actor))) return 'an actor is suspended or deleted';
    let id: string | null = claims.delegation_id;
    const now = new Date();
    for (let hops = 0; id !== null && hops < 10; hops++) {
      const delegation = await deps.delegations.delegation(deps.tenantId, id);
      if (!delegation?.active || delegation.expires_at <= now) return 'the delegation is revoked or has ended';
      id = delegation.parent_delegation_id;
    }
  }
  if (claims.subject_type === 'user' && typeof claims.sub === 'string' && !(await deps.userExists(claims.sub))) {
    return 'the user is gone';
  }
  return null;
}

function single(ctx: KoaContextWithOIDC, name: string): string | undefined {
  const value = ctx.oidc.params?.[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new errors.InvalidRequest(`${name} must be given once`);
  return value;
}

/** Registers the token-exchange grant on a tenant's issuer. */
export function registerTokenExchange(provider: Provider, deps: ExchangeDeps): void {
  const keys = issuerKeySet(deps.jwks);

  async function handler(ctx: KoaContextWithOIDC): Promise<void> {
    const client = ctx.oidc.client;
    if (!client?.clientId.startsWith('agt_')) {
      throw new errors.UnauthorizedClient('only agents may exchange tokens');
    }
    const agentId = client.clientId;
    if (single(ctx, 'actor_token') !== undefined || single(ctx, 'actor_token_type') !== undefined) {
      throw new errors.InvalidRequest('actor_token is not supported: the authenticated agent is the actor');
    }
    const requestedType = single(ctx, 'requested_token_type');
    if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest('requested_token_type must be an access token');
    }
    const subjectToken = single(ctx, 'subject_token');
    if (!subjectToken) throw new errors.InvalidRequest('missing required parameter(s) (subject_token)');
    if (single(ctx, 'subject_token_type') !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    const resource = single(ctx, 'resource');
    const audience = single(ctx, 'audience');
    const target = resource ?? audience;
    if (!target) throw new errors.InvalidTarget('name the API with resource or audience');
    if (resource && audience && resource !== audience) {
      throw new errors.InvalidTarget('resource and audience must name the same API');
    }

    // The subject: a user's access token of this issuer, or a delegated token still in force.
    let subject: JWTPayload & Record<string, unknown>;
    try {
      subject = (await jwtVerify(subjectToken, keys, { issuer: deps.issuer, typ: 'at+jwt' })).payload as typeof subject;
    } catch {
      throw new errors.InvalidGrant('subject_token is not an access token of this issuer in force');
    }
    if (subject.subject_type !== 'user' || typeof subject.sub !== 'string') {
      throw new errors.InvalidGrant("subject_token must be a user's access token");
    }
    const sub = subject.sub;
    const subjectAudiences = Array.isArray(subject.aud) ? subject.aud : subject.aud ? [subject.aud] : [];
    if (!subjectAudiences.includes(target)) {
      throw new errors.InvalidTarget('a delegated token is for the subject token’s audience only');
    }
    const parentId = typeof subject.delegation_id === 'string' ? subject.delegation_id : null;
    const state = await deps.delegations.exchangeState(deps.tenantId, { sub, agentId, audience: target, parentId });
    // A user's token: the user still there; a delegated one: its whole chain in force.
    const inactive =
      subject.act === undefined ? (state.userActive ? null : 'the user is gone') : await inactiveReason(deps, subject);
    if (inactive) throw new errors.InvalidGrant(`subject_token is not in force: ${inactive}`);
    const priorActors = subject.act === undefined ? [] : (actorsOf(subject.act) ?? []);
    if (priorActors.includes(agentId)) throw new errors.InvalidGrant('the agent is in the chain already');
    if (!state.api) throw new errors.InvalidTarget('the resource is not an API of this tenant');
    const agent = state.agent;
    if (!agent?.active) throw new errors.InvalidGrant('the agent is suspended');
    const server = {
      identifier: state.api.identifier,
      accessTokenTtlSeconds: state.api.accessTokenTtlSeconds,
      granted: new Set(agent.allowedScopes.filter((value) => state.api?.scopes.has(value))),
    };

    // The delegation: of this user to this agent for this API (derived from the subject's, in a chain).
    const candidates = state.candidates;
    if (candidates.length === 0) {
      throw new errors.InvalidGrant('no delegation of the user to this agent for this API is in force');
    }
    const depth = priorActors.length + 1;
    let maxDepth = agent.limits.max_chain_depth;
    for (const actor of priorActors) {
      const limits = (await deps.delegations.agent(deps.tenantId, actor))?.limits;
      maxDepth = Math.min(maxDepth, limits?.max_chain_depth ?? 0);
    }
    for (let id = parentId, hops = 0; id !== null && hops < 10; hops++) {
      const ancestor = await deps.delegations.delegation(deps.tenantId, id);
      maxDepth = Math.min(maxDepth, ancestor?.max_chain_depth ?? 0);
      id = ancestor?.parent_delegation_id ?? null;
    }

    // Scopes: only ever narrowed.
    const subjectScopes = new Set(
      String(subject.scope ?? '')
        .split(' ')
        .filter(Boolean),
    );
    const delegable = new Set(agent.limits.scopes);
    const allowedBy = (delegation: DelegationView) =>
      delegation.scopes.filter(
        (value) => subjectScopes.has(value) && server.granted.has(value) && delegable.has(value),
      );
    const asked = single(ctx, 'scope')?.split(' ').filter(Boolean);
    const fits = (delegation: DelegationView) => {
      const allowed = new Set(allowedBy(delegation));
      return asked ? asked.every((value) => allowed.has(value)) : allowed.size > 0;
    };
    const delegation = candidates.find(fits);
    if (!delegation) {
      const allowed = new Set(candidates.flatMap(allowedBy));
      const outside = asked?.filter((value) => !allowed.has(value)) ?? [];
      throw new errors.InvalidScope(
        outside.length > 0
          ? `outside what the delegation, the subject token and the agent allow: ${outside.join(' ')}`
          : 'the delegation leaves no scope',
        outside.join(' '),
      );
    }
    if (depth !== delegation.depth || depth > delegation.max_chain_depth || depth > maxDepth) {
      throw new errors.InvalidGrant(`the chain would be ${depth} actors deep, more than it may be`);
    }
    let scopes = asked ? [...new Set(asked)] : allowedBy(delegation);

    // The tenant's policies: principal the agent, at the chain's depth.
    const policies = await deps.policies();
    let denials: PolicyDenial[] = [];
    if (policies) {
      const outcome = tokenPolicyOutcome(policies, {
        principalFacts: policies.readsPrincipal ? await deps.principalFacts({ type: 'Agent', id: agentId }) : undefined,
        sub: undefined,
        clientId: agentId,
        audience: target,
        scopes,
        ip: ctx.ip,
        amr: [],
        authTime: undefined,
        now: Math.floor(Date.now() / 1000),
        delegationDepth: depth,
      });
      if (outcome.refused) {
        await deps.refused({ agentId, sub, audience: target, scopes, denials: outcome.denials });
        throw new errors.AccessDenied('a policy of the tenant refuses this token');
      }
      scopes = outcome.scopes;
      denials = outcome.denials;
      if (scopes.length === 0) throw new errors.InvalidScope('the tenant’s policies leave no scope', '');
    }

    // The lifetime: the shortest of every bound.
    const nowSeconds = Math.floor(Date.now() / 1000);
    const ttl = Math.min(
      agent.limits.max_lifetime_seconds,
      server.accessTokenTtlSeconds,
      Math.floor(delegation.expires_at.getTime() / 1000) - nowSeconds,
      Number(subject.exp) - nowSeconds,
    );
    if (!(ttl >= 1)) throw new errors.InvalidGrant('the delegation or the subject token ends now');

    const dPoP = await validateDpop(provider, ctx);
    const token = new provider.AccessToken({
      accountId: sub,
      client,
      gty: TOKEN_EXCHANGE,
      scope: scopes.join(' '),
    } as never);
    token.resourceServer = new provider.ResourceServer(target, {
      audience: target,
      scope: scopes.join(' '),
      accessTokenTTL: ttl,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'ES256' } },
    });
    const act: Actor = { sub: agentId, subject_type: 'agent' };
    if (subject.act !== undefined) act.act = subject.act as Actor;
    delegatedClaims.set(token, { act, delegation_id: delegation.delegation_id });
    if (denials.length > 0) exchangeDenials.set(ctx, denials);
    await applyDpopBinding(provider, ctx, dPoP, token);
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: token.tokenType,
      expires_in: token.expiration,
      scope: scopes.join(' '),
    };
  }

  provider.registerGrantType(TOKEN_EXCHANGE, handler as never, PARAMETERS);
}

/** The scopes policies dropped from an exchanged token, by request (for its `oauth.token.issued`). */
export const exchangeDenials = new WeakMap<object, PolicyDenial[]>();
