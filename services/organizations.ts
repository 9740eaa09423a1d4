import { connectionAggregate } from '../commands/connection.ts';
import { organizationAggregate } from '../commands/organization.ts';
import type { OrganizationSettings } from '../events/organization.ts';
import { findLinkBySub } from '../read-models/account-links.ts';
import { findVerifiedDomain } from '../read-models/organization-domains.ts';
import { findOrganization, type OrganizationRow } from '../read-models/organizations.ts';
import { findRole } from '../read-models/roles.ts';
import { handleCommand } from '../src/command-handler.ts';
import {
  ConflictError,
  NotFoundError,
  PreconditionFailedError,
  ProblemError,
  type ProblemIssue,
  UnprocessableError,
} from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import { challengeRecordName, normaliseDomain, proofPublished } from '../src/organizations/domains.ts';
import type { Sigid } from '../src/sigid.ts';
import { liveConnectionsOf } from './connections.ts';
import { type UseCase, type Written, writtenTogether } from './context.ts';
import { claimReservation, releaseReservation } from './reservations.ts';

type Change = UseCase & { ifMatch?: number | undefined };

export interface NewOrganization {
  name: string;
  display_name?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

async function organizationState(sigid: Sigid, tenantId: string, organizationId: string) {
  const history = await sigid.log.readStream(organizationAggregate.stream(tenantId, organizationId));
  const state = history.reduce(
    (current, event) => organizationAggregate.decider.evolve(current, event as never),
    organizationAggregate.decider.initialState(),
  );
  return { history, state };
}

/** A write context without the request's pin and randomness: what a reservation's append runs under. */
function reservationContext(context: Change) {
  const { ifMatch: _pinned, random: _random, ...write } = context;
  return write;
}

/**
 * Creates an organization: claims its name within the tenant, then records `organization.created`.
 * The id comes from `context.random`, so a retried request repeats each step as a no-op; a name whose
 * organization was deleted is taken over even if its release never landed, and one claimed for an
 * organization never created (its creator died) is adopted, as APIs' identifiers are.
 */
export async function createOrganization(
  sigid: Sigid,
  input: NewOrganization,
  context: UseCase,
): Promise<{ organizationId: string; written: Written }> {
  const settings: OrganizationSettings = {
    display_name: input.display_name ?? input.name,
    metadata: input.metadata ?? {},
  };
  const claim = await claimReservation(
    sigid,
    {
      scope: context.tenantId,
      kind: 'organization_name',
      value: input.name,
      ownerId: context.random.id('org'),
      ownerExists: async (id) => (await organizationState(sigid, context.tenantId, id)).history.length > 0,
      ownerDeleted: async (id) => (await organizationState(sigid, context.tenantId, id)).state.status === 'deleted',
    },
    context,
  );
  const organizationId = claim.ownerId;
  failpoint('organization.create:after-name');
  const created = await handleCommand(
    sigid.log,
    organizationAggregate,
    organizationId,
    { type: 'create_organization', organization_id: organizationId, name: input.name, settings },
    claim.adopted ? { ...context, ifMatch: -1 } : context,
  ).catch((error: unknown) => {
    if (claim.adopted && error instanceof PreconditionFailedError)
      throw new ConflictError('organization_name_taken', `The organization_name "${input.name}" is already taken.`);
    throw error;
  });
  let written: Written = created;
  if (created.position === null) {
    // A retried create that had landed: its answer waits for that event like the first run's would.
    const { history } = await organizationState(sigid, context.tenantId, organizationId);
    const event = history.find((recorded) => recorded.type === 'organization.created');
    if (event) written = { position: event.position, types: [event.type] };
  }
  return { organizationId, written };
}

/** Changes an organization's display name or metadata (its name is fixed). */
export function updateOrganization(
  sigid: Sigid,
  organizationId: string,
  changes: Partial<OrganizationSettings>,
  context: Change,
): Promise<Written> {
  const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  return handleCommand(
    sigid.log,
    organizationAggregate,
    organizationId,
    { type: 'update_organization', changes: defined },
    context,
  );
}

/**
 * Deletes an organization: one append removes each member and domain and then the organization, then
 * its name and its verified domains are released. If the process dies before a release lands, the
 * value is still free in fact: the next claimant takes over a deleted organization's claim.
 */
export async function deleteOrganization(
  sigid: Sigid,
  organization: OrganizationRow,
  context: Change,
): Promise<Written> {
  const { state } = await organizationState(sigid, context.tenantId, organization.organization_id);
  const verified =
    state.status === 'active'
      ? Object.entries(state.domains)
          .filter(([, known]) => known.verified)
          .map(([domain]) => domain)
      : [];
  // Its SSO connections go first (each its own stream): a crash between leaves an organization without them.
  for (const connectionId of await liveConnectionsOf(sigid, context.tenantId, organization.organization_id)) {
    await handleCommand(
      sigid.log,
      connectionAggregate,
      connectionId,
      { type: 'delete_connection' },
      reservationContext(context),
    ).catch(ignoreGone);
  }
  const written = await handleCommand(
    sigid.log,
    organizationAggregate,
    organization.organization_id,
    { type: 'delete_organization' },
    context,
  );
  failpoint('organization.delete:after-delete');
  const releases: Array<{ kind: 'organization_name' | 'organization_domain'; value: string }> = [
    { kind: 'organization_name', value: organization.name },
    ...verified.map((domain) => ({ kind: 'organization_domain' as const, value: domain })),
  ];
  for (const release of releases) {
    await releaseReservation(
      sigid,
      { scope: context.tenantId, ...release, ownerId: organization.organization_id },
      reservationContext(context),
    ).catch(ignoreGone);
  }
  return written;
}

/** A release that finds the value taken over already, or released by an earlier run: nothing to do. */
function ignoreGone(error: unknown): void {
  if (!(error instanceof NotFoundError)) throw error;
}

/**
 * Makes a tenant user a member of an organization with exactly these organization roles. The `sub`
 * must be one of the tenant's (404 otherwise), and each role one of the tenant's roles (400 naming
 * `roles.<index>` otherwise; nothing is written).
 */
export async function setOrganizationMember(
  sigid: Sigid,
  organization: OrganizationRow,
  sub: string,
  roles: string[],
  context: Change,
): Promise<Written> {
  if (!(await findLinkBySub(sigid.readModels, context.tenantId, sub))) throw new NotFoundError('The user');
  const issues: ProblemIssue[] = [];
  for (const [index, roleId] of roles.entries()) {
    if (!(await findRole(sigid.readModels, context.tenantId, roleId))) {
      issues.push({ path: `roles.${index}`, message: `No role ${roleId} in this tenant.`, code: 'unknown_role' });
    }
  }
  if (issues.length > 0)
    throw new ProblemError('invalid_request', "Every role must be one of the tenant's roles.", issues);
  return handleCommand(
    sigid.log,
    organizationAggregate,
    organization.organization_id,
    { type: 'set_member', sub, roles },
    context,
  );
}

/** Removes a member from an organization (404 when the `sub` is no member). */
export function removeOrganizationMember(
  sigid: Sigid,
  organization: OrganizationRow,
  sub: string,
  context: Change,
): Promise<Written> {
  return handleCommand(
    sigid.log,
    organizationAggregate,
    organization.organization_id,
    { type: 'remove_member', sub },
    context,
  );
}

/** The token a domain's TXT record must hold: 32 random bytes, base64url, prefixed so it reads as SigID's. */
function challengeToken(context: UseCase): string {
  return `sigid-domain-verification=${context.random.bytes(32).toString('base64url')}`;
}

/** Adds a pending domain (normalised already) with the TXT proof to publish; adding it again changes nothing. */
export function addOrganizationDomain(
  sigid: Sigid,
  organization: OrganizationRow,
  domain: string,
  context: UseCase,
): Promise<Written> {
  return handleCommand(
    sigid.log,
    organizationAggregate,
    organization.organization_id,
    { type: 'add_domain', domain, record_name: challengeRecordName(domain), token: challengeToken(context) },
    context,
  );
}

/**
 * Verifies a domain: looks its TXT proof up in `sigid.dns` (422 `domain_not_verified` when it is not
 * there: the domain stays pending), claims the domain within the tenant (409 `domain_taken` when
 * another organization verified it), then records `organization.domain.verified`. A claim whose
 * organization no longer has the domain at all (removed, or the organization deleted) is taken over;
 * one whose organization still has it pending is not, so a verify that died after its claim is
 * finished by its retry and never overtaken.
 */
export async function verifyOrganizationDomain(
  sigid: Sigid,
  organization: OrganizationRow,
  domain: string,
  context: UseCase,
): Promise<Written> {
  const organizationId = organization.organization_id;
  const { state } = await organizationState(sigid, context.tenantId, organizationId);
  if (state.status !== 'active') throw new NotFoundError('The organization');
  const known = state.domains[domain];
  if (!known) throw new NotFoundError('The domain');
  if (known.verified) return { position: null, types: [] };
  if (!(await proofPublished(sigid.dns, known.record_name, known.token))) {
    throw new UnprocessableError(
      'domain_not_verified',
      `No TXT record at ${known.record_name} holds this domain's token yet: publish it, then verify again. The domain stays pending.`,
    );
  }
  const claimed = await claimReservation(
    sigid,
    {
      scope: context.tenantId,
      kind: 'organization_domain',
      value: domain,
      ownerId: organizationId,
      ownerDeleted: async (holder) => {
        const held = await organizationState(sigid, context.tenantId, holder);
        return held.state.status !== 'active' || held.state.domains[domain] === undefined;
      },
    },
    reservationContext(context),
  );
  failpoint('organization.domain-verify:after-claim');
  const verified = await handleCommand(
    sigid.log,
    organizationAggregate,
    organizationId,
    { type: 'verify_domain', domain },
    context,
  );
  return writtenTogether(claimed.written, verified);
}

/** Removes a domain from an organization; a verified one is then released, so another organization may verify it. */
export async function removeOrganizationDomain(
  sigid: Sigid,
  organization: OrganizationRow,
  domain: string,
  context: Change,
): Promise<Written> {
  const { state } = await organizationState(sigid, context.tenantId, organization.organization_id);
  const wasVerified = state.status === 'active' && state.domains[domain]?.verified === true;
  const written = await handleCommand(
    sigid.log,
    organizationAggregate,
    organization.organization_id,
    { type: 'remove_domain', domain },
    context,
  );
  if (wasVerified) {
    failpoint('organization.domain-remove:after-remove');
    await releaseReservation(
      sigid,
      { scope: context.tenantId, kind: 'organization_domain', value: domain, ownerId: organization.organization_id },
      reservationContext(context),
    ).catch(ignoreGone);
  }
  return written;
}

/**
 * Home-realm discovery: the organization of the tenant that has verified the domain of `email`,
 * or null. The match is exact: a subdomain (`eu.acme.com`) is its own domain, verified on its own,
 * so verifying `acme.com` never claims addresses at every name below it.
 */
export async function discoverRealm(
  sigid: Pick<Sigid, 'readModels'>,
  tenantId: string,
  email: string,
): Promise<OrganizationRow | null> {
  const at = email.lastIndexOf('@');
  if (at < 1) return null;
  const domain = domainToAsciiOrNull(email.slice(at + 1));
  if (!domain) return null;
  const match = await findVerifiedDomain(sigid.readModels, tenantId, domain);
  if (!match) return null;
  return (await findOrganization(sigid.readModels, tenantId, match.organization_id)) ?? null;
}

function domainToAsciiOrNull(value: string): string | null {
  const normalised = normaliseDomain(value);
  return 'domain' in normalised ? normalised.domain : null;
}
