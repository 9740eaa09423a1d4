import { PLATFORM_TENANT, type TenantCommand, tenantAggregate } from '../commands/tenant.ts';
import { findTenant, findTenantBySlug, type TenantRow } from '../read-models/tenants.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ConflictError, NotFoundError, PreconditionFailedError } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import { isId } from '../src/ids.ts';
import type { Sigid } from '../src/sigid.ts';
import { issueApiKey } from './api-keys.ts';
import { type UseCase, type Written, writtenTogether } from './context.ts';
import { claimReservation } from './reservations.ts';

export const INITIAL_KEY_NAME = 'Initial admin key';

/**
 * Creates a tenant with its first admin key: claims the slug platform-wide, creates the tenant, then
 * issues the key. Returns the key once. Every step is a no-op when already done by the same request
 * (same ids, from a seeded source), so a retried create after a crash finishes what it started.
 *
 * A slug claim whose tenant was never created (its creator died in between; older than a minute) is
 * adopted: the tenant is created under the id the slug was claimed for. Two creators racing for it
 * both append to that tenant's stream expecting it absent, so exactly one gets the slug.
 */
export async function createTenant(
  sigid: Sigid,
  input: { name: string; slug: string },
  context: Omit<UseCase, 'tenantId'>,
): Promise<{ tenantId: string; keyId: string; token: string; written: Written }> {
  const claim = await claimReservation(
    sigid,
    {
      scope: PLATFORM_TENANT,
      kind: 'slug',
      value: input.slug,
      ownerId: context.random.id('ten'),
      ownerExists: async (tenantId) =>
        (await sigid.log.readStream(tenantAggregate.stream(tenantId, tenantId))).length > 0,
    },
    context,
  );
  failpoint('tenant.create:after-slug');
  const tenantId = claim.ownerId;
  const write = { ...context, tenantId };
  const created = await handleCommand(
    sigid.log,
    tenantAggregate,
    tenantId,
    { type: 'create_tenant', tenant_id: tenantId, slug: input.slug, name: input.name },
    // An adopted tenant id must still be free: whoever creates it first gets the slug.
    claim.adopted ? { ...write, ifMatch: -1 } : write,
  ).catch((error: unknown) => {
    if (claim.adopted && error instanceof PreconditionFailedError)
      throw new ConflictError('slug_taken', `The slug "${input.slug}" is already taken.`);
    throw error;
  });
  failpoint('tenant.create:after-tenant');
  const key = await issueApiKey(sigid, INITIAL_KEY_NAME, write);
  return { tenantId, keyId: key.keyId, token: key.token, written: writtenTogether(created, key.written) };
}

export interface TenantChanges {
  name?: string | undefined;
  status?: 'active' | 'suspended' | undefined;
  suspensionReason?: string | undefined;
}

/** Renames, suspends or reactivates a tenant: every change of one request in one atomic append. */
export async function updateTenant(
  sigid: Sigid,
  tenantId: string,
  changes: TenantChanges,
  context: UseCase & { ifMatch?: number | undefined },
): Promise<Written> {
  const commands: TenantCommand[] = [];
  if (changes.name !== undefined) commands.push({ type: 'rename_tenant', name: changes.name });
  if (changes.status === 'suspended') {
    commands.push({ type: 'suspend_tenant', reason: changes.suspensionReason ?? null });
  }
  if (changes.status === 'active') commands.push({ type: 'reactivate_tenant' });
  return handleCommand(sigid.log, tenantAggregate, tenantId, commands, context);
}

/** Deletes a tenant for good: its keys stop working, its slug stays reserved. */
export async function deleteTenant(
  sigid: Sigid,
  tenantId: string,
  context: UseCase & { ifMatch?: number | undefined },
): Promise<Written> {
  return handleCommand(sigid.log, tenantAggregate, tenantId, { type: 'delete_tenant' }, context);
}

/** A live tenant named by its id (`ten_…`) or its slug; not found otherwise (deleted ones included). */
export async function resolveTenant(sigid: Sigid, idOrSlug: string): Promise<TenantRow> {
  const tenant = isId('ten', idOrSlug)
    ? await findTenant(sigid.readModels, idOrSlug)
    : await findTenantBySlug(sigid.readModels, idOrSlug.toLowerCase());
  if (!tenant || tenant.status === 'deleted') throw new NotFoundError(`The tenant "${idOrSlug}"`);
  return tenant;
}
