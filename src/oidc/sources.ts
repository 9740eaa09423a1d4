import { LRUCache } from 'lru-cache';
import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import type { AgentApiScopes, DelegationLimits } from '../../events/agent.ts';
import { lastSuspension } from '../../read-models/agent-suspensions.ts';
import { findAgent } from '../../read-models/agents.ts';
import { type DelegationRow, findDelegation } from '../../read-models/delegations.ts';
import { findOrganizationMember } from '../../read-models/organization-members.ts';
import { findOrganization, findOrganizationByName } from '../../read-models/organizations.ts';
import { principalFacts } from '../../read-models/principals.ts';
import { findTenant, findTenantBySlug } from '../../read-models/tenants.ts';
import { requestApproval, subjectOfHint } from '../../services/approvals.ts';
import { useCase } from '../../services/context.ts';
import { recordSignIn, subjectClaims } from '../../services/sign-in.ts';
import { ensureSigningKeys, signingKeySet } from '../../services/signing-keys.ts';
import { clientRegistrationOfRow } from '../../services/tenant-settings.ts';
import { streamName } from '../event-store/port.ts';
import { isId, newId } from '../ids.ts';
import { renderIssuerPage } from '../pages/issuer-pages.ts';
import { policyDirectory } from '../policies/directory.ts';
import type { Sigid } from '../sigid.ts';
import { AgentClients, isAgentClient } from './agents.ts';
import { ApiDirectory } from './apis.ts';
import { cibaNotifier } from './ciba.ts';
import { guardedFetch } from './client-metadata-documents.ts';
import { CLIENT_CACHE_MS, ClientDirectory } from './clients.ts';
import type { IssuerTenant } from './issuers.ts';
import type { IssuerSources } from './provider.ts';
import { RoleDirectory } from './roles.ts';
import type { DelegationSources, DelegationView } from './token-exchange.ts';

/** SigID itself, when the issuer makes a tenant's first signing keys. */
const ISSUER_ACTOR = { type: 'system', id: 'oidc-issuer' } as const;

/** The stream of a tenant's metadata-document clients' events: `{tenant_id}-oauth_clients`. */
export const CLIENT_DOCUMENT_STREAM = 'oauth_clients';

/** What the issuers are built from: the applications, their hashed secrets, the APIs and their grants, the tenants' signing keys. */
export function issuerSources(sigid: Sigid): IssuerSources {
  const clients = new ClientDirectory(sigid);
  const apis = new ApiDirectory(sigid);
  const roles = new RoleDirectory(sigid);
  const policies = policyDirectory(sigid);
  const agents = new AgentClients(sigid);
  // The tenant's switches, read at most once per CLIENT_CACHE_MS per process (the bound on a change's reach).
  const registration = new LRUCache<string, ReturnType<typeof clientRegistrationOfRow>>({
    max: 10_000,
    ttl: CLIENT_CACHE_MS,
  });
  return {
    // An agent (`agt_…`) is a client too, read afresh on every request (src/oidc/agents.ts).
    clients: {
      find: (tenantId, clientId) =>
        isAgentClient(clientId) ? agents.find(tenantId, clientId) : clients.find(tenantId, clientId),
    },
    resourceServer: (tenantId, resource, clientId) =>
      isAgentClient(clientId)
        ? agents.resourceServer(tenantId, resource, clientId)
        : apis.find(tenantId, resource, clientId),
    subjectRoles: (tenantId, sub, organizationId) => roles.find(tenantId, sub, organizationId),
    policies: (tenantId) => policies.policySet(tenantId),
    verifyClientSecret: (tenantId, clientId, presented) => clients.verifySecret(tenantId, clientId, presented),
    async signingKeys(tenantId) {
      const set = await signingKeySet(sigid, tenantId);
      if (set.keys.length > 0) return set;
      // A tenant's issuer serves its first request: its keys are made now (once, whichever process asks).
      await ensureSigningKeys(
        sigid,
        tenantId,
        useCase({ tenantId: PLATFORM_TENANT, actor: ISSUER_ACTOR, correlationId: newId('req') }),
      );
      return signingKeySet(sigid, tenantId);
    },
    claims: (tenantId, sub, scope) => subjectClaims(sigid, tenantId, sub, scope),
    organizations: issuerOrganizations(sigid),
    async recordSessions(tenantId, events, correlationId) {
      const sub = String(events[0]?.data.sub ?? '');
      await recordSignIn(sigid, events as never, { tenantId, actor: { type: 'user', id: sub }, correlationId });
    },
    ciba: {
      subjectOfHint: (tenantId, hint) => subjectOfHint(sigid, tenantId, hint),
      async requested(tenantId, request) {
        await requestApproval(sigid, tenantId, request);
      },
      notify: cibaNotifier(sigid.config.webhooks.allowlist, sigid.config.webhooks.resolve),
    },
    page: (tenantId, page) => renderIssuerPage(sigid, tenantId, page),
    async clientRegistration(tenantId) {
      let settings = registration.get(tenantId);
      if (!settings) {
        settings = clientRegistrationOfRow(await findTenant(sigid.readModels, tenantId));
        registration.set(tenantId, settings);
      }
      return settings;
    },
    async recordClientMetadataDocument(tenantId, event, correlationId) {
      await sigid.log.append(streamName(tenantId, CLIENT_DOCUMENT_STREAM), [event as never], 'any', {
        tenantId,
        actor: { type: 'application', id: event.data.client_id },
        correlationId,
      });
    },
    delegations: issuerDelegations(sigid),
    principalFacts: (tenantId, principal) => principalFacts(sigid.readModels, tenantId, principal),
    fetch: guardedFetch(sigid.config.clientMetadataAllowlist, {
      ...(sigid.config.webhooks.resolve ? { resolve: sigid.config.webhooks.resolve } : {}),
    }),
  };
}

/**
 * One exchange's reads in one statement: the agent (status, limits, allowed scopes, last
 * suspension), whether the user is linked and not blocked, the API, and the active unexpired
 * delegations of the user to the agent for the API derived from the given parent (null: none).
 */
const EXCHANGE_STATE = `
  select
    (select json_build_object('status', a.status, 'delegation', a.delegation, 'allowed_scopes', a.allowed_scopes,
                              'suspended_at', s.suspended_at)
       from agents a left join agent_suspensions s on s.tenant_id = a.tenant_id and s.agent_id = a.agent_id
      where a.tenant_id = $1 and a.agent_id = $2) as agent,
    (exists (select 1 from account_links l where l.tenant_id = $1 and l.sub = $3)
      and not exists (select 1 from users u where u.tenant_id = $1 and u.sub = $3 and u.status <> 'active')) as user_active,
    (select json_build_object('api_id', p.api_id, 'scopes', p.scopes, 'ttl', p.access_token_ttl_seconds)
       from apis p where p.tenant_id = $1 and p.identifier = $4) as api,
    (select coalesce(json_agg(json_build_object('delegation_id', d.delegation_id, 'scopes', d.scopes,
                     'expires_at', d.expires_at, 'max_chain_depth', d.max_chain_depth, 'depth', d.depth,
                     'parent_delegation_id', d.parent_delegation_id) order by d.created_at desc), '[]'::json)
       from delegations d
      where d.tenant_id = $1 and d.agent_id = $2 and d.sub = $3 and d.audience = $4 and d.status = 'active'
        and d.expires_at > now() and d.parent_delegation_id is not distinct from $5::text) as candidates`;

/** A delegation row as the issuer reads it. */
function delegationView(row: DelegationRow): DelegationView {
  return {
    delegation_id: row.delegation_id,
    sub: row.sub,
    agent_id: row.agent_id,
    audience: row.audience,
    scopes: row.scopes,
    expires_at: row.expires_at,
    max_chain_depth: row.max_chain_depth,
    depth: row.depth,
    parent_delegation_id: row.parent_delegation_id,
    active: row.status === 'active',
  };
}

/** Delegations and agents read afresh on every request, never cached: a revocation or suspension is seen at once. */
function issuerDelegations(sigid: Sigid): DelegationSources {
  return {
    async exchangeState(tenantId, match) {
      const { rows } = await sigid.db.query<{
        agent: {
          status: string;
          delegation: DelegationLimits;
          allowed_scopes: AgentApiScopes[];
          suspended_at: string | null;
        } | null;
        user_active: boolean;
        api: { api_id: string; scopes: Array<{ value: string }>; ttl: number } | null;
        candidates: Array<
          Omit<DelegationView, 'expires_at' | 'active' | 'sub' | 'agent_id' | 'audience'> & {
            expires_at: string;
          }
        >;
      }>(EXCHANGE_STATE, [tenantId, match.agentId, match.sub, match.audience, match.parentId], 'sigid_exchange_state');
      const row = rows[0];
      const api = row?.api ?? null;
      const agent = row?.agent ?? null;
      return {
        agent: agent
          ? {
              active: agent.status === 'active',
              limits: agent.delegation,
              suspendedAt: agent.suspended_at ? new Date(agent.suspended_at) : undefined,
              allowedScopes: agent.allowed_scopes.find((entry) => entry.api_id === api?.api_id)?.scopes ?? [],
            }
          : undefined,
        userActive: row?.user_active === true,
        api: api
          ? {
              identifier: match.audience,
              scopes: new Set(api.scopes.map((scope) => scope.value)),
              accessTokenTtlSeconds: api.ttl,
            }
          : undefined,
        candidates: (row?.candidates ?? []).map((candidate) => ({
          ...candidate,
          sub: match.sub,
          agent_id: match.agentId,
          audience: match.audience,
          expires_at: new Date(candidate.expires_at),
          active: true,
        })),
      };
    },
    async delegation(tenantId, delegationId) {
      if (!isId('dlg', delegationId)) return undefined;
      const row = await findDelegation(sigid.readModels, tenantId, delegationId);
      return row ? delegationView(row) : undefined;
    },
    async agent(tenantId, agentId) {
      if (!isId('agt', agentId)) return undefined;
      const row = await findAgent(sigid.readModels, tenantId, agentId);
      if (!row) return undefined;
      return {
        active: row.status === 'active',
        limits: row.delegation,
        suspendedAt: await lastSuspension(sigid.readModels, tenantId, agentId),
      };
    },
  };
}

/** The tenant a slug names, if it is active (a suspended or deleted tenant's issuer answers nothing). */
export async function activeTenantBySlug(sigid: Sigid, slug: string): Promise<IssuerTenant | undefined> {
  const row = await findTenantBySlug(sigid.readModels, slug);
  return row?.status === 'active' ? { id: row.tenant_id, slug: row.slug } : undefined;
}

/** What an organization's name looks like (src/http/organizations.ts), any case: names are stored lowercase. */
const ORGANIZATION_NAME = /^[a-z0-9][a-z0-9_-]{0,49}$/i;

/** The tenants' organizations as the issuer reads them: by id (`org_…`) or by name, and their members. */
function issuerOrganizations(sigid: Sigid): IssuerSources['organizations'] {
  return {
    async organization(tenantId, idOrName) {
      // Only an id or a name can name one: anything else (NUL, a long string) is no query at all.
      if (!isId('org', idOrName) && !ORGANIZATION_NAME.test(idOrName)) return null;
      const row = isId('org', idOrName)
        ? await findOrganization(sigid.readModels, tenantId, idOrName)
        : await findOrganizationByName(sigid.readModels, tenantId, idOrName);
      return row ? { id: row.organization_id, name: row.name } : null;
    },
    async isMember(tenantId, organizationId, sub) {
      return (await findOrganizationMember(sigid.readModels, tenantId, organizationId, sub)) !== undefined;
    },
  };
}
