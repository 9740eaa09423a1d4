import { type Response, Router } from 'express';
import { z } from 'zod';
import {
  findOrganizationDomain,
  listOrganizationDomains,
  type OrganizationDomainRow,
} from '../../read-models/organization-domains.ts';
import {
  findOrganizationMember,
  listOrganizationMembers,
  type OrganizationMemberRow,
} from '../../read-models/organization-members.ts';
import { findOrganization, listOrganizations, type OrganizationRow } from '../../read-models/organizations.ts';
import {
  addOrganizationDomain,
  createOrganization,
  deleteOrganization,
  removeOrganizationDomain,
  removeOrganizationMember,
  setOrganizationMember,
  updateOrganization,
  verifyOrganizationDomain,
} from '../../services/organizations.ts';
import { NotFoundError } from '../errors.ts';
import { isId } from '../ids.ts';
import { normaliseDomain } from '../organizations/domains.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema } from '../text.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

/** The most roles one member holds in one organization, and the most metadata keys of an organization. */
export const MAX_MEMBER_ROLES = 50;
export const MAX_METADATA_KEYS = 25;

/** An organization's name: 1 to 50 lowercase letters, digits, `-` and `_`, starting with a letter or digit. */
export const organizationNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,49}$/, '1 to 50 lowercase letters, digits, - and _, starting with a letter or digit');

/** A role id (`rol_…`): its shape only, until the roles aggregate lands and the tenant's roles can be checked. */
export const roleIdSchema = z.string().regex(/^rol_[0-9a-hjkmnp-tv-z]{26}$/, 'a role id, rol_…');

const metadataSchema = z
  .record(lineSchema.min(1).max(255), lineSchema.max(255))
  .refine((value) => Object.keys(value).length <= MAX_METADATA_KEYS, `at most ${MAX_METADATA_KEYS} keys`);

const displayNameSchema = lineSchema.trim().min(1).max(255);

export const createOrganizationBody = z.strictObject({
  name: organizationNameSchema,
  display_name: displayNameSchema.optional(),
  metadata: metadataSchema.optional(),
});

export const updateOrganizationBody = z
  .strictObject({ display_name: displayNameSchema.optional(), metadata: metadataSchema.optional() })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

export const setMemberBody = z.strictObject({
  roles: z
    .array(roleIdSchema)
    .max(MAX_MEMBER_ROLES)
    .refine((roles) => new Set(roles).size === roles.length, 'a role is listed twice'),
});

export const addDomainBody = z.strictObject({
  domain: lineSchema.max(253).superRefine((value, context) => {
    const normalised = normaliseDomain(value);
    if ('refused' in normalised) context.addIssue({ code: 'custom', message: `the domain ${normalised.refused}` });
  }),
});

/** `?limit=&starting_after=` for a list of domains (a cursor is a domain, up to 253 characters). */
export const domainListQuery = listQuery.extend({ starting_after: z.string().max(253).optional() });

function organizationJson(row: OrganizationRow) {
  return {
    id: row.organization_id,
    object: 'organization',
    name: row.name,
    display_name: row.display_name,
    metadata: row.metadata,
    revision: Number(row.revision),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function memberJson(row: OrganizationMemberRow) {
  return {
    object: 'organization_member',
    organization_id: row.organization_id,
    sub: row.sub,
    roles: row.roles,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function domainJson(row: OrganizationDomainRow) {
  return {
    object: 'organization_domain',
    organization_id: row.organization_id,
    domain: row.domain,
    status: row.verified_at ? 'verified' : 'pending',
    verification: { type: 'TXT', name: row.record_name, value: row.token },
    verified_at: row.verified_at ? row.verified_at.toISOString() : null,
    created_at: row.created_at.toISOString(),
  };
}

/**
 * `/api/v1/organizations`: a tenant's organizations, their members (`/{id}/members/{sub}`) and their
 * domains (`/{id}/domains/{domain}`, verified by a DNS TXT proof). Every change is an event on the
 * organization's stream, so in the audit log.
 */
export function organizationsRouter(sigid: Sigid): Router {
  const router = Router();

  async function loadOrganization(response: Response, id: string) {
    const row = isId('org', id) ? await findOrganization(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The organization');
    return row;
  }

  /** A member or a domain of the organization as the read model has it now; gone (or never) is a 404. */
  async function loadMember(response: Response, organization: OrganizationRow, sub: string) {
    const row = await findOrganizationMember(sigid.readModels, tenantOf(response), organization.organization_id, sub);
    if (!row) throw new NotFoundError('The member');
    return row;
  }
  async function loadDomain(response: Response, organization: OrganizationRow, domain: string) {
    const row = await findOrganizationDomain(
      sigid.readModels,
      tenantOf(response),
      organization.organization_id,
      domain,
    );
    if (!row) throw new NotFoundError('The domain');
    return row;
  }

  async function respondWithOrganization(response: Response, organizationId: string, status = 200) {
    const row = await loadOrganization(response, organizationId);
    response
      .status(status)
      .set('ETag', etag(Number(row.revision)))
      .json(organizationJson(row));
  }

  /** A sub of the right shape, or 404 (whether it is the tenant's the service or the read model says). */
  function subOf(value: string, what = 'The member') {
    if (!isId('sub', value)) throw new NotFoundError(what);
    return value;
  }

  /** A path's domain, normalised as it was when added; anything that is no domain names none (404). */
  function domainOf(value: string) {
    const normalised = normaliseDomain(value);
    if ('refused' in normalised) throw new NotFoundError('The domain');
    return normalised.domain;
  }

  router.post('/', async (request, response) => {
    const body = parseBody(createOrganizationBody, request);
    const { organizationId, written } = await createOrganization(sigid, body, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.location(`/api/v1/organizations/${organizationId}`);
    await respondWithOrganization(response, organizationId, 201);
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const rows = await listOrganizations(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.organization_id, organizationJson));
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    await respondWithOrganization(response, (await loadOrganization(response, request.params.id)).organization_id);
  });

  router.patch('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateOrganizationBody, request);
    const row = await loadOrganization(response, request.params.id);
    const written = await updateOrganization(sigid, row.organization_id, body, {
      ...useCaseOf(request, response),
      ifMatch,
    });
    await consistent(sigid, request, written);
    await respondWithOrganization(response, row.organization_id);
  });

  router.delete('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadOrganization(response, request.params.id);
    const written = await deleteOrganization(sigid, row, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  router.get('/:id/members', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const organization = await loadOrganization(response, request.params.id);
    const rows = await listOrganizationMembers(sigid.readModels, tenantOf(response), organization.organization_id, {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.sub, memberJson));
  });

  router.put('/:id/members/:sub', async (request, response) => {
    const body = parseBody(setMemberBody, request);
    const organization = await loadOrganization(response, request.params.id);
    const sub = subOf(request.params.sub, 'The user');
    const written = await setOrganizationMember(sigid, organization, sub, body.roles, useCaseOf(request, response));
    await consistent(sigid, request, written);
    // Gone already: the organization was deleted since.
    const member = await loadMember(response, organization, sub);
    response.status(200).json(memberJson(member));
  });

  router.get('/:id/members/:sub', async (request, response) => {
    parseQuery(noQuery, request);
    const organization = await loadOrganization(response, request.params.id);
    const sub = subOf(request.params.sub);
    const member = await loadMember(response, organization, sub);
    response.json(memberJson(member));
  });

  router.delete('/:id/members/:sub', async (request, response) => {
    const organization = await loadOrganization(response, request.params.id);
    const sub = subOf(request.params.sub);
    const written = await removeOrganizationMember(sigid, organization, sub, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  router.post('/:id/domains', async (request, response) => {
    const body = parseBody(addDomainBody, request);
    const organization = await loadOrganization(response, request.params.id);
    const domain = domainOf(body.domain);
    const written = await addOrganizationDomain(sigid, organization, domain, useCaseOf(request, response));
    await consistent(sigid, request, written);
    const row = await loadDomain(response, organization, domain);
    response.location(`/api/v1/organizations/${organization.organization_id}/domains/${domain}`);
    response.status(written.position === null ? 200 : 201).json(domainJson(row));
  });

  router.get('/:id/domains', async (request, response) => {
    const query = parseQuery(domainListQuery, request);
    const organization = await loadOrganization(response, request.params.id);
    const rows = await listOrganizationDomains(sigid.readModels, tenantOf(response), organization.organization_id, {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.domain, domainJson));
  });

  router.get('/:id/domains/:domain', async (request, response) => {
    parseQuery(noQuery, request);
    const organization = await loadOrganization(response, request.params.id);
    const domain = domainOf(request.params.domain);
    const row = await loadDomain(response, organization, domain);
    response.json(domainJson(row));
  });

  router.post('/:id/domains/:domain/verify', async (request, response) => {
    parseQuery(noQuery, request);
    const organization = await loadOrganization(response, request.params.id);
    const domain = domainOf(request.params.domain);
    const written = await verifyOrganizationDomain(sigid, organization, domain, useCaseOf(request, response));
    await consistent(sigid, request, written);
    const row = await loadDomain(response, organization, domain);
    response.json(domainJson(row));
  });

  router.delete('/:id/domains/:domain', async (request, response) => {
    const organization = await loadOrganization(response, request.params.id);
    const domain = domainOf(request.params.domain);
    const written = await removeOrganizationDomain(sigid, organization, domain, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  return router;
}
