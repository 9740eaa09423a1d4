import { LRUCache } from 'lru-cache';
import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import { findOrganizationMember } from '../../read-models/organization-members.ts';
import { findOrganization, findOrganizationByName } from '../../read-models/organizations.ts';
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
    fetch: guardedFetch(sigid.config.clientMetadataAllowlist, {
      ...(sigid.config.webhooks.resolve ? { resolve: sigid.config.webhooks.resolve } : {}),
    }),
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
