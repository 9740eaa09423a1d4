import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

export const slugSchema = z
  .string()
  .min(3)
  .max(40)
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'lowercase letters, digits and inner hyphens');

export const tenantCreated = defineEvent({
  type: 'tenant.created',
  version: 1,
  description: 'A platform operator created a tenant; its slug is fixed for good.',
  schema: z.object({ tenant_id: z.string(), slug: slugSchema, name: z.string() }),
});

export const tenantRenamed = defineEvent({
  type: 'tenant.renamed',
  version: 1,
  description: "The tenant's display name changed.",
  schema: z.object({ name: z.string(), previous_name: z.string() }),
});

export const tenantSuspended = defineEvent({
  type: 'tenant.suspended',
  version: 1,
  description: 'The tenant was suspended: its API keys stop working until it is reactivated.',
  schema: z.object({ reason: z.string().nullable() }),
});

export const tenantReactivated = defineEvent({
  type: 'tenant.reactivated',
  version: 1,
  description: 'A suspended tenant was made active again.',
  schema: z.object({}),
});

export const tenantDeleted = defineEvent({
  type: 'tenant.deleted',
  version: 1,
  description: 'The tenant was deleted. Its slug stays reserved so its issuer URL can never be reused.',
  schema: z.object({}),
});

export const tenantSlugReserved = defineEvent({
  type: 'tenant.slug.reserved',
  version: 1,
  description: 'A tenant slug was claimed, platform-wide, for one tenant.',
  schema: z.object({ slug: slugSchema, tenant_id: z.string() }),
});

const colorSchema = z.string().regex(/^#[0-9a-f]{6}$/);

export const tenantBrandingChanged = defineEvent({
  type: 'tenant.branding.changed',
  version: 1,
  description:
    "The look of the tenant's hosted pages changed: the fields set, each a new value or null (back to the default).",
  schema: z.strictObject({
    display_name: z.string().nullable().optional(),
    logo_uri: z.string().nullable().optional(),
    primary_color: colorSchema.nullable().optional(),
    background_color: colorSchema.nullable().optional(),
  }),
});

export const mfaModeSchema = z.enum(['off', 'optional', 'required']);

export const tenantMfaPolicyChanged = defineEvent({
  type: 'tenant.mfa_policy.changed',
  version: 1,
  description:
    "The tenant's MFA policy changed: its mode, and the applications whose sign-ins require a second factor whatever the mode.",
  schema: z.object({ mode: mfaModeSchema, required_for_applications: z.array(z.string()) }),
});

export const tenantRoleClaimsChanged = defineEvent({
  type: 'tenant.role_claims.changed',
  version: 1,
  description:
    "How the tenant's access tokens carry roles changed: the claim names of the user's roles and of their permissions (null: not carried), and whether a token's scope is limited to what the user's roles grant.",
  schema: z.object({
    roles_claim: z.string().nullable(),
    permissions_claim: z.string().nullable(),
    enforce_permissions: z.boolean(),
  }),
});

export const tenantClientRegistrationChanged = defineEvent({
  type: 'tenant.client_registration.changed',
  version: 1,
  description:
    'How clients the tenant never registered may use its issuer changed: whether a client_id that is an https URL is fetched as an OAuth Client ID Metadata Document, and whether RFC 7591 dynamic registration (POST /t/{slug}/reg) creates applications.',
  schema: z.object({ client_id_metadata_documents: z.boolean(), dynamic_registration: z.boolean() }),
});

export const tenantEvents = [
  tenantCreated,
  tenantRenamed,
  tenantSuspended,
  tenantReactivated,
  tenantDeleted,
  tenantSlugReserved,
  tenantBrandingChanged,
  tenantMfaPolicyChanged,
  tenantRoleClaimsChanged,
  tenantClientRegistrationChanged,
] as const;

export type TenantEvent = EventOf<(typeof tenantEvents)[number]>;
