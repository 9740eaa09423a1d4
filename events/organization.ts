import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * Organizations: business units or customer accounts inside a tenant. Each has a slug-like `name`
 * (unique in the tenant, fixed for good: it is the `org_name` claim), a display name and metadata;
 * its members (tenant users by their pairwise `sub`, with organization roles as role ids) and its
 * domains (verified by a DNS TXT proof, then unique in the tenant) live on the same stream. The
 * rules on each field are in src/http/organizations.ts and docs/organizations.md.
 */

/** What an admin can change after creation (the name is fixed). */
export const organizationSettingsFields = {
  display_name: z.string(),
  metadata: z.record(z.string(), z.string()),
};

const settingsSchema = z.object(organizationSettingsFields);
/** Every changeable field of an organization, all present. */
export type OrganizationSettings = z.infer<typeof settingsSchema>;
const partialSettings = settingsSchema.partial();

export const organizationCreated = defineEvent({
  type: 'organization.created',
  version: 1,
  description: 'An organization (a business unit or customer account of the tenant) was created with its name.',
  schema: z.object({ organization_id: z.string(), name: z.string(), ...organizationSettingsFields }),
});

export const organizationUpdated = defineEvent({
  type: 'organization.updated',
  version: 1,
  description:
    "An organization's display name or metadata changed; `changes` holds the new values and `previous` the old ones.",
  schema: z.object({ organization_id: z.string(), changes: partialSettings, previous: partialSettings }),
});

export const organizationDeleted = defineEvent({
  type: 'organization.deleted',
  version: 1,
  description:
    'An organization was deleted (its members and domains were removed just before, in the same write); its name can be used again.',
  schema: z.object({ organization_id: z.string(), name: z.string() }),
});

export const organizationMemberAdded = defineEvent({
  type: 'organization.member.added',
  version: 1,
  description: "A tenant user (by `sub`) became a member of an organization, with the organization's roles given.",
  schema: z.object({ organization_id: z.string(), sub: z.string(), roles: z.array(z.string()) }),
});

export const organizationMemberUpdated = defineEvent({
  type: 'organization.member.updated',
  version: 1,
  description: "A member's organization roles were replaced; `previous_roles` holds the roles before.",
  schema: z.object({
    organization_id: z.string(),
    sub: z.string(),
    roles: z.array(z.string()),
    previous_roles: z.array(z.string()),
  }),
});

export const organizationMemberRemoved = defineEvent({
  type: 'organization.member.removed',
  version: 1,
  description: 'A member left an organization (removed by an admin, or with the organization).',
  schema: z.object({ organization_id: z.string(), sub: z.string(), roles: z.array(z.string()) }),
});

export const organizationDomainAdded = defineEvent({
  type: 'organization.domain.added',
  version: 1,
  description:
    'A domain was added to an organization, pending: it is verified once the TXT record `record_name` holds `token` (a public proof value, not a secret).',
  schema: z.object({ organization_id: z.string(), domain: z.string(), record_name: z.string(), token: z.string() }),
});

export const organizationDomainVerified = defineEvent({
  type: 'organization.domain.verified',
  version: 1,
  description:
    "An organization's domain was verified by its DNS TXT proof; it is now the organization's alone in the tenant (home-realm discovery routes its e-mail addresses there).",
  schema: z.object({ organization_id: z.string(), domain: z.string() }),
});

export const organizationDomainRemoved = defineEvent({
  type: 'organization.domain.removed',
  version: 1,
  description:
    'A domain was removed from an organization (by an admin, or with the organization); if it was verified it is free again.',
  schema: z.object({ organization_id: z.string(), domain: z.string(), verified: z.boolean() }),
});

export const organizationEvents = [
  organizationCreated,
  organizationUpdated,
  organizationDeleted,
  organizationMemberAdded,
  organizationMemberUpdated,
  organizationMemberRemoved,
  organizationDomainAdded,
  organizationDomainVerified,
  organizationDomainRemoved,
] as const;

export type OrganizationEvent = EventOf<(typeof organizationEvents)[number]>;
