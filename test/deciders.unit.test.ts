import { describe, it } from 'vitest';
import { apiKeyDecider } from '../commands/api-key.ts';
import { reservationDecider } from '../commands/reservation.ts';
import { tenantDecider } from '../commands/tenant.ts';
import { specFor } from './support/given-when-then.ts';

const tenant = specFor(tenantDecider);
const reservation = specFor(reservationDecider);
const apiKey = specFor(apiKeyDecider);

const created = { type: 'tenant.created' as const, data: { tenant_id: 'ten_1', slug: 'acme', name: 'Acme' } };

describe('tenant decider', () => {
  it('creates a tenant once', () => {
    tenant([]).when({ type: 'create_tenant', tenant_id: 'ten_1', slug: 'acme', name: 'Acme' }).thenEmits([created]);
    // The same create again (a retried request): already done. Another create of that id: refused.
    tenant([created]).when({ type: 'create_tenant', tenant_id: 'ten_1', slug: 'acme', name: 'Acme' }).thenEmits([]);
    tenant([created])
      .when({ type: 'create_tenant', tenant_id: 'ten_1', slug: 'acme', name: 'Other' })
      .thenThrows('tenant_exists');
  });

  it('renames, recording the previous name, and does nothing for the same name', () => {
    tenant([created])
      .when({ type: 'rename_tenant', name: 'Acme Inc' })
      .thenEmits([{ type: 'tenant.renamed', data: { name: 'Acme Inc', previous_name: 'Acme' } }]);
    tenant([created]).when({ type: 'rename_tenant', name: 'Acme' }).thenEmits([]);
  });

  it('suspends and reactivates, each only when it changes something', () => {
    const suspended = { type: 'tenant.suspended' as const, data: { reason: 'unpaid' } };
    tenant([created]).when({ type: 'suspend_tenant', reason: 'unpaid' }).thenEmits([suspended]);
    tenant([created, suspended]).when({ type: 'suspend_tenant', reason: 'again' }).thenEmits([]);
    tenant([created, suspended])
      .when({ type: 'reactivate_tenant' })
      .thenEmits([{ type: 'tenant.reactivated', data: {} }]);
    tenant([created]).when({ type: 'reactivate_tenant' }).thenEmits([]);
  });

  it('refuses every command on a tenant that does not exist or was deleted', () => {
    tenant([]).when({ type: 'rename_tenant', name: 'x' }).thenThrows('not_found');
    const deleted = { type: 'tenant.deleted' as const, data: {} };
    tenant([created]).when({ type: 'delete_tenant' }).thenEmits([deleted]);
    tenant([created, deleted]).when({ type: 'delete_tenant' }).thenThrows('not_found');
    tenant([created, deleted]).when({ type: 'reactivate_tenant' }).thenThrows('not_found');
  });
});

describe('reservation decider', () => {
  const claim = (owner: string) => ({ type: 'claim' as const, kind: 'slug' as const, value: 'acme', owner_id: owner });
  const claimed = { type: 'reservation.claimed' as const, data: { kind: 'slug', value: 'acme', owner_id: 'ten_1' } };
  const legacy = { type: 'tenant.slug.reserved' as const, data: { slug: 'acme', tenant_id: 'ten_1' } };

  it('claims a free value for one owner only, and again for that owner is a no-op', () => {
    reservation([]).when(claim('ten_1')).thenEmits([claimed]);
    reservation([claimed]).when(claim('ten_2')).thenThrows('slug_taken');
    reservation([claimed]).when(claim('ten_1')).thenEmits([]);
  });

  it('reads slug reservations made before the module existed as claims', () => {
    reservation([legacy]).when(claim('ten_2')).thenThrows('slug_taken');
    reservation([legacy]).when(claim('ten_1')).thenEmits([]);
  });

  it('frees a value its owner releases, for anyone to claim', () => {
    const released = {
      type: 'reservation.released' as const,
      data: { kind: 'slug', value: 'acme', owner_id: 'ten_1' },
    };
    reservation([claimed]).when({ type: 'release', owner_id: 'ten_2' }).thenThrows('not_found');
    reservation([claimed]).when({ type: 'release', owner_id: 'ten_1' }).thenEmits([released]);
    reservation([claimed, released])
      .when(claim('ten_2'))
      .thenEmits([{ type: 'reservation.claimed', data: { kind: 'slug', value: 'acme', owner_id: 'ten_2' } }]);
  });

  it('transfers a value from its owner to another without freeing it', () => {
    const transferred = {
      type: 'reservation.transferred' as const,
      data: { kind: 'slug', value: 'acme', from_owner_id: 'ten_1', to_owner_id: 'ten_2' },
    };
    reservation([legacy])
      .when({ type: 'transfer', from_owner_id: 'ten_1', to_owner_id: 'ten_2' })
      .thenEmits([transferred]);
    reservation([claimed])
      .when({ type: 'transfer', from_owner_id: 'ten_3', to_owner_id: 'ten_2' })
      .thenThrows('not_found');
    reservation([claimed, transferred]).when(claim('ten_1')).thenThrows('slug_taken');
    reservation([claimed, transferred]).when(claim('ten_2')).thenEmits([]);
  });
});

describe('API key decider', () => {
  const issued = { type: 'api_key.created' as const, data: { key_id: 'key_1', name: 'ci' } };
  it('issues a key once and revokes it once', () => {
    apiKey([]).when({ type: 'create_api_key', key_id: 'key_1', name: 'ci' }).thenEmits([issued]);
    apiKey([issued]).when({ type: 'create_api_key', key_id: 'key_1', name: 'ci' }).thenEmits([]);
    apiKey([issued]).when({ type: 'create_api_key', key_id: 'key_1', name: 'cd' }).thenThrows('api_key_exists');
    const revoked = { type: 'api_key.revoked' as const, data: { key_id: 'key_1' } };
    apiKey([issued]).when({ type: 'revoke_api_key' }).thenEmits([revoked]);
    apiKey([issued, revoked]).when({ type: 'revoke_api_key' }).thenEmits([]);
    apiKey([]).when({ type: 'revoke_api_key' }).thenThrows('not_found');
  });
});
