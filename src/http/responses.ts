import { z } from 'zod';
import { allProblemCodes, type ProblemCode } from '../errors.ts';

/**
 * The shapes the HTTP API answers with, as zod schemas with an example each: the OpenAPI document
 * (src/http/openapi.ts) is generated from them, and `test/openapi.int.test.ts` checks live answers
 * against them, so the documented shape and the rendered one cannot drift apart.
 */

// `format: date-time` says it; the regex zod would add only bloats every schema.
const time = z.iso.datetime().meta({
  override: ({ jsonSchema }) => {
    delete jsonSchema.pattern;
  },
});
const nullableTime = time.nullable();
const at = '2026-11-23T18:14:09.769Z';
const later = '2026-11-23T18:20:00.000Z';

const ids = {
  tenant: 'ten_01m8ss33wneb9v44rcnyhd0h3c',
  key: 'key_01m8ss33wqeezr2ckpxsdbsp05',
  operator: 'op_01m8ss33wqeezr2ckr8f7terad',
  endpoint: 'whk_01m8ss33wqeezr2ckygsw9kcq8',
  message: 'msg_01m8ss33wqeezr2cm3nge1twg9',
  request: 'req_01m8ss33wqeezr2cm50dz23yjj',
  application: 'app_01m8ss33wqeezr2cmaq9j1f4yv',
  api: 'api_01m8ss33wqeezr2cmbv1xw2c6d',
  policy: 'pol_01m8ss33wqeezr2cmdq7t9k3xf',
  role: 'rol_01m8w5a7y3exdt48qje61g3w01',
  organization: 'org_01m8ss33wqeezr2cmd4rk8hq2e',
  connection: 'con_01m8ss33wqeezr2cmg7c2v4d9f',
  sub: 'sub_01m8ss33wqeezr2cmf0n7y5g3a',
  event: '01a23391-8816-7119-9a03-102ceb82365e',
  kid: 'kid_01m8ss33wqeezr2cm7k2qz3x1a',
  nextKid: 'kid_01m8ss33wqeezr2cm9dq4hy7bn',
};

const tenantExample = {
  id: ids.tenant,
  object: 'tenant' as const,
  slug: 'acme',
  name: 'Acme',
  status: 'active' as const,
  issuer: 'https://sigid.example.com/t/acme',
  created_at: at,
  updated_at: later,
};

/** A tenant as the operator sees it. */
export const tenantResponse = z
  .object({
    id: z.string().meta({ description: 'The tenant id, `ten_…`.' }),
    object: z.literal('tenant'),
    slug: z.string().meta({ description: 'Unique platform-wide and never changed: part of the issuer.' }),
    name: z.string(),
    status: z.enum(['active', 'suspended']),
    issuer: z.url().meta({ description: "The tenant's OIDC issuer, `{PUBLIC_URL}/t/{slug}`." }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Tenant', examples: [tenantExample] });

const apiKeyExample = {
  id: ids.key,
  object: 'api_key' as const,
  name: 'CI deploys',
  created_by: ids.operator,
  created_at: at,
};

/** A tenant admin key, never its secret. */
export const apiKeyResponse = z
  .object({
    id: z.string().meta({ description: 'The key id, `key_…`.' }),
    object: z.literal('api_key'),
    name: z.string(),
    created_by: z.string().meta({ description: 'Who issued it: an operator (`op_…`) or another key (`key_…`).' }),
    created_at: time,
  })
  .meta({ id: 'ApiKey', examples: [apiKeyExample] });

const keyExample = `sigid_sk_${ids.key.slice(4)}_Xq3vJm9T0bW8yLk2dA5sF7gH1jK4lZ6c`;
const keyField = z.string().meta({ description: 'The key itself, `sigid_sk_…`: shown only in this answer.' });

/** A key just issued: the only answer that carries the key itself. */
export const newApiKeyResponse = apiKeyResponse
  .extend({ key: keyField })
  .meta({ id: 'NewApiKey', examples: [{ ...apiKeyExample, key: keyExample }] });

/** `POST /tenants`: the tenant and its first admin key. */
export const newTenantResponse = z
  .object({
    tenant: tenantResponse,
    api_key: z.object({ id: z.string(), object: z.literal('api_key'), name: z.string(), key: keyField }),
  })
  .meta({
    id: 'NewTenant',
    examples: [
      {
        tenant: tenantExample,
        api_key: { id: ids.key, object: 'api_key', name: 'Initial admin key', key: keyExample },
      },
    ],
  });

const endpointExample = {
  id: ids.endpoint,
  object: 'webhook_endpoint' as const,
  url: 'https://hooks.example.com/sigid',
  event_types: ['agent.*', 'webhook.endpoint.disabled'],
  description: null,
  status: 'enabled' as const,
  disabled_reason: null,
  disabled_detail: null,
  disabled_at: null,
  created_at: at,
  updated_at: at,
};

/** A webhook endpoint; `disabled_*` say why and since when it is not delivering. */
export const webhookEndpointResponse = z
  .object({
    id: z.string().meta({ description: 'The endpoint id, `whk_…`.' }),
    object: z.literal('webhook_endpoint'),
    url: z.string(),
    event_types: z.array(z.string()),
    description: z.string().nullable(),
    status: z.enum(['enabled', 'disabled']),
    disabled_reason: z.enum(['manual', 'gone', 'failing']).nullable(),
    disabled_detail: z.string().nullable(),
    disabled_at: nullableTime,
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'WebhookEndpoint', examples: [endpointExample] });

const secretExample = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwRz7tVq4cPxg=';
const secretField = z
  .string()
  .meta({ description: 'The signing secret, `whsec_` + base64 (Standard Webhooks): shown only in this answer.' });

/** A webhook endpoint just created, with its signing secret. */
export const newWebhookEndpointResponse = webhookEndpointResponse
  .extend({ secret: secretField })
  .meta({ id: 'NewWebhookEndpoint', examples: [{ ...endpointExample, secret: secretExample }] });

/** `POST /webhooks/{id}/rotate-secret`: the new secret and when the old one stops signing. */
export const webhookSecretResponse = z
  .object({
    object: z.literal('webhook_secret'),
    endpoint_id: z.string(),
    secret: secretField,
    previous_secret_expires_at: time,
  })
  .meta({
    id: 'WebhookSecret',
    examples: [
      { object: 'webhook_secret', endpoint_id: ids.endpoint, secret: secretExample, previous_secret_expires_at: later },
    ],
  });

const applicationExample = {
  id: ids.application,
  object: 'application' as const,
  kind: 'web' as const,
  client_id: 'Jc2mQ0n6xvB1sH9aYpL3tZ7k',
  client_name: 'Acme dashboard',
  application_type: 'web' as const,
  redirect_uris: ['https://app.acme.example/callback'],
  post_logout_redirect_uris: ['https://app.acme.example/'],
  grant_types: ['authorization_code' as const, 'refresh_token' as const],
  response_types: ['code' as const],
  token_endpoint_auth_method: 'client_secret_basic' as const,
  require_pkce: true,
  logo_uri: null,
  allowed_origins: [],
  access_token_ttl_seconds: 3600,
  id_token_ttl_seconds: 3600,
  refresh_token_ttl_seconds: 2592000,
  backchannel_token_delivery_mode: null,
  backchannel_client_notification_endpoint: null,
  previous_secret_expires_at: null,
  revision: 0,
  created_at: at,
  updated_at: at,
};

const uris = z.array(z.string());

/** An application (an OAuth client) with its RFC 7591 metadata; never a secret. */
export const applicationResponse = z
  .object({
    id: z.string().meta({ description: 'The application id, `app_…`.' }),
    object: z.literal('application'),
    kind: z.enum(['web', 'spa', 'native', 'm2m']).meta({
      description: 'web: confidential; spa and native: public, PKCE S256 required; m2m: client_credentials only.',
    }),
    client_id: z.string().meta({ description: 'Unique within the tenant; never changes.' }),
    client_name: z.string(),
    application_type: z.enum(['web', 'native']),
    redirect_uris: uris.meta({ description: 'Compared as exact strings (a native loopback URI on any port).' }),
    post_logout_redirect_uris: uris,
    grant_types: z.array(
      z.enum(['authorization_code', 'refresh_token', 'client_credentials', 'urn:openid:params:grant-type:ciba']),
    ),
    response_types: z.array(z.literal('code')),
    token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'none']),
    require_pkce: z.boolean().meta({ description: 'PKCE with S256 required at the authorization endpoint.' }),
    logo_uri: z.string().nullable(),
    allowed_origins: uris.meta({ description: 'Origins allowed to call the token endpoint from a browser (CORS).' }),
    access_token_ttl_seconds: z.int(),
    id_token_ttl_seconds: z.int(),
    refresh_token_ttl_seconds: z.int(),
    backchannel_token_delivery_mode: z.enum(['poll', 'ping']).nullable().meta({
      description:
        'CIBA (with the `urn:openid:params:grant-type:ciba` grant): the client polls, or is pinged at its notification endpoint. Null without the grant.',
    }),
    backchannel_client_notification_endpoint: z.string().nullable().meta({
      description:
        'CIBA ping mode: where SigID POSTs `{"auth_req_id"}` once the person decided (https, or http to a host of `SIGID_WEBHOOK_ALLOWLIST`). Null otherwise.',
    }),
    previous_secret_expires_at: nullableTime.meta({
      description: 'While a rotated-out client secret still works: until when. Null otherwise.',
    }),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag`.' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Application', examples: [applicationExample] });

const apiExample = {
  id: ids.api,
  object: 'api' as const,
  name: 'Billing',
  identifier: 'https://billing.acme.example/api',
  scopes: [
    { value: 'invoices:read', description: 'Read invoices' },
    { value: 'invoices:write', description: 'Create and change invoices' },
  ],
  access_token_ttl_seconds: 3600,
  revision: 0,
  created_at: at,
  updated_at: at,
};

/** An API (a resource server): its identifier, the scopes it defines, its access tokens' lifetime. */
export const apiResponse = z
  .object({
    id: z.string().meta({ description: 'The API id, `api_…`.' }),
    object: z.literal('api'),
    name: z.string(),
    identifier: z.string().meta({
      description: "The RFC 8707 `resource` value and its tokens' `aud`: unique within the tenant; never changes.",
    }),
    scopes: z.array(z.object({ value: z.string(), description: z.string() })),
    access_token_ttl_seconds: z.int(),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag`.' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Api', examples: [apiExample] });

const apiGrantExample = {
  object: 'api_grant' as const,
  api_id: ids.api,
  application_id: ids.application,
  scopes: ['invoices:read'],
  created_at: at,
  updated_at: at,
};

/** Which of an API's scopes one application may get. */
export const apiGrantResponse = z
  .object({
    object: z.literal('api_grant'),
    api_id: z.string(),
    application_id: z.string(),
    scopes: z.array(z.string()).meta({ description: "Each one of the API's scopes." }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'ApiGrant', examples: [apiGrantExample] });

const organizationExample = {
  id: ids.organization,
  object: 'organization' as const,
  name: 'acme',
  display_name: 'Acme Corporation',
  metadata: { tier: 'gold' },
  revision: 0,
  created_at: at,
  updated_at: at,
};

/** An organization: a business unit or customer account of the tenant. */
export const organizationResponse = z
  .object({
    id: z.string().meta({ description: 'The organization id, `org_…`.' }),
    object: z.literal('organization'),
    name: z.string().meta({
      description: "Lowercase, slug-like, unique within the tenant and fixed: the tokens' `org_name`.",
    }),
    display_name: z.string(),
    metadata: z.record(z.string(), z.string()),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag`.' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Organization', examples: [organizationExample] });

const organizationMemberExample = {
  object: 'organization_member' as const,
  organization_id: ids.organization,
  sub: ids.sub,
  roles: ['rol_01m8ss33wqeezr2cmg3v9c1x7d'],
  created_at: at,
  updated_at: at,
};

/** A member of an organization: a tenant user by `sub`, with organization roles. */
export const organizationMemberResponse = z
  .object({
    object: z.literal('organization_member'),
    organization_id: z.string(),
    sub: z.string().meta({ description: "The user's pairwise `sub` in the tenant." }),
    roles: z.array(z.string()).meta({ description: 'Role ids (`rol_…`).' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'OrganizationMember', examples: [organizationMemberExample] });

const connectionExample = {
  id: ids.connection,
  object: 'connection' as const,
  organization_id: ids.organization,
  name: 'Acme Okta',
  protocol: 'oidc' as const,
  enabled: true,
  oidc: {
    issuer: 'https://acme.okta.com',
    client_id: '0oa8sigid',
    client_secret_set: true as const,
    scopes: ['openid', 'email', 'profile'],
    claim_mapping: {
      email: 'email',
      email_verified: 'email_verified',
      name: 'name',
      given_name: 'given_name',
      family_name: 'family_name',
      roles: 'groups',
    },
  },
  role_mapping: { admins: ids.role },
  link_existing_accounts: false,
  callback_url: 'https://sigid.example.com/t/acme/sso/callback',
  revision: 0,
  created_at: at,
  updated_at: at,
};

const claimName = z.string().meta({ description: 'The name of an IdP claim.' });

/** An organization's SSO connection: OIDC federation to its identity provider (`saml` comes later). */
export const connectionResponse = z
  .object({
    id: z.string().meta({ description: 'The connection id, `con_…`.' }),
    object: z.literal('connection'),
    organization_id: z.string(),
    name: z.string(),
    protocol: z
      .enum(['oidc'])
      .meta({ description: 'Which settings object holds the IdP: `oidc` (later also `saml`).' }),
    enabled: z.boolean().meta({ description: 'Whether sign-ins are routed to it.' }),
    oidc: z
      .object({
        issuer: z.string().meta({ description: "The IdP's issuer identifier; its discovery document was checked." }),
        client_id: z.string().meta({ description: "SigID's client id at the IdP." }),
        client_secret_set: z
          .literal(true)
          .meta({ description: 'The client secret is stored sealed and never answered.' }),
        scopes: z.array(z.string()),
        claim_mapping: z.object({
          email: claimName,
          email_verified: claimName.nullable(),
          name: claimName.nullable(),
          given_name: claimName.nullable(),
          family_name: claimName.nullable(),
          roles: claimName.nullable(),
        }),
      })
      .nullable(),
    role_mapping: z
      .record(z.string(), z.string())
      .meta({ description: 'IdP role values (of `claim_mapping.roles`) → tenant role ids.' }),
    link_existing_accounts: z.boolean(),
    callback_url: z.url().meta({ description: "The redirect URI to register for SigID's client at the IdP." }),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag`.' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Connection', examples: [connectionExample] });

const organizationDomainExample = {
  object: 'organization_domain' as const,
  organization_id: ids.organization,
  domain: 'acme.com',
  status: 'pending' as const,
  verification: {
    type: 'TXT' as const,
    name: '_sigid-challenge.acme.com',
    value: 'sigid-domain-verification=3q2Vq8m1Yx0L5bH7dTn9KfW2pR4sJ6gA0cE8uZ1iOyM',
  },
  verified_at: null,
  created_at: at,
};

/** A domain of an organization: pending with the TXT record to publish, or verified (then the organization's alone). */
export const organizationDomainResponse = z
  .object({
    object: z.literal('organization_domain'),
    organization_id: z.string(),
    domain: z.string().meta({ description: 'Lowercase, IDNA A-label form.' }),
    status: z.enum(['pending', 'verified']),
    verification: z
      .object({ type: z.literal('TXT'), name: z.string(), value: z.string() })
      .meta({ description: 'The TXT record that proves the domain: publish `value` at `name`, then verify.' }),
    verified_at: nullableTime,
    created_at: time,
  })
  .meta({ id: 'OrganizationDomain', examples: [organizationDomainExample] });

const roleExample = {
  id: ids.role,
  object: 'role' as const,
  name: 'Accountant',
  description: 'Reads and writes invoices',
  permissions: [
    { api_id: ids.api, scope: 'invoices:read' },
    { api_id: ids.api, scope: 'invoices:write' },
  ],
  revision: 0,
  created_at: at,
  updated_at: at,
};

/** A role: a named bundle of permissions, each a scope of one of the tenant's APIs. */
export const roleResponse = z
  .object({
    id: z.string().meta({ description: 'The role id, `rol_…`.' }),
    object: z.literal('role'),
    name: z.string().meta({ description: 'Unique within the tenant, compared case-insensitively.' }),
    description: z.string(),
    permissions: z
      .array(z.object({ api_id: z.string(), scope: z.string() }))
      .meta({ description: "Scopes of the tenant's APIs (by API id) the role grants." }),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag` (assignments move it too).' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Role', examples: [roleExample] });

const roleAssignmentExample = {
  object: 'role_assignment' as const,
  role_id: ids.role,
  sub: ids.sub,
  organization_id: null,
  created_at: at,
};

/** One holder of a role: a tenant's user by `sub`, in the whole tenant (`organization_id` null). */
export const roleAssignmentResponse = z
  .object({
    object: z.literal('role_assignment'),
    role_id: z.string(),
    sub: z.string().meta({ description: "The user's `sub` at this tenant." }),
    organization_id: z.string().nullable().meta({ description: 'null: the assignment holds in the whole tenant.' }),
    created_at: time,
  })
  .meta({ id: 'RoleAssignment', examples: [roleAssignmentExample] });

/** How a tenant's access tokens carry roles. */
export const roleClaimsResponse = z
  .object({
    object: z.literal('role_claims'),
    roles_claim: z.string().nullable().meta({
      description: "The claim of a user's role names in their API tokens (default `roles`); null: not carried.",
    }),
    permissions_claim: z.string().nullable().meta({
      description:
        "The claim of the scopes the user's roles grant on the token's API (default `permissions`); null: not carried.",
    }),
    enforce_permissions: z.boolean().meta({
      description: "Whether a user's API token carries only the scopes their roles grant on that API (default false).",
    }),
  })
  .meta({
    id: 'RoleClaims',
    examples: [
      {
        object: 'role_claims' as const,
        roles_claim: 'roles',
        permissions_claim: 'permissions',
        enforce_permissions: false,
      },
    ],
  });

/** Which clients the tenant never registered may use its issuer. */
export const clientRegistrationResponse = z
  .object({
    object: z.literal('client_registration'),
    client_id_metadata_documents: z.boolean().meta({
      description:
        'Whether a client_id that is an https URL is fetched as an OAuth Client ID Metadata Document and used as a client (default false).',
    }),
    dynamic_registration: z.boolean().meta({
      description:
        'Whether RFC 7591 dynamic registration at `POST /t/{slug}/reg` creates applications (default false).',
    }),
  })
  .meta({
    id: 'ClientRegistration',
    examples: [
      { object: 'client_registration' as const, client_id_metadata_documents: true, dynamic_registration: false },
    ],
  });

/** RFC 9728 metadata of SigID's own API. */
export const protectedResourceResponse = z
  .object({
    resource: z.string().meta({ description: "SigID's API: `{PUBLIC_URL}/api/v1`." }),
    authorization_servers: z.array(z.string()).meta({
      description: 'Empty: the API takes SigID API keys and operator keys, which no OAuth server issues.',
    }),
    bearer_methods_supported: z.array(z.string()),
    scopes_supported: z.array(z.string()),
    resource_name: z.string(),
    resource_documentation: z.string(),
  })
  .meta({
    id: 'ProtectedResourceMetadata',
    examples: [
      {
        resource: 'https://sigid.example.com/api/v1',
        authorization_servers: [],
        bearer_methods_supported: ['header'],
        scopes_supported: [],
        resource_name: 'SigID API',
        resource_documentation: 'https://sigid.example.com/api/v1/openapi.json',
      },
    ],
  });

const policyCedarExample =
  'forbid(principal, action == SigID::Action::"delete", resource)\nunless { context has mfa_age_seconds && context.mfa_age_seconds <= 300 };';

const policyExample = {
  id: ids.policy,
  object: 'policy' as const,
  name: 'Fresh MFA for deletes',
  description: 'Deleting anything needs a second factor within five minutes.',
  cedar: policyCedarExample,
  enabled: true,
  version: 1,
  revision: 0,
  created_at: at,
  updated_at: at,
};

/** A tenant's Cedar policy at its latest version. */
export const policyResponse = z
  .object({
    id: z.string().meta({ description: 'The policy id, `pol_…`.' }),
    object: z.literal('policy'),
    name: z.string(),
    description: z.string(),
    cedar: z
      .string()
      .meta({ description: "Cedar policy text (one or more statements), valid against SigID's schema." }),
    enabled: z.boolean().meta({ description: 'Whether its statements take part in decisions.' }),
    version: z.int().min(1).meta({ description: 'Moves on each change of name, description or text.' }),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag`.' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Policy', examples: [policyExample] });

const policyVersionExample = {
  object: 'policy_version' as const,
  policy_id: ids.policy,
  version: 1,
  name: policyExample.name,
  description: policyExample.description,
  cedar: policyCedarExample,
  created_at: at,
};

/** One version of a policy, as its event recorded it. */
export const policyVersionResponse = z
  .object({
    object: z.literal('policy_version'),
    policy_id: z.string(),
    version: z.int().min(1),
    name: z.string(),
    description: z.string(),
    cedar: z.string(),
    created_at: time,
  })
  .meta({ id: 'PolicyVersion', examples: [policyVersionExample] });

/** SigID's Cedar schema, in Cedar's text and JSON forms. */
export const policySchemaResponse = z
  .object({
    object: z.literal('policy_schema'),
    namespace: z.string(),
    cedar: z.string().meta({ description: 'The schema in Cedar schema syntax.' }),
    json: z.record(z.string(), z.unknown()).meta({ description: 'The same schema in Cedar JSON schema form.' }),
    actions: z.array(z.string()),
    principal_types: z.array(z.string()),
  })
  .meta({
    id: 'PolicySchema',
    examples: [
      {
        object: 'policy_schema',
        namespace: 'SigID',
        cedar: 'namespace SigID {\n  entity User in [Organization];\n  …\n}\n',
        json: { SigID: { entityTypes: { User: { memberOfTypes: ['Organization'] } }, actions: {} } },
        actions: ['issue_token', 'read', 'list', 'create', 'update', 'delete', 'invoke'],
        principal_types: ['User', 'Agent', 'Application'],
      },
    ],
  });

/** Cedar's decision on a request, with the SigID ids of the policies that decided it. */
export const authorizationDecisionResponse = z
  .object({
    object: z.literal('authorization_decision'),
    decision: z.enum(['allow', 'deny']),
    policies: z.array(z.string()).meta({
      description:
        'The policies whose statements decided: the permits for allow, the forbids for deny (empty: no permit applied).',
    }),
    errors: z
      .array(z.object({ policy_id: z.string(), message: z.string() }))
      .meta({ description: 'Statements that failed to evaluate and were skipped, by policy.' }),
  })
  .meta({
    id: 'AuthorizationDecision',
    examples: [{ object: 'authorization_decision', decision: 'allow', policies: [ids.policy], errors: [] }],
  });

const userExample = {
  id: 'sub_01m8ss33wqeezr2cmd5h0tqz0e',
  object: 'user' as const,
  status: 'active' as const,
  email: 'ada@example.com',
  email_verified: true,
  name: 'Ada Lovelace',
  given_name: 'Ada',
  family_name: 'Lovelace',
  picture: null,
  metadata: { plan: 'pro' },
  revision: 1,
  created_at: at,
  updated_at: at,
  last_sign_in_at: at,
  deleted_at: null,
};

const nullableText = () => z.string().nullable();

/** A tenant's user: the person behind a pairwise sub, as the tenant holds them. */
export const userResponse = z
  .object({
    id: z.string().meta({ description: "The user's sub at this tenant's issuer, `sub_…` (the tokens' `sub`)." }),
    object: z.literal('user'),
    status: z.enum(['active', 'blocked', 'deleted']),
    email: nullableText().meta({ description: "The tenant's copy of the account's address (null once deleted)." }),
    email_verified: z.boolean(),
    name: nullableText(),
    given_name: nullableText(),
    family_name: nullableText(),
    picture: nullableText().meta({ description: 'An https URL.' }),
    metadata: z.record(z.string(), z.unknown()).meta({ description: "A small JSON object of the tenant's own." }),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag`.' }),
    created_at: time,
    updated_at: time,
    last_sign_in_at: time.nullable(),
    deleted_at: time.nullable().meta({ description: 'When the user was deleted (tombstones only).' }),
  })
  .meta({ id: 'User', examples: [userExample] });

const userSessionExample = {
  id: 'Bz0y3w5f8G2kqJ7dX1mN4',
  object: 'session' as const,
  signed_in_at: at,
  expires_at: at,
  clients: ['app_01m8ss33wqeezr2cmaq9j1f4yv'],
};

/** A user's sign-in session at the tenant's issuer. */
export const userSessionResponse = z
  .object({
    id: z.string().meta({ description: "The session's uid (never its cookie)." }),
    object: z.literal('session'),
    signed_in_at: time.nullable(),
    expires_at: time.nullable(),
    clients: z.array(z.string()).meta({ description: 'The client_ids the session signed in to.' }),
  })
  .meta({ id: 'UserSession', examples: [userSessionExample] });

/** How many sessions a revocation ended. */
export const sessionRevocationResponse = z
  .object({ object: z.literal('session_revocation'), revoked: z.int().min(0) })
  .meta({ id: 'SessionRevocation', examples: [{ object: 'session_revocation', revoked: 2 }] });

const invitationExample = {
  id: 'inv_01m8ss33wqeezr2cmf0w2zq1xs',
  object: 'invitation' as const,
  status: 'pending' as const,
  email: 'grace@example.com',
  roles: ['rol_01m8ss33wqeezr2cmf0w2zq1xt'],
  organization_id: null,
  expires_at: at,
  accepted_sub: null,
  revision: 0,
  created_at: at,
  updated_at: at,
};

/** An invitation to join the tenant, by e-mail, with roles and optionally an organization, granted on acceptance. */
export const invitationResponse = z
  .object({
    id: z.string().meta({ description: 'The invitation id, `inv_…`.' }),
    object: z.literal('invitation'),
    status: z.enum(['pending', 'accepted', 'revoked', 'expired']),
    email: z.string().nullable(),
    roles: z.array(z.string()).meta({
      description:
        'Role ids (`rol_…`) granted on acceptance: tenant-level assignments, or the roles in `organization_id` when it is set.',
    }),
    organization_id: z
      .string()
      .nullable()
      .meta({ description: 'The organization (`org_…`) the person becomes a member of on acceptance, or null.' }),
    expires_at: time,
    accepted_sub: z.string().nullable().meta({ description: 'The user who accepted it, `sub_…`.' }),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag`.' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Invitation', examples: [invitationExample] });

const clientSecretExample = 'sigid_cs_3q2Vq8m1Yx0L5bH7dTn9KfW2pR4sJ6gA0cE8uZ1iOyM';
const clientSecretField = z
  .string()
  .meta({ description: 'The client secret, `sigid_cs_…`: shown only in this answer, kept only as a hash.' });
const neverExpires = z
  .literal(0)
  .meta({ description: 'RFC 7591: 0, the secret does not expire (a rotation retires it).' });

/** An application just created: a confidential one with its client secret. */
export const newApplicationResponse = applicationResponse
  .extend({ client_secret: clientSecretField.optional(), client_secret_expires_at: neverExpires.optional() })
  .meta({
    id: 'NewApplication',
    examples: [{ ...applicationExample, client_secret: clientSecretExample, client_secret_expires_at: 0 }],
  });

/** `POST /applications/{id}/secrets`: the new secret, and until when the previous one works. */
export const clientSecretResponse = z
  .object({
    object: z.literal('client_secret'),
    application_id: z.string(),
    client_id: z.string(),
    client_secret: clientSecretField,
    client_secret_expires_at: neverExpires,
    previous_secret_expires_at: time,
  })
  .meta({
    id: 'ClientSecret',
    examples: [
      {
        object: 'client_secret',
        application_id: ids.application,
        client_id: applicationExample.client_id,
        client_secret: clientSecretExample,
        client_secret_expires_at: 0,
        previous_secret_expires_at: later,
      },
    ],
  });

const attemptExample = {
  object: 'webhook_attempt' as const,
  message_id: ids.message,
  attempt: 1,
  attempted_at: at,
  outcome: 'failed' as const,
  response_status: 503,
  latency_ms: 412,
  response_body: 'upstream unavailable',
  error: null,
  next_attempt_at: later,
};

/** One delivery attempt of a message. */
export const webhookAttemptResponse = z
  .object({
    object: z.literal('webhook_attempt'),
    message_id: z.string(),
    attempt: z.int().min(1),
    attempted_at: time,
    outcome: z.enum(['succeeded', 'failed']),
    response_status: z.int().nullable(),
    latency_ms: z.int().nullable(),
    response_body: z.string().nullable().meta({ description: 'The first 4 KiB of what the receiver answered.' }),
    error: z.string().nullable(),
    next_attempt_at: nullableTime,
  })
  .meta({ id: 'WebhookAttempt', examples: [attemptExample] });

const messageExample = {
  id: ids.message,
  object: 'webhook_message' as const,
  endpoint_id: ids.endpoint,
  event_id: ids.event,
  event_type: 'tenant.renamed',
  event_position: 42,
  origin: 'stream' as const,
  status: 'pending' as const,
  attempts: 1,
  next_attempt_at: later,
  last_attempt_at: at,
  last_response_status: 503,
  last_error: null,
  created_at: at,
  finished_at: null,
};

/** One event queued for one endpoint, and where its delivery stands. */
export const webhookMessageResponse = z
  .object({
    id: z.string().meta({ description: 'The message id, `msg_…`.' }),
    object: z.literal('webhook_message'),
    endpoint_id: z.string(),
    event_id: z.string().meta({ description: 'The event id: the `webhook-id` header of every attempt.' }),
    event_type: z.string(),
    event_position: z.int(),
    origin: z.enum(['stream', 'redelivery', 'replay']),
    status: z.enum(['pending', 'delivered', 'failed', 'cancelled']),
    attempts: z.int().min(0),
    next_attempt_at: nullableTime,
    last_attempt_at: nullableTime,
    last_response_status: z.int().nullable(),
    last_error: z.string().nullable(),
    created_at: time,
    finished_at: nullableTime,
  })
  .meta({ id: 'WebhookMessage', examples: [messageExample] });

/** One message with every attempt made to deliver it. */
export const webhookMessageWithAttemptsResponse = webhookMessageResponse
  .extend({ attempt_log: z.array(webhookAttemptResponse) })
  .meta({ id: 'WebhookMessageWithAttempts', examples: [{ ...messageExample, attempt_log: [attemptExample] }] });

/** `POST /webhooks/{id}/replay`: how much was queued, and where to continue when truncated. */
export const webhookReplayResponse = z
  .object({
    object: z.literal('webhook_replay'),
    endpoint_id: z.string(),
    enqueued: z.int().min(0),
    last_position: z.int().nullable(),
    truncated: z
      .boolean()
      .meta({ description: 'More events matched: replay again with `after_position: last_position`.' }),
  })
  .meta({
    id: 'WebhookReplay',
    examples: [
      { object: 'webhook_replay', endpoint_id: ids.endpoint, enqueued: 12, last_position: 42, truncated: false },
    ],
  });

/** An event type a webhook endpoint can subscribe to, from the catalog. */
export const eventTypeResponse = z
  .object({
    type: z.string(),
    version: z.int().min(1),
    description: z.string(),
    personal_fields: z.array(z.string()).meta({ description: 'Fields that read as null once the subject is erased.' }),
  })
  .meta({
    id: 'EventType',
    examples: [{ type: 'tenant.renamed', version: 1, description: 'The tenant got a new name.', personal_fields: [] }],
  });

const actor = z
  .object({ type: z.enum(['operator', 'api_key', 'user', 'agent', 'system']), id: z.string() })
  .meta({ id: 'Actor', examples: [{ type: 'operator', id: ids.operator }] });

const eventData = z
  .record(z.string(), z.unknown())
  .meta({ description: "The event's data as the catalog defines it." });

/** One audit-log entry: who did what to which target, when, under which request. */
export const auditLogEntryResponse = z
  .object({
    id: z.string().meta({ description: 'The event id.' }),
    object: z.literal('audit_log_entry'),
    position: z.int().meta({ description: 'The global position of the event.' }),
    time: time,
    action: z.string().meta({ description: 'The event type.' }),
    actor,
    target: z.object({ type: z.string(), id: z.string() }),
    tenant_id: z.string(),
    correlation_id: z.string().nullable(),
    causation_id: z.string().nullable(),
    data: eventData,
  })
  .meta({
    id: 'AuditLogEntry',
    examples: [
      {
        id: ids.event,
        object: 'audit_log_entry',
        position: 2,
        time: at,
        action: 'tenant.renamed',
        actor: { type: 'operator', id: ids.operator },
        target: { type: 'tenant', id: ids.tenant },
        tenant_id: ids.tenant,
        correlation_id: ids.request,
        causation_id: null,
        data: { name: 'Acme Inc' },
      },
    ],
  });

/** One raw event of the tenant's stream, as exported to auditors. */
export const eventResponse = z
  .object({
    id: z.string(),
    type: z.string(),
    version: z.int().min(1),
    stream: z.string(),
    revision: z.int().min(0),
    position: z.int(),
    tenant_id: z.string(),
    actor,
    correlation_id: z.string().nullable(),
    causation_id: z.string().nullable(),
    time: time,
    data: eventData,
  })
  .meta({
    id: 'Event',
    examples: [
      {
        id: ids.event,
        type: 'tenant.renamed',
        version: 1,
        stream: `${ids.tenant}-${ids.tenant}`,
        revision: 1,
        position: 2,
        tenant_id: ids.tenant,
        actor: { type: 'operator', id: ids.operator },
        correlation_id: ids.request,
        causation_id: null,
        time: at,
        data: { name: 'Acme Inc' },
      },
    ],
  });

const base64url = z.string().meta({ description: 'base64url, no padding.' });
const jwkIdentity = {
  kid: z.string().meta({ description: 'The key id, `kid_…`: the `kid` header of what it signs.' }),
  alg: z.enum(['ES256', 'RS256']),
  use: z.literal('sig'),
};

/** A public signing key as a JWK (RFC 7517): public members only, so a private one fails this schema. */
const publicJwk = z
  .union([
    z.strictObject({ kty: z.literal('EC'), crv: z.literal('P-256'), x: base64url, y: base64url, ...jwkIdentity }),
    z.strictObject({ kty: z.literal('RSA'), n: base64url, e: base64url, ...jwkIdentity }),
  ])
  .meta({
    id: 'PublicJwk',
    examples: [
      {
        kty: 'EC',
        crv: 'P-256',
        x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
        y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
        kid: ids.kid,
        alg: 'ES256',
        use: 'sig',
      },
    ],
  });

/** A tenant's branding: every field filled in, the defaults where the tenant set none. */
export const brandingResponse = z
  .object({
    object: z.literal('branding'),
    display_name: z.string().meta({ description: "The name the hosted pages show; the tenant's name by default." }),
    logo_uri: z.string().nullable().meta({ description: 'An https URL (http only on localhost); null: no logo.' }),
    primary_color: z.string().meta({ description: '`#rrggbb`; `#2f5bea` by default.' }),
    background_color: z.string().meta({ description: '`#rrggbb`; `#f4f5f7` by default.' }),
  })
  .meta({
    id: 'Branding',
    examples: [
      {
        object: 'branding' as const,
        display_name: 'Acme',
        logo_uri: 'https://cdn.acme.example/logo.svg',
        primary_color: '#2f5bea',
        background_color: '#f4f5f7',
      },
    ],
  });

/** A tenant's MFA policy. */
export const mfaPolicyResponse = z
  .object({
    object: z.literal('mfa_policy'),
    mode: z.enum(['off', 'optional', 'required']).meta({
      description:
        'off: no second factor asked; optional (the default): asked when the account has one; required: an account without one enrolls at sign-in.',
    }),
    required_for_applications: z.array(z.string()).meta({
      description: 'Application ids (`app_…`) whose sign-ins require a second factor whatever the mode.',
    }),
  })
  .meta({
    id: 'MfaPolicy',
    examples: [
      { object: 'mfa_policy' as const, mode: 'optional' as const, required_for_applications: [ids.application] },
    ],
  });

const signingKeyExample = {
  id: ids.kid,
  object: 'signing_key' as const,
  alg: 'ES256' as const,
  use: 'sig' as const,
  status: 'active' as const,
  public_jwk: {
    kty: 'EC' as const,
    crv: 'P-256' as const,
    x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
    y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    kid: ids.kid,
    alg: 'ES256' as const,
    use: 'sig' as const,
  },
  created_at: at,
  activated_at: at,
  retire_at: null,
  retired_at: null,
};

/** A signing key of the tenant's OIDC issuer: its public JWK, where it is in its life, and when. */
export const signingKeyResponse = z
  .object({
    id: z.string().meta({ description: 'The key id, `kid_…`.' }),
    object: z.literal('signing_key'),
    alg: z.enum(['ES256', 'RS256']),
    use: z.literal('sig'),
    status: z.enum(['next', 'active', 'retiring', 'retired']).meta({
      description:
        '`next`: published, signs after the next rotation; `active`: signs; `retiring`: published until `retire_at`, no longer signs; `retired`: gone from the JWKS, private part destroyed.',
    }),
    public_jwk: publicJwk,
    created_at: time,
    activated_at: nullableTime,
    retire_at: nullableTime.meta({ description: 'Until when a superseded key stays published.' }),
    retired_at: nullableTime,
  })
  .meta({ id: 'SigningKey', examples: [signingKeyExample] });

/** `POST /signing-keys/rotate`: the keys published after it. */
export const signingKeyRotationResponse = z
  .object({
    object: z.literal('signing_key_rotation'),
    initialized: z.boolean().meta({
      description: 'The tenant had no keys: this request made its first ones (an active and a next key per algorithm).',
    }),
    keys: z
      .array(signingKeyResponse)
      .meta({ description: 'Every key that is not retired: active, next and retiring ones.' }),
  })
  .meta({
    id: 'SigningKeyRotation',
    examples: [
      {
        object: 'signing_key_rotation',
        initialized: false,
        keys: [
          signingKeyExample,
          {
            ...signingKeyExample,
            id: ids.nextKid,
            status: 'next',
            public_jwk: {
              ...signingKeyExample.public_jwk,
              kid: ids.nextKid,
              x: 'MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4',
              y: '4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM',
            },
            activated_at: null,
          },
        ],
      },
    ],
  });

/** A page of a list: `next_cursor` goes into `starting_after` for the next page. */
export function listResponse<Item extends z.ZodType>(id: string, item: Item, example: unknown) {
  return z
    .object({
      object: z.literal('list'),
      data: z.array(item),
      has_more: z.boolean(),
      next_cursor: z.string().nullable(),
    })
    .meta({ id, examples: [{ object: 'list', data: [example], has_more: false, next_cursor: null }] });
}

export const tenantListResponse = listResponse('TenantList', tenantResponse, tenantExample);
export const apiKeyListResponse = listResponse('ApiKeyList', apiKeyResponse, apiKeyExample);
export const webhookEndpointListResponse = listResponse(
  'WebhookEndpointList',
  webhookEndpointResponse,
  endpointExample,
);
export const applicationListResponse = listResponse('ApplicationList', applicationResponse, applicationExample);
export const apiListResponse = listResponse('ApiList', apiResponse, apiExample);
export const apiGrantListResponse = listResponse('ApiGrantList', apiGrantResponse, apiGrantExample);
export const invitationListResponse = listResponse('InvitationList', invitationResponse, invitationExample);
export const userListResponse = listResponse('UserList', userResponse, userExample);
export const userSessionListResponse = listResponse('UserSessionList', userSessionResponse, userSessionExample);
export const policyListResponse = listResponse('PolicyList', policyResponse, policyExample);
export const policyVersionListResponse = listResponse('PolicyVersionList', policyVersionResponse, policyVersionExample);
export const roleListResponse = listResponse('RoleList', roleResponse, roleExample);
export const connectionListResponse = listResponse('ConnectionList', connectionResponse, connectionExample);
export const roleAssignmentListResponse = listResponse(
  'RoleAssignmentList',
  roleAssignmentResponse,
  roleAssignmentExample,
);
export const organizationListResponse = listResponse('OrganizationList', organizationResponse, organizationExample);
export const organizationMemberListResponse = listResponse(
  'OrganizationMemberList',
  organizationMemberResponse,
  organizationMemberExample,
);
export const organizationDomainListResponse = listResponse(
  'OrganizationDomainList',
  organizationDomainResponse,
  organizationDomainExample,
);
export const webhookMessageListResponse = listResponse('WebhookMessageList', webhookMessageResponse, messageExample);
export const signingKeyListResponse = listResponse('SigningKeyList', signingKeyResponse, signingKeyExample);
export const eventTypeListResponse = listResponse('EventTypeList', eventTypeResponse, {
  type: 'tenant.renamed',
  version: 1,
  description: 'The tenant got a new name.',
  personal_fields: [],
});

/** The attempt log: newest first, paged by `before` (the last `attempted_at` seen). */
export const webhookAttemptListResponse = z
  .object({ object: z.literal('list'), data: z.array(webhookAttemptResponse), has_more: z.boolean() })
  .meta({ id: 'WebhookAttemptList', examples: [{ object: 'list', data: [attemptExample], has_more: false }] });

/** An audit-log page, pageable both ways. */
export const auditLogListResponse = z
  .object({
    object: z.literal('list'),
    data: z.array(auditLogEntryResponse),
    has_more: z
      .boolean()
      .meta({ description: 'Whether more entries lie beyond this page in the direction it was paged.' }),
    next_cursor: z.string().nullable().meta({ description: 'Send as `starting_after` for the next page.' }),
    previous_cursor: z.string().nullable().meta({ description: 'Send as `ending_before` for the page before.' }),
  })
  .meta({
    id: 'AuditLogList',
    examples: [{ object: 'list', data: [], has_more: false, next_cursor: null, previous_cursor: null }],
  });

/** `GET /healthz`. */
export const healthResponse = z
  .object({ status: z.literal('ok') })
  .meta({ id: 'Health', examples: [{ status: 'ok' }] });

/** `GET /readyz`: each dependency's check. */
export const readinessResponse = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional(), lag: z.int().optional() })),
  })
  .meta({
    id: 'Readiness',
    examples: [
      {
        status: 'ready',
        checks: { database: { ok: true }, event_store: { ok: true }, projections: { ok: true, lag: 0 } },
      },
    ],
  });

/** RFC 9457 problem+json; `code` is one of `problemCodes` (src/errors.ts). */
export const problemResponse = z
  .object({
    type: z.url().meta({ description: '`https://sigid.dev/problems/{code}`.' }),
    title: z.string(),
    status: z.int(),
    code: z.enum(allProblemCodes as [ProblemCode, ...ProblemCode[]]),
    detail: z.string(),
    instance: z.string().optional().meta({ description: 'The path of the request.' }),
    errors: z
      .array(
        z.object({
          path: z.string(),
          message: z.string(),
          code: z.string(),
          help: z.string().optional().meta({ description: 'How to fix it (Cedar diagnostics).' }),
          locations: z
            .array(z.object({ start: z.int(), end: z.int() }))
            .optional()
            .meta({ description: 'Character offsets in the submitted Cedar text.' }),
        }),
      )
      .optional()
      .meta({ description: 'Each issue of an invalid request.' }),
  })
  .meta({
    id: 'Problem',
    examples: [
      {
        type: 'https://sigid.dev/problems/invalid_request',
        title: 'Invalid request',
        status: 400,
        code: 'invalid_request',
        detail: 'The request body is not valid.',
        instance: '/api/v1/tenants',
        errors: [{ path: 'slug', message: 'lowercase letters, digits and inner hyphens', code: 'invalid_format' }],
      },
    ],
  });

const agentIds = {
  agent: 'agt_01m8ss33wqeezr2cmg1a7c4d5e',
  challenge: 'chl_01m8ss33wqeezr2cmh2b8d5e6f',
  kid: 'Xd1n0VpFzLqM3kK0a3v8b6x6p8z4bRrjq0Tq0mY7l1s',
};

const agentExample = {
  id: agentIds.agent,
  object: 'agent' as const,
  name: 'Invoice bot',
  description: 'Files and reads invoices',
  owner: { type: 'organization' as const, id: ids.organization },
  status: 'active' as const,
  allowed_scopes: [{ api_id: ids.api, scopes: ['invoices:read', 'invoices:write'] }],
  delegation: {
    scopes: ['invoices:read'],
    max_lifetime_seconds: 300,
    audiences: ['https://billing.example.com/api'],
    max_chain_depth: 1,
  },
  agent_card: { enabled: true, url: 'https://agents.example.com/invoice-bot' },
  client_id: agentIds.agent,
  did: `did:web:id.example.com:t:acme:agents:${agentIds.agent}`,
  revision: 0,
  created_at: at,
  updated_at: at,
};

/** An agent: a software principal of the tenant with a stable id, an owner, allowed scopes and delegation limits. */
export const agentResponse = z
  .object({
    id: z.string().meta({ description: 'The agent id, `agt_…`: stable wherever the agent runs, never used again.' }),
    object: z.literal('agent'),
    name: z.string(),
    description: z.string(),
    owner: z
      .object({ type: z.enum(['user', 'organization']), id: z.string() })
      .meta({ description: "One of the tenant's users (by `sub`) or organizations." }),
    status: z.enum(['active', 'suspended']),
    allowed_scopes: z
      .array(z.object({ api_id: z.string(), scopes: z.array(z.string()) }))
      .meta({ description: 'The scopes of each API the agent may get for itself.' }),
    delegation: z
      .object({
        scopes: z.array(z.string()),
        max_lifetime_seconds: z.int(),
        audiences: z.array(z.string()),
        max_chain_depth: z.int(),
      })
      .meta({ description: 'What the agent may be delegated when it acts for someone.' }),
    agent_card: z.object({ enabled: z.boolean(), url: z.string().nullable() }).meta({
      description: 'Whether `/t/{slug}/agents/{id}/agent-card.json` is published, and the service URL it names.',
    }),
    client_id: z.string().meta({ description: "The agent's client_id at the tenant issuer (its id)." }),
    did: z.string().meta({ description: 'Its did:web DID, whose document SigID hosts.' }),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag` (key changes move it too).' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Agent', examples: [agentExample] });

export const agentListResponse = listResponse('AgentList', agentResponse, agentExample);

const delegationExample = {
  id: 'dlg_01m8ss33wqeezr2cmj3c9e6f7g',
  object: 'delegation' as const,
  agent_id: agentIds.agent,
  sub: 'sub_01m8w5a7y4ev9tmgwgbm8sfzqa',
  audience: 'https://billing.example.com/api',
  scopes: ['invoices:read'],
  expires_at: at,
  max_chain_depth: 1,
  depth: 1,
  parent_delegation_id: null,
  consent: { type: 'api' as const, actor: 'key_01m8ss33wqeezr2cmg7c2v4d9f' },
  status: 'active' as const,
  revoked_reason: null,
  revoked_at: null,
  revision: 0,
  created_at: at,
  updated_at: at,
};

/** A delegation: a user lets an agent act for them on one API, with a few scopes, until a time (docs/delegation.md). */
export const delegationResponse = z
  .object({
    id: z.string().meta({ description: 'The delegation id, `dlg_…`: the `delegation_id` of its tokens.' }),
    object: z.literal('delegation'),
    agent_id: z.string(),
    sub: z.string().meta({ description: "The delegating user's `sub` at this tenant." }),
    audience: z.string().meta({ description: 'The API identifier its tokens are for (their `aud`).' }),
    scopes: z.array(z.string()),
    expires_at: time,
    max_chain_depth: z.int().min(1),
    depth: z
      .int()
      .min(1)
      .meta({ description: 'How many actors deep its tokens are (1: the agent acts for the user).' }),
    parent_delegation_id: z.string().nullable(),
    consent: z
      .union([
        z.object({ type: z.literal('api'), actor: z.string() }),
        z.object({ type: z.literal('approval'), approval_id: z.string() }),
      ])
      .meta({ description: 'Where the consent came from.' }),
    status: z.enum(['active', 'revoked', 'expired']),
    revoked_reason: z.string().nullable(),
    revoked_at: time.nullable(),
    revision: z.int().min(0),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Delegation', examples: [delegationExample] });

export const delegationListResponse = listResponse('DelegationList', delegationResponse, delegationExample);

const agentKeyExample = {
  object: 'agent_key' as const,
  kid: agentIds.kid,
  agent_id: agentIds.agent,
  status: 'active' as const,
  jwk: {
    kty: 'OKP',
    crv: 'Ed25519',
    x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
    kid: agentIds.kid,
    alg: 'Ed25519',
    use: 'sig',
  },
  created_at: at,
  updated_at: at,
};

/** One public key of an agent. */
export const agentKeyResponse = z
  .object({
    object: z.literal('agent_key'),
    kid: z.string().meta({ description: "The key's RFC 7638 thumbprint (SHA-256, base64url)." }),
    agent_id: z.string(),
    status: z
      .enum(['active', 'deprecated'])
      .meta({ description: '`active` signs client assertions; `deprecated` is a verification method only.' }),
    jwk: z.record(z.string(), z.string()).meta({ description: 'The public JWK, with `kid`, `alg` and `use`.' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'AgentKey', examples: [agentKeyExample] });

export const agentKeyListResponse = listResponse('AgentKeyList', agentKeyResponse, agentKeyExample);

const agentAnchorExample = {
  object: 'agent_anchor' as const,
  id: 'anc_01m8ss33wqeezr2cmj3c9e6f7g',
  agent_id: agentIds.agent,
  kind: 'did_key' as const,
  anchor: { kind: 'did_key', did: 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp' },
  value: 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp',
  status: 'verified' as const,
  evidence: {
    kind: 'did_key',
    key_id: 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp',
    alg: 'EdDSA',
  },
  verified_at: at,
  revoked_at: null,
  revocation_reason: null,
  created_at: at,
  updated_at: at,
};

/** One identity anchor of an agent. */
export const agentAnchorResponse = z
  .object({
    object: z.literal('agent_anchor'),
    id: z.string().meta({ description: 'The anchor id, `anc_…`.' }),
    agent_id: z.string(),
    kind: z.enum(['did_key', 'did_web', 'erc8004', 'client_credentials']),
    anchor: z.record(z.string(), z.unknown()).meta({
      description:
        'The anchor as added: `{kind, did}`, `{kind: "erc8004", chain_id, registry, agent_id}` or `{kind: "client_credentials", kid}`.',
    }),
    value: z.string().meta({ description: 'The anchored identity, unique among the tenant’s agents.' }),
    status: z.enum(['unverified', 'verified', 'revoked']).meta({
      description: 'Only `verified` counts (for tokens and policies); `unverified` and `revoked` grant nothing.',
    }),
    evidence: z
      .record(z.string(), z.unknown())
      .nullable()
      .meta({ description: 'What the latest verification proved (key id, document hash, on-chain owner…).' }),
    verified_at: time.nullable(),
    revoked_at: time.nullable(),
    revocation_reason: z.enum(['revoked', 'agent_suspended', 'agent_deleted', 'key_revoked']).nullable(),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'AgentAnchor', examples: [agentAnchorExample] });

export const agentAnchorListResponse = listResponse('AgentAnchorList', agentAnchorResponse, agentAnchorExample);

/** A single-use challenge bound to the agent and one of its anchors. */
export const agentAnchorChallengeResponse = z
  .object({
    object: z.literal('challenge'),
    id: z.string(),
    agent_id: z.string(),
    anchor_id: z.string(),
    purpose: z.literal('agent_anchor'),
    nonce: z.string().meta({
      description:
        'Sign exactly these characters: as a compact JWS payload (did:key, did:web, client_credentials), an EIP-191 message or the EIP-712 `challenge` (erc8004).',
    }),
    expires_at: time,
  })
  .meta({
    id: 'AgentAnchorChallenge',
    examples: [
      {
        object: 'challenge',
        id: agentIds.challenge,
        agent_id: agentIds.agent,
        anchor_id: agentAnchorExample.id,
        purpose: 'agent_anchor',
        nonce: 'q5n3rVt0Q2c6yK0oXb8m1J4sWzE7uHfA9dLpGiRkT1U',
        expires_at: later,
      },
    ],
  });

/** A page of an agent's activity (audit-log entries where it is the target or the actor). */
export const agentActivityResponse = z
  .object({
    object: z.literal('list'),
    data: z.array(auditLogEntryResponse),
    has_more: z.boolean(),
    next_cursor: z.string().nullable().meta({ description: 'Send as `starting_after` for the next page.' }),
  })
  .meta({ id: 'AgentActivity', examples: [{ object: 'list', data: [], has_more: false, next_cursor: null }] });

/** A single-use challenge to sign with the key being registered. */
export const agentChallengeResponse = z
  .object({
    object: z.literal('challenge'),
    id: z.string(),
    agent_id: z.string(),
    purpose: z.enum(['agent_key', 'agent_anchor']),
    nonce: z.string().meta({ description: 'Sign exactly these characters as a compact JWS with the key.' }),
    expires_at: time,
  })
  .meta({
    id: 'AgentChallenge',
    examples: [
      {
        object: 'challenge',
        id: agentIds.challenge,
        agent_id: agentIds.agent,
        purpose: 'agent_key',
        nonce: 'q5n3rVt0Q2c6yK0oXb8m1J4sWzE7uHfA9dLpGiRkT1U',
        expires_at: later,
      },
    ],
  });
