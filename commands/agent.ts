import type { AgentEvent, AgentPublicJwk, AgentSettings, AnchorDescription, AnchorEvidence } from '../events/agent.ts';
import { ConflictError, NotFoundError, ProblemError, type ProblemIssue } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import { changedFields, type Decider } from './decider.ts';

/** The most keys one agent holds that are not revoked. */
export const MAX_AGENT_KEYS = 20;
/** The most anchors one agent holds that are not revoked. */
export const MAX_AGENT_ANCHORS = 20;

export type AgentCommand =
  /** Creates an agent, active, with its whole settings (owner and scopes already checked against the tenant). */
  | { type: 'create_agent'; agent_id: string; settings: AgentSettings }
  /** Changes any of the settings (fields left out stay); the delegation limits must stay within the allowed scopes. */
  | { type: 'update_agent'; changes: Partial<AgentSettings> }
  /**
   * Suspends an agent (a no-op when it is suspended already); with `revoke_keys`, every key not yet
   * revoked is revoked in the same append (incident response), and so is every client_credentials
   * anchor made with one of them; with `revoke_anchors`, every anchor not yet revoked is too; with
   * `revoke_delegations`, the suspension revokes every delegation to the agent (docs/delegation.md),
   * even when it is suspended already; with `deprecate_keys` (instead of `revoke_keys`), every active
   * key is deprecated: it signs no new assertion, but signatures made with it still verify.
   */
  | {
      type: 'suspend_agent';
      reason: string;
      revoke_keys: boolean;
      deprecate_keys?: boolean;
      revoke_anchors?: boolean;
      revoke_delegations?: boolean;
    }
  /** Reactivates a suspended agent (a no-op when it is active). */
  | { type: 'reactivate_agent' }
  /** Deletes the agent for good: every key and anchor not yet revoked is revoked in the same append. */
  | { type: 'delete_agent' }
  /** Registers a public key whose possession was proven with challenge `challenge_id` (a no-op when it is registered). */
  | { type: 'register_key'; jwk: AgentPublicJwk; challenge_id: string }
  /** Deprecates an active key (a no-op when it is deprecated). */
  | { type: 'deprecate_key'; kid: string }
  /** Revokes a key for good (a no-op when it is revoked), and every client_credentials anchor made with it. */
  | { type: 'revoke_key'; kid: string }
  /**
   * Adds an unverified anchor; `value` is the anchored identity (the caller reserved it for this agent
   * across the tenant). A no-op when this anchor id was added already; refused when another anchor of
   * the agent not revoked holds the same value, or (client_credentials) the key is not one of the agent's.
   */
  | { type: 'add_anchor'; anchor_id: string; anchor: AnchorDescription; value: string }
  /** Records a verification the caller checked (challenge used, proof verified); refused for a revoked anchor or key. */
  | { type: 'verify_anchor'; anchor_id: string; challenge_id: string; evidence: AnchorEvidence }
  /** Revokes an anchor for good (a no-op when it is revoked); the agent's keys stay. */
  | { type: 'revoke_anchor'; anchor_id: string };

export type AgentKeyStatus = 'active' | 'deprecated' | 'revoked';

export interface AgentKey {
  jwk: AgentPublicJwk;
  status: AgentKeyStatus;
}

export type AgentAnchorStatus = 'unverified' | 'verified' | 'revoked';

export interface AgentAnchor {
  anchor: AnchorDescription;
  value: string;
  status: AgentAnchorStatus;
}

export type AgentState =
  | { status: 'absent' }
  | {
      status: 'active' | 'suspended' | 'deleted';
      agent_id: string;
      settings: AgentSettings;
      /** Every key ever registered, by kid (revoked ones stay: a revoked key is never registered again). */
      keys: Readonly<Record<string, AgentKey>>;
      /** Every anchor ever added, by id (revoked ones stay). */
      anchors: Readonly<Record<string, AgentAnchor>>;
    };

type AnchorRevokedReason = 'revoked' | 'agent_suspended' | 'agent_deleted' | 'key_revoked';

/** `agent.anchor.revoked` for each anchor not revoked yet that `which` selects. */
function revokeAnchors(
  agent_id: string,
  anchors: Readonly<Record<string, AgentAnchor>>,
  reason: AnchorRevokedReason,
  which: (anchor: AgentAnchor) => boolean = () => true,
) {
  return Object.entries(anchors)
    .filter(([, anchor]) => anchor.status !== 'revoked' && which(anchor))
    .map(([anchor_id]) => ({ type: 'agent.anchor.revoked' as const, data: { agent_id, anchor_id, reason } }));
}

/** Whether an anchor is the client_credentials anchor of one of the keys `kids`. */
const madeWith = (kids: ReadonlySet<string>) => (anchor: AgentAnchor) =>
  anchor.anchor.kind === 'client_credentials' && kids.has(anchor.anchor.kid);

const settingNames = [
  'name',
  'description',
  'owner',
  'allowed_scopes',
  'delegation',
  'agent_card',
] as const satisfies readonly (keyof AgentSettings)[];

/** The allowed scopes with duplicates taken out: one entry per API, each scope once, in the order given. */
export function distinctAllowedScopes(allowed: AgentSettings['allowed_scopes']): AgentSettings['allowed_scopes'] {
  const byApi = new Map<string, string[]>();
  for (const entry of allowed) {
    const scopes = byApi.get(entry.api_id) ?? [];
    for (const scope of entry.scopes) if (!scopes.includes(scope)) scopes.push(scope);
    byApi.set(entry.api_id, scopes);
  }
  return [...byApi].map(([api_id, scopes]) => ({ api_id, scopes }));
}

/**
 * Checks that the delegation limits stay within what the agent holds: each delegated scope is one
 * of its allowed scopes and, when `identifiers` (api id → identifier) is given, each audience the
 * identifier of an API it has allowed scopes on. A 400 naming each one that is not.
 */
export function checkDelegationLimits(settings: AgentSettings, identifiers?: Readonly<Record<string, string>>): void {
  const allowed = new Set(settings.allowed_scopes.flatMap((entry) => entry.scopes));
  const issues: ProblemIssue[] = [];
  for (const [index, scope] of settings.delegation.scopes.entries()) {
    if (!allowed.has(scope)) {
      issues.push({
        path: `delegation.scopes.${index}`,
        message: `"${scope}" is not one of the agent's allowed scopes.`,
        code: 'outside_allowed_scopes',
      });
    }
  }
  if (identifiers) {
    const audiences = new Set(settings.allowed_scopes.map((entry) => identifiers[entry.api_id]));
    for (const [index, audience] of settings.delegation.audiences.entries()) {
      if (!audiences.has(audience)) {
        issues.push({
          path: `delegation.audiences.${index}`,
          message: `"${audience}" is not the identifier of an API the agent has allowed scopes on.`,
          code: 'outside_allowed_scopes',
        });
      }
    }
  }
  if (issues.length > 0) {
    throw new ProblemError('invalid_request', 'Delegation limits must stay within the agent’s allowed scopes.', issues);
  }
}

export const agentDecider: Decider<AgentCommand, AgentState, AgentEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'agent.created': {
        const { agent_id, ...settings } = event.data;
        return { status: 'active', agent_id, settings, keys: {}, anchors: {} };
      }
      case 'agent.updated':
        return state.status === 'absent'
          ? state
          : { ...state, settings: { ...state.settings, ...event.data.changes } as AgentSettings };
      case 'agent.suspended':
        return state.status === 'absent' ? state : { ...state, status: 'suspended' };
      case 'agent.reactivated':
        return state.status === 'absent' ? state : { ...state, status: 'active' };
      case 'agent.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted' };
      case 'agent.key.registered':
        return state.status === 'absent'
          ? state
          : { ...state, keys: { ...state.keys, [event.data.kid]: { jwk: event.data.jwk, status: 'active' } } };
      case 'agent.key.deprecated':
      case 'agent.key.revoked': {
        if (state.status === 'absent') return state;
        const key = state.keys[event.data.kid];
        if (!key) return state;
        const status = event.type === 'agent.key.revoked' ? 'revoked' : 'deprecated';
        return { ...state, keys: { ...state.keys, [event.data.kid]: { ...key, status } } };
      }
      case 'agent.anchor.added':
        return state.status === 'absent'
          ? state
          : {
              ...state,
              anchors: {
                ...state.anchors,
                [event.data.anchor_id]: { anchor: event.data.anchor, value: event.data.value, status: 'unverified' },
              },
            };
      case 'agent.anchor.verified':
      case 'agent.anchor.revoked': {
        if (state.status === 'absent') return state;
        const anchor = state.anchors[event.data.anchor_id];
        if (!anchor) return state;
        const status = event.type === 'agent.anchor.revoked' ? 'revoked' : 'verified';
        return { ...state, anchors: { ...state.anchors, [event.data.anchor_id]: { ...anchor, status } } };
      }
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_agent') {
      if (state.status !== 'absent') {
        // The same create again (a retried request, with the same id): already done.
        if (state.agent_id === command.agent_id && state.status !== 'deleted') return [];
        throw new ConflictError('agent_exists', 'The agent already exists.');
      }
      checkDelegationLimits(command.settings);
      return [
        {
          type: 'agent.created',
          data: {
            agent_id: command.agent_id,
            ...command.settings,
            allowed_scopes: distinctAllowedScopes(command.settings.allowed_scopes),
          },
        },
      ];
    }
    if (state.status === 'absent' || state.status === 'deleted') throw new NotFoundError('The agent');
    const agent_id = state.agent_id;
    switch (command.type) {
      case 'update_agent': {
        const wanted = {
          ...command.changes,
          ...(command.changes.allowed_scopes
            ? { allowed_scopes: distinctAllowedScopes(command.changes.allowed_scopes) }
            : {}),
        };
        checkDelegationLimits({ ...state.settings, ...wanted } as AgentSettings);
        const changed = changedFields(settingNames, wanted, state.settings);
        return changed ? [{ type: 'agent.updated', data: { agent_id, ...changed } }] : [];
      }
      case 'suspend_agent': {
        const revoked = command.revoke_keys
          ? Object.entries(state.keys)
              .filter(([, key]) => key.status !== 'revoked')
              .map(([kid]) => ({
                type: 'agent.key.revoked' as const,
                data: { agent_id, kid, reason: 'revoked' as const },
              }))
          : [];
        const suspended =
          state.status === 'suspended' && !command.revoke_delegations
            ? []
            : [
                {
                  type: 'agent.suspended' as const,
                  data: {
                    agent_id,
                    reason: command.reason,
                    ...(command.revoke_delegations ? { revoke_delegations: true } : {}),
                  },
                },
              ];
        const deprecated =
          command.deprecate_keys && !command.revoke_keys
            ? Object.entries(state.keys)
                .filter(([, key]) => key.status === 'active')
                .map(([kid]) => ({ type: 'agent.key.deprecated' as const, data: { agent_id, kid } }))
            : [];
        const revokedKids = new Set(revoked.map((event) => event.data.kid));
        const anchors = command.revoke_anchors
          ? revokeAnchors(agent_id, state.anchors, 'agent_suspended')
          : revokeAnchors(agent_id, state.anchors, 'key_revoked', madeWith(revokedKids));
        return [...suspended, ...revoked, ...deprecated, ...anchors];
      }
      case 'reactivate_agent':
        return state.status === 'active' ? [] : [{ type: 'agent.reactivated', data: { agent_id } }];
      case 'delete_agent':
        return [
          ...Object.entries(state.keys)
            .filter(([, key]) => key.status !== 'revoked')
            .map(([kid]) => ({
              type: 'agent.key.revoked' as const,
              data: { agent_id, kid, reason: 'agent_deleted' as const },
            })),
          ...revokeAnchors(agent_id, state.anchors, 'agent_deleted'),
          { type: 'agent.deleted', data: { agent_id, name: state.settings.name } },
        ];
      case 'register_key': {
        const existing = state.keys[command.jwk.kid];
        if (existing?.status === 'revoked') {
          throw new ConflictError(
            'agent_key_revoked',
            'This key was revoked for this agent and cannot be registered again.',
          );
        }
        if (existing) return [];
        const held = Object.values(state.keys).filter((key) => key.status !== 'revoked').length;
        if (held >= MAX_AGENT_KEYS) {
          throw new ConflictError(
            'agent_key_limit',
            `An agent holds at most ${MAX_AGENT_KEYS} keys that are not revoked.`,
          );
        }
        return [
          {
            type: 'agent.key.registered',
            data: { agent_id, kid: command.jwk.kid, jwk: command.jwk, challenge_id: command.challenge_id },
          },
        ];
      }
      case 'deprecate_key': {
        const key = state.keys[command.kid];
        if (!key) throw new NotFoundError('The key');
        if (key.status === 'revoked') {
          throw new ConflictError('agent_key_revoked', 'The key is revoked; a revoked key cannot be deprecated.');
        }
        return key.status === 'deprecated'
          ? []
          : [{ type: 'agent.key.deprecated', data: { agent_id, kid: command.kid } }];
      }
      case 'revoke_key': {
        const key = state.keys[command.kid];
        if (!key) throw new NotFoundError('The key');
        return key.status === 'revoked'
          ? []
          : [
              { type: 'agent.key.revoked', data: { agent_id, kid: command.kid, reason: 'revoked' } },
              ...revokeAnchors(agent_id, state.anchors, 'key_revoked', madeWith(new Set([command.kid]))),
            ];
      }
      case 'add_anchor': {
        const existing = state.anchors[command.anchor_id];
        if (existing) {
          if (existing.value === command.value) return [];
          throw new ConflictError('agent_anchor_exists', 'Another anchor has this id.');
        }
        const held = Object.values(state.anchors).filter((anchor) => anchor.status !== 'revoked');
        if (held.some((anchor) => anchor.value === command.value)) {
          throw new ConflictError('anchor_taken', 'This identity is anchored to this agent already.');
        }
        if (held.length >= MAX_AGENT_ANCHORS) {
          throw new ConflictError(
            'agent_anchor_limit',
            `An agent holds at most ${MAX_AGENT_ANCHORS} anchors that are not revoked.`,
          );
        }
        if (command.anchor.kind === 'client_credentials') {
          const key = state.keys[command.anchor.kid];
          if (!key || key.status === 'revoked') {
            throw new ProblemError('invalid_request', 'A client_credentials anchor names one of the agent’s keys.', [
              {
                path: 'kid',
                message: key ? 'The key is revoked.' : 'No key with this kid is registered for the agent.',
                code: key ? 'agent_key_revoked' : 'unknown_key',
              },
            ]);
          }
        }
        return [
          {
            type: 'agent.anchor.added',
            data: { agent_id, anchor_id: command.anchor_id, anchor: command.anchor, value: command.value },
          },
        ];
      }
      case 'verify_anchor': {
        const anchor = state.anchors[command.anchor_id];
        if (!anchor) throw new NotFoundError('The anchor');
        if (anchor.status === 'revoked') {
          throw new ConflictError(
            'agent_anchor_revoked',
            'The anchor is revoked; a revoked anchor cannot be verified.',
          );
        }
        if (command.evidence.kind !== anchor.anchor.kind) {
          throw new ProblemError('invalid_request', 'The verification is not of the anchor’s kind.');
        }
        if (anchor.anchor.kind === 'client_credentials' && state.keys[anchor.anchor.kid]?.status === 'revoked') {
          throw new ConflictError('agent_key_revoked', 'The anchor’s key is revoked; it verifies nothing.');
        }
        return [
          {
            type: 'agent.anchor.verified',
            data: {
              agent_id,
              anchor_id: command.anchor_id,
              kind: anchor.anchor.kind,
              challenge_id: command.challenge_id,
              evidence: command.evidence,
            },
          },
        ];
      }
      case 'revoke_anchor': {
        const anchor = state.anchors[command.anchor_id];
        if (!anchor) throw new NotFoundError('The anchor');
        return anchor.status === 'revoked'
          ? []
          : [{ type: 'agent.anchor.revoked', data: { agent_id, anchor_id: command.anchor_id, reason: 'revoked' } }];
      }
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** An agent with its keys and its identity anchors: its stream is `{tenant_id}-{agent_id}`. */
export const agentAggregate = defineAggregate('agent', agentDecider);
