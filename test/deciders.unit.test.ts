import { describe, it } from 'vitest';
import { apiKeyDecider } from '../commands/api-key.ts';
import { tenantDecider, tenantSlugDecider } from '../commands/tenant.ts';
import { specFor } from './support/given-when-then.ts';

const tenant = specFor(tenantDecider);
const slug = specFor(tenantSlugDecider);
const apiKey = specFor(apiKeyDecider);

const created = { type: 'tenant.created' as const, data: { tenant_id: 'ten_1', slug: 'acme', name: 'Acme' } };

describe('tenant decider', () => {
  it('creates a tenant once', () => {
    tenant([]).when({ type: 'create_tenant', tenant_id: 'ten_1', slug: 'acme', name: 'Acme' }).thenEmits([created]);
    tenant([created])
      .when({ type: 'create_tenant', tenant_id: 'ten_1', slug: 'acme', name: 'Acme' })
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

describe('tenant slug reservation', () => {
  const reserved = { type: 'tenant.slug.reserved' as const, data: { slug: 'acme', tenant_id: 'ten_1' } };
  it('reserves a free slug for one tenant only', () => {
    slug([]).when({ type: 'reserve_slug', slug: 'acme', tenant_id: 'ten_1' }).thenEmits([reserved]);
    slug([reserved]).when({ type: 'reserve_slug', slug: 'acme', tenant_id: 'ten_2' }).thenThrows('slug_taken');
    slug([reserved]).when({ type: 'reserve_slug', slug: 'acme', tenant_id: 'ten_1' }).thenEmits([]);
  });
});

describe('API key decider', () => {
  const issued = { type: 'api_key.created' as const, data: { key_id: 'key_1', name: 'ci' } };
  it('issues a key once and revokes it once', () => {
    apiKey([]).when({ type: 'create_api_key', key_id: 'key_1', name: 'ci' }).thenEmits([issued]);
    apiKey([issued]).when({ type: 'create_api_key', key_id: 'key_1', name: 'ci' }).thenThrows('api_key_exists');
    const revoked = { type: 'api_key.revoked' as const, data: { key_id: 'key_1' } };
    apiKey([issued]).when({ type: 'revoke_api_key' }).thenEmits([revoked]);
    apiKey([issued, revoked]).when({ type: 'revoke_api_key' }).thenEmits([]);
    apiKey([]).when({ type: 'revoke_api_key' }).thenThrows('not_found');
  });
});
