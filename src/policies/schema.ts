/**
 * The Cedar schema every tenant's policies are validated against (strict mode) and every request
 * is checked against: published at `GET /api/v1/policies/schema`, explained in docs/policies.md.
 */

/** The Cedar namespace of SigID's entity types and actions. */
export const CEDAR_NAMESPACE = 'SigID';

/** The principals a request may name. */
export const PRINCIPAL_TYPES = ['User', 'Agent', 'Application'] as const;

/** SigID's own resource entity types; any other `resource.type` is a tenant's own, a `Resource` with `kind`. */
export const RESOURCE_TYPES = ['User', 'Agent', 'Application', 'Organization', 'Api', 'Scope', 'Resource'] as const;

/** `issue_token` is what the issuer asks; the others are for tenant APIs through `POST /api/v1/authorize`. */
export const ACTIONS = ['issue_token', 'read', 'list', 'create', 'update', 'delete', 'invoke'] as const;
export type CedarAction = (typeof ACTIONS)[number];

const TENANT_ACTIONS = ACTIONS.filter((action) => action !== 'issue_token')
  .map((action) => `"${action}"`)
  .join(', ');

export const CEDAR_SCHEMA = `// SigID's Cedar schema: principals, resources, actions and the request context.
namespace ${CEDAR_NAMESPACE} {
  // What every request carries. Optional attributes need a \`has\` test before use.
  type RequestContext = {
    // When the request is made, in seconds since the epoch.
    time: Long,
    // How the person signed in (RFC 8176 values: "pwd", "otp", "hwk", "mfa"...); empty for applications.
    amr: Set<String>,
    // 0 for a principal acting for itself, 1 for an agent acting for a person, and so on.
    delegation_depth: Long,
    // The caller's address.
    ip?: ipaddr,
    // Seconds since the person's last second factor.
    mfa_age_seconds?: Long,
    // Seconds since a person approved this request (CIBA), as the asking API read it from the approval's ID token.
    approval_age_seconds?: Long,
    // The organization the request is made in.
    organization?: String,
    // The tenant's own name for what is asked ("delete_invoice"), beside the action.
    operation?: String,
    // The kinds of the agent's verified, unrevoked identity anchors ("did_key", "did_web", "erc8004",
    // "client_credentials"); empty for users, applications and unanchored agents.
    anchor_kinds: Set<String>,
    // Seconds since the freshest verification of those anchors.
    anchor_verified_age_seconds?: Long,
  };

  entity Organization;
  // A user is \`in\` every organization they are a member of.
  entity User in [Organization];
  // An agent is \`in\` the organization that owns it; its status ("active", "suspended") and owner.
  entity Agent in [Organization] { status?: String, owner_type?: String, owner_id?: String };
  entity Application;
  // An API (resource server), by its identifier (the RFC 8707 resource).
  entity Api;
  // One scope of an API, by its value; it is \`in\` its API.
  entity Scope in [Api] { value: String };
  // A tenant's own resource: \`kind\` is the request's resource type ("invoice"); its string attributes are tags.
  entity Resource { kind: String } tags String;

  // Asked by the issuer for every token for an API (resource: the Api) and every scope it would carry (resource: the Scope).
  action issue_token appliesTo {
    principal: [User, Agent, Application],
    resource: [Api, Scope],
    context: RequestContext,
  };

  // For tenant APIs (POST /api/v1/authorize).
  action ${TENANT_ACTIONS} appliesTo {
    principal: [User, Agent, Application],
    resource: [Resource, User, Agent, Application, Organization, Api, Scope],
    context: RequestContext,
  };
}
`;
