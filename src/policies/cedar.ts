import { isIP } from 'node:net';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { ProblemError, type ProblemIssue } from '../errors.ts';
import { ACTIONS, CEDAR_NAMESPACE, CEDAR_SCHEMA, type CedarAction, RESOURCE_TYPES } from './schema.ts';

/**
 * SigID's use of Cedar (cedar-wasm, in process): checking a policy's text against the schema, building
 * a tenant's policy set under Cedar ids that map back to SigID policy ids, and deciding a request
 * against a set parsed once (`preparsePolicySet` + `statefulIsAuthorized`).
 */

/** The name the schema is preparsed under, once per process. */
const SCHEMA_NAME = 'sigid';

const schemaParsed = cedar.preparseSchema(SCHEMA_NAME, CEDAR_SCHEMA);
if (schemaParsed.type !== 'success')
  throw new Error(`SigID's Cedar schema does not parse: ${JSON.stringify(schemaParsed)}`);

/** The most statements one policy holds. */
export const MAX_STATEMENTS = 50;

type Diagnostic = cedar.DetailedError;

function issue(path: string, code: string, error: Diagnostic): ProblemIssue {
  const locations = (error.sourceLocations ?? []).map(({ start, end }) => ({ start, end }));
  return {
    path,
    code,
    message: error.message,
    ...(error.help ? { help: error.help } : {}),
    ...(locations.length > 0 ? { locations } : {}),
  };
}

/** `policy3` (Cedar's id of the fourth statement of a text) → `cedar.3`. */
function statementPath(cedarId: string): string {
  const index = /^policy(\d+)$/.exec(cedarId)?.[1];
  return index === undefined ? 'cedar' : `cedar.${index}`;
}

/**
 * Checks a policy's Cedar text: it parses, holds 1 to MAX_STATEMENTS static statements (no templates),
 * and validates against SigID's schema in strict mode. Returns its statements; otherwise throws 400
 * `invalid_request` with Cedar's diagnostics (message, help, character offsets) as `errors`.
 */
export function checkPolicyText(text: string): string[] {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type !== 'success') {
    throw new ProblemError(
      'invalid_request',
      'The Cedar text does not parse.',
      parts.errors.map((error) => issue('cedar', 'cedar_parse_error', error)),
    );
  }
  if (parts.policy_templates.length > 0) {
    throw new ProblemError(
      'invalid_request',
      'Templates (policies with ?principal or ?resource slots) are not supported.',
      [{ path: 'cedar', code: 'cedar_template', message: 'Write static policies: no ?principal or ?resource slots.' }],
    );
  }
  const statements = parts.policies;
  if (statements.length === 0 || statements.length > MAX_STATEMENTS) {
    throw new ProblemError('invalid_request', `A policy holds 1 to ${MAX_STATEMENTS} Cedar statements.`, [
      { path: 'cedar', code: 'cedar_statements', message: `found ${statements.length} statements` },
    ]);
  }
  const answer = cedar.validate({
    schema: CEDAR_SCHEMA,
    policies: { staticPolicies: text },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type !== 'success') {
    throw new ProblemError(
      'invalid_request',
      'The Cedar text could not be validated.',
      answer.errors.map((error) => issue('cedar', 'cedar_error', error)),
    );
  }
  if (answer.validationErrors.length > 0) {
    const seen = new Set<string>();
    const issues: ProblemIssue[] = [];
    for (const { policyId, error } of answer.validationErrors) {
      // Cedar reports one error per action a statement applies to; one per message and place is enough.
      const key = `${policyId}\u0000${error.message.replace(/ for SigID::Action::"[^"]*"$/, '')}\u0000${JSON.stringify(error.sourceLocations)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push(issue(statementPath(policyId), 'cedar_validation_error', error));
    }
    throw new ProblemError('invalid_request', "The Cedar text does not validate against SigID's schema.", issues);
  }
  return statements;
}

/** One policy as the engine takes it: its SigID id and Cedar text (already checked). */
export interface PolicySource {
  policy_id: string;
  cedar: string;
}

/** A tenant's policy set, parsed once in this process (as several Cedar sets: see `compilePolicySet`). */
export interface CompiledPolicySet {
  setId: string;
  /** Cedar statement id (`pol_….0`) → SigID policy id. */
  owners: ReadonlyMap<string, string>;
  /** Policies left out because their text no longer parses (none, unless the schema changed under them). */
  skipped: readonly string[];
  /** Whether any statement is a forbid whose action scope admits `issue_token`: if none, issuance needs no decision. */
  forbidsTokens: boolean;
  /**
   * Whether any statement can ask about the principal beyond its id (`principal in …`, `principal is
   * … in …`, `principal.attr`, `principal has …`): only then are its organizations and attributes read.
   */
  readsPrincipal: boolean;
}

/** An entity uid as one string: its qualified type and its id. */
const uidKey = (type: string, id: string) => `${type}\u0000${id}`;

interface StatementScope {
  effect: cedar.Effect;
  /** The actions its scope admits. */
  actions: ReadonlySet<string> | 'all';
  /** The one resource its scope admits (`resource == T::"id"`), as `uidKey`; undefined for any other constraint. */
  resource: string | undefined;
  /** Whether its scope or conditions ask about the principal's ancestors or attributes. */
  readsPrincipal: boolean;
}

/** What a statement's scope admits; null when Cedar cannot say (then: every request). */
function scopeOf(statement: string): StatementScope | null {
  const json = cedar.policyToJson(statement);
  if (json.type !== 'success') return null;
  const { effect, action, resource, principal } = json.json;
  const plain = (uid: cedar.EntityUidJson) => ('__entity' in uid ? uid.__entity : uid);
  const only = resource.op === '==' && 'entity' in resource ? plain(resource.entity) : undefined;
  const admitted: StatementScope['actions'] =
    action.op === 'All' || 'slot' in action
      ? 'all'
      : 'entities' in action
        ? new Set(action.entities.map((uid) => plain(uid).id))
        : new Set([plain(action.entity).id]);
  // The scope's `principal in …` (or `is … in …`); in the conditions, any `principal.`, `has`, `in` or
  // `is` (`is … in …`): a false positive costs one read per decision, never a wrong one.
  const scoped = principal.op === 'in' || (principal.op === 'is' && 'in' in principal && principal.in !== undefined);
  const conditionsAt = statement.search(/\b(when|unless)\b/);
  const conditions = conditionsAt < 0 ? '' : statement.slice(conditionsAt);
  const readsPrincipal = scoped || /\bprincipal\s*(\.|\bhas\b|\bin\b|\bis\b)/.test(conditions);
  return { effect, actions: admitted, resource: only ? uidKey(only.type, only.id) : undefined, readsPrincipal };
}

/** Where a compiled set's Cedar sets are: one per action, and one per resource a statement names alone. */
interface Slices {
  /** Cedar set id per action: its statements that name no single resource. */
  base: ReadonlyMap<CedarAction, string>;
  /** Cedar set id per action and `uidKey` of a resource some statement names alone: the base ones and those. */
  named: ReadonlyMap<string, string>;
  /** The actions whose base set holds no statement. */
  emptyBase: ReadonlySet<CedarAction>;
}

const slices = new WeakMap<CompiledPolicySet, Slices>();

/** The Cedar set a request is decided against. */
function sliceFor(set: CompiledPolicySet, action: CedarAction, resource: cedar.TypeAndId): string {
  const known = slices.get(set);
  if (!known) throw new Error('a policy set compiled elsewhere');
  return known.named.get(`${action}\u0000${uidKey(resource.type, resource.id)}`) ?? (known.base.get(action) as string);
}

/**
 * Whether no statement of the set can match a request for this action and resource (one SigID built
 * itself, so valid by construction): then Cedar's answer is known without asking, deny with no
 * reason and no error. The issuer skips such decisions; `POST /api/v1/authorize` always asks, so a
 * request that does not fit the schema is refused even by a tenant without policies.
 */
export function nothingCanMatch(set: CompiledPolicySet, action: CedarAction, resource: RequestEntity): boolean {
  const known = slices.get(set);
  if (!known?.emptyBase.has(action)) return false;
  const type = sigidTypes.has(resource.type) ? resource.type : 'Resource';
  return !known.named.has(`${action}\u0000${uidKey(qualified(type), resource.id)}`);
}

function statementsOf(policy: PolicySource): string[] | null {
  const parts = cedar.policySetTextToParts(policy.cedar);
  return parts.type === 'success' ? parts.policies : null;
}

/**
 * Parses the policies into Cedar policy sets under `setId` (replacing any of that id), each
 * statement named `{policy_id}.{n}`, so a decision's reasons map back to SigID ids. Cedar evaluates
 * every statement of a set, and one whose scope does not match the request is never satisfied and
 * never errs (the scope is checked before the conditions), so leaving it out changes no decision,
 * reason or error. So a request is decided against the statements that can match its action and
 * resource only: one set per action, and per resource that statements name alone
 * (`resource == SigID::Scope::"payments:refund"`) one set with those added.
 */
export function compilePolicySet(setId: string, policies: readonly PolicySource[]): CompiledPolicySet {
  const general = new Map<CedarAction, Record<string, string>>(ACTIONS.map((action) => [action, {}]));
  const byResource = new Map<string, { action: CedarAction; statements: Record<string, string> }>();
  const owners = new Map<string, string>();
  const skipped: string[] = [];
  let forbidsTokens = false;
  let readsPrincipal = false;
  for (const policy of policies) {
    const statements = statementsOf(policy);
    if (!statements) {
      skipped.push(policy.policy_id);
      continue;
    }
    for (const [index, statement] of statements.entries()) {
      const id = `${policy.policy_id}.${index}`;
      owners.set(id, policy.policy_id);
      const scope = scopeOf(statement);
      readsPrincipal ||= scope?.readsPrincipal !== false;
      for (const action of ACTIONS) {
        if (scope && scope.actions !== 'all' && !scope.actions.has(action)) continue;
        if (action === 'issue_token' && scope?.effect !== 'permit') forbidsTokens = true;
        if (scope?.resource === undefined) {
          (general.get(action) as Record<string, string>)[id] = statement;
          continue;
        }
        const key = `${action}\u0000${scope.resource}`;
        const named = byResource.get(key) ?? { action, statements: {} };
        named.statements[id] = statement;
        byResource.set(key, named);
      }
    }
  }
  const parse = (id: string, staticPolicies: Record<string, string>) => {
    const parsed = cedar.preparsePolicySet(id, { staticPolicies });
    if (parsed.type !== 'success') throw new Error(`a checked policy set does not parse: ${parsed.errors[0]?.message}`);
    return id;
  };
  const base = new Map<CedarAction, string>();
  for (const [action, statements] of general) base.set(action, parse(`${setId}/${action}`, statements));
  const named = new Map<string, string>();
  let slot = 0;
  for (const [key, { action, statements }] of byResource) {
    named.set(key, parse(`${setId}/${action}/${slot++}`, { ...general.get(action), ...statements }));
  }
  const emptyBase = new Set(
    [...general].filter(([, statements]) => Object.keys(statements).length === 0).map(([action]) => action),
  );
  const compiled: CompiledPolicySet = { setId, owners, skipped, forbidsTokens, readsPrincipal };
  slices.set(compiled, { base, named, emptyBase });
  return compiled;
}

/** The request context of SigID's schema (`RequestContext`). */
export interface RequestContext {
  time: number;
  amr: readonly string[];
  delegation_depth: number;
  ip?: string | undefined;
  mfa_age_seconds?: number | undefined;
  approval_age_seconds?: number | undefined;
  organization?: string | undefined;
  operation?: string | undefined;
  /** The kinds of an agent's verified, unrevoked anchors; empty for anyone else. */
  anchor_kinds?: readonly string[] | undefined;
  /** Seconds since the freshest of those verifications. */
  anchor_verified_age_seconds?: number | undefined;
}

/** An entity of a request: a SigID type (`User`) or, for resources, a tenant's own kind (`invoice`). */
export interface RequestEntity {
  type: string;
  id: string;
  /** A tenant resource's string attributes (Cedar tags); a principal's attributes (an agent's `status`, `owner_type`, `owner_id`). */
  attributes?: Readonly<Record<string, string>> | undefined;
  /** A principal's organizations (ids): it is `in` each (read only when a policy can ask, `readsPrincipal`). */
  organizations?: readonly string[] | undefined;
}

export interface AuthorizationRequest {
  principal: RequestEntity;
  action: CedarAction;
  resource: RequestEntity;
  /** For a `Scope` resource: its API's identifier (the scope is `in` the API). */
  scopeApi?: string | undefined;
  context: RequestContext;
}

export interface Decision {
  decision: 'allow' | 'deny';
  /** SigID ids of the policies whose statements decided (permits for allow, forbids for deny). */
  policies: string[];
  /** Statements that failed to evaluate (skipped, as Cedar does), by SigID id. */
  errors: Array<{ policy_id: string; message: string }>;
}

/** The address as Cedar's `ip()` takes it: an IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`) as IPv4. */
export function cedarIp(address: string): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const plain = mapped ?? address;
  return isIP(plain) === 0 ? undefined : plain;
}

const sigidTypes = new Set<string>(RESOURCE_TYPES);
const qualified = (type: string) => `${CEDAR_NAMESPACE}::${type}`;

function cedarContext(context: RequestContext): cedar.Context {
  const out: cedar.Context = { time: context.time, amr: [...context.amr], delegation_depth: context.delegation_depth };
  const ip = context.ip === undefined ? undefined : cedarIp(context.ip);
  if (ip !== undefined) out.ip = { __extn: { fn: 'ip', arg: ip } };
  if (context.mfa_age_seconds !== undefined) out.mfa_age_seconds = context.mfa_age_seconds;
  if (context.approval_age_seconds !== undefined) out.approval_age_seconds = context.approval_age_seconds;
  if (context.organization !== undefined) out.organization = context.organization;
  if (context.operation !== undefined) out.operation = context.operation;
  out.anchor_kinds = [...(context.anchor_kinds ?? [])];
  if (context.anchor_verified_age_seconds !== undefined) {
    out.anchor_verified_age_seconds = context.anchor_verified_age_seconds;
  }
  return out;
}

/** The request as Cedar takes it: a tenant's own resource kind becomes a `Resource` with `kind` and tags. */
function cedarRequest(request: AuthorizationRequest) {
  const { resource } = request;
  const entities: cedar.EntityJson[] = [];
  let resourceUid: cedar.TypeAndId;
  if (sigidTypes.has(resource.type)) {
    resourceUid = { type: qualified(resource.type), id: resource.id };
    if (resource.type === 'Scope') {
      const parents = request.scopeApi === undefined ? [] : [{ type: qualified('Api'), id: request.scopeApi }];
      entities.push({ uid: resourceUid, attrs: { value: resource.id }, parents });
    } else if (resource.type === 'Resource') {
      entities.push({ uid: resourceUid, attrs: { kind: 'Resource' }, parents: [], tags: { ...resource.attributes } });
    }
  } else {
    resourceUid = { type: qualified('Resource'), id: resource.id };
    entities.push({ uid: resourceUid, attrs: { kind: resource.type }, parents: [], tags: { ...resource.attributes } });
  }
  const principalUid = { type: qualified(request.principal.type), id: request.principal.id };
  const { organizations, attributes } = request.principal;
  if (organizations?.length || (attributes && Object.keys(attributes).length > 0)) {
    entities.push({
      uid: principalUid,
      attrs: { ...attributes },
      parents: (organizations ?? []).map((id) => ({ type: qualified('Organization'), id })),
    });
  }
  return {
    principal: principalUid,
    action: { type: qualified('Action'), id: request.action },
    resource: resourceUid,
    context: cedarContext(request.context),
    entities,
  };
}

/** Cedar refused the request itself (a principal or resource type the action does not apply to, a bad context). */
export class RequestRejected extends Error {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    super(diagnostics[0]?.message ?? 'the request does not match the schema');
    this.diagnostics = diagnostics;
  }
}

/** The set of a tenant without policies: every request is still checked against the schema. */
const EMPTY_SET = compilePolicySet('sigid:empty', []);

/** Cedar's decision on one request against a compiled set, with SigID ids; no set means no policy: deny. */
export function decide(compiled: CompiledPolicySet | null, request: AuthorizationRequest): Decision {
  const set = compiled ?? EMPTY_SET;
  const call = cedarRequest(request);
  const answer = cedar.statefulIsAuthorized({
    ...call,
    preparsedPolicySetId: sliceFor(set, request.action, call.resource),
    preparsedSchemaName: SCHEMA_NAME,
    validateRequest: true,
  });
  if (answer.type !== 'success') throw new RequestRejected(answer.errors);
  const owner = (id: string) => set.owners.get(id) ?? id;
  return {
    decision: answer.response.decision,
    policies: [...new Set(answer.response.diagnostics.reason.map(owner))],
    errors: answer.response.diagnostics.errors.map(({ policyId, error }) => ({
      policy_id: owner(policyId),
      message: error.message,
    })),
  };
}

/** The same request against the same policies through cedar-wasm's plain `isAuthorized` (parsing them each time): for the benchmark. */
export function decideUnprepared(
  policies: Record<string, string>,
  request: AuthorizationRequest,
): cedar.AuthorizationAnswer {
  return cedar.isAuthorized({
    ...cedarRequest(request),
    policies: { staticPolicies: policies },
    schema: CEDAR_SCHEMA,
    validateRequest: true,
  });
}
