import { describe, expect, it } from 'vitest';
import { colorSchema, logoUriSchema, tenantDecider } from '../commands/tenant.ts';
import { specFor } from './support/given-when-then.ts';

const tenant = specFor(tenantDecider);
const created = { type: 'tenant.created' as const, data: { tenant_id: 'ten_a', slug: 'acme', name: 'Acme' } };

describe('tenant branding', () => {
  it('records only the fields that change', () => {
    tenant([created])
      .when({ type: 'set_branding', branding: { display_name: 'Acme Login', logo_uri: null } })
      .thenEmits([{ type: 'tenant.branding.changed', data: { display_name: 'Acme Login' } }]);
  });

  it('appends nothing for the same values again', () => {
    tenant([created, { type: 'tenant.branding.changed', data: { primary_color: '#112233', logo_uri: null } }])
      .when({ type: 'set_branding', branding: { primary_color: '#112233', logo_uri: null } })
      .thenEmits([]);
  });

  it('resets a field with null', () => {
    tenant([created, { type: 'tenant.branding.changed', data: { primary_color: '#112233' } }])
      .when({ type: 'set_branding', branding: { primary_color: null, background_color: '#ffffff' } })
      .thenEmits([{ type: 'tenant.branding.changed', data: { primary_color: null, background_color: '#ffffff' } }]);
  });

  it('refuses a tenant that does not exist or is deleted', () => {
    tenant([])
      .when({ type: 'set_branding', branding: { display_name: 'x' } })
      .thenThrows('not_found');
    tenant([created, { type: 'tenant.deleted', data: {} }])
      .when({ type: 'set_branding', branding: { display_name: 'x' } })
      .thenThrows('not_found');
  });

  it('takes https logos, http ones on localhost only, and #rrggbb colours in lower case', () => {
    expect(logoUriSchema.safeParse('https://cdn.acme.example/logo.svg').success).toBe(true);
    expect(logoUriSchema.safeParse('http://localhost:3000/logo.png').success).toBe(true);
    expect(logoUriSchema.safeParse('http://127.0.0.1/logo.png').success).toBe(true);
    expect(logoUriSchema.safeParse('http://cdn.acme.example/logo.svg').success).toBe(false);
    expect(logoUriSchema.safeParse('https://user:pw@cdn.acme.example/logo.svg').success).toBe(false);
    expect(logoUriSchema.safeParse('javascript:alert(1)').success).toBe(false);
    expect(logoUriSchema.safeParse('data:image/png;base64,AAAA').success).toBe(false);
    expect(colorSchema.parse('#AABBCC')).toBe('#aabbcc');
    expect(colorSchema.safeParse('#abc').success).toBe(false);
    expect(colorSchema.safeParse('red').success).toBe(false);
  });
});

describe('tenant MFA policy', () => {
  it('starts optional with no application, and records a change whole', () => {
    tenant([created])
      .when({ type: 'set_mfa_policy', policy: { required_for_applications: ['app_1', 'app_1', 'app_2'] } })
      .thenEmits([
        {
          type: 'tenant.mfa_policy.changed',
          data: { mode: 'optional', required_for_applications: ['app_1', 'app_2'] },
        },
      ]);
  });

  it('appends nothing for the same policy, whatever the order of the list', () => {
    tenant([
      created,
      { type: 'tenant.mfa_policy.changed', data: { mode: 'required', required_for_applications: ['app_1', 'app_2'] } },
    ])
      .when({ type: 'set_mfa_policy', policy: { mode: 'required', required_for_applications: ['app_2', 'app_1'] } })
      .thenEmits([]);
    tenant([created])
      .when({ type: 'set_mfa_policy', policy: { mode: 'optional' } })
      .thenEmits([]);
  });

  it('keeps the list when only the mode changes', () => {
    tenant([
      created,
      { type: 'tenant.mfa_policy.changed', data: { mode: 'optional', required_for_applications: ['app_1'] } },
    ])
      .when({ type: 'set_mfa_policy', policy: { mode: 'off' } })
      .thenEmits([{ type: 'tenant.mfa_policy.changed', data: { mode: 'off', required_for_applications: ['app_1'] } }]);
  });
});

describe('client registration settings', () => {
  const created = { type: 'tenant.created' as const, data: { tenant_id: 'ten_1', slug: 'acme', name: 'Acme' } };

  it('records a switch turned as the whole new setting, and nothing when it is already so', () => {
    tenant([created])
      .when({ type: 'set_client_registration', settings: { client_id_metadata_documents: true } })
      .thenEmits([
        {
          type: 'tenant.client_registration.changed',
          data: { client_id_metadata_documents: true, dynamic_registration: false },
        },
      ]);
    tenant([created])
      .when({ type: 'set_client_registration', settings: { dynamic_registration: false } })
      .thenEmits([]);
    tenant([
      created,
      {
        type: 'tenant.client_registration.changed',
        data: { client_id_metadata_documents: true, dynamic_registration: false },
      },
    ])
      .when({ type: 'set_client_registration', settings: { dynamic_registration: true } })
      .thenEmits([
        {
          type: 'tenant.client_registration.changed',
          data: { client_id_metadata_documents: true, dynamic_registration: true },
        },
      ]);
  });

  it('refuses a deleted or unknown tenant', () => {
    tenant([])
      .when({ type: 'set_client_registration', settings: { dynamic_registration: true } })
      .thenThrows('not_found');
    tenant([created, { type: 'tenant.deleted', data: {} }])
      .when({ type: 'set_client_registration', settings: { dynamic_registration: true } })
      .thenThrows('not_found');
  });
});
