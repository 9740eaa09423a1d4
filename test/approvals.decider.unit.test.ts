import { describe, expect, it } from 'vitest';
import { applicationDecider } from '../commands/application.ts';
import { approvalDecider } from '../commands/approval.ts';
import { CIBA_GRANT_TYPE } from '../events/application.ts';
import type { ApprovalEvent } from '../events/approval.ts';
import { withDefaults } from '../src/applications/client-metadata.ts';
import { specFor } from './support/given-when-then.ts';

const approval = specFor(approvalDecider);
const application = specFor(applicationDecider);

const expiresAt = '2026-12-07T10:10:00.000Z';
const before = new Date('2026-12-07T10:05:00.000Z');
const after = new Date('2026-12-07T10:10:00.000Z');
const facts = {
  approval_id: 'apr_1',
  client_id: 'client-1',
  sub: 'sub_ada',
  scopes: ['openid', 'email'],
  resource: 'https://billing.example/api',
  resource_scopes: ['invoices:read'],
  binding_message: 'AB-1234',
  acr_values: [],
  delivery_mode: 'poll' as const,
  expires_at: expiresAt,
};
const requested = { type: 'approval.requested', data: facts } satisfies ApprovalEvent;
const granted = {
  type: 'approval.granted',
  data: {
    approval_id: 'apr_1',
    client_id: 'client-1',
    sub: 'sub_ada',
    scopes: ['openid', 'email'],
    resource: 'https://billing.example/api',
    resource_scopes: ['invoices:read'],
    amr: ['pwd', 'otp', 'mfa'],
  },
} satisfies ApprovalEvent;
const denied = {
  type: 'approval.denied',
  data: { approval_id: 'apr_1', client_id: 'client-1', sub: 'sub_ada' },
} satisfies ApprovalEvent;

describe('approval decider', () => {
  it('records a request once; the same request again decides nothing', () => {
    approval([])
      .when({ type: 'request_approval', ...facts })
      .thenEmits([requested]);
    approval([requested])
      .when({ type: 'request_approval', ...facts })
      .thenEmits([]);
  });

  it('lets the person asked approve with the scopes asked, or deny, once', () => {
    approval([requested])
      .when({ type: 'grant_approval', sub: 'sub_ada', amr: ['pwd', 'otp', 'mfa'], now: before })
      .thenEmits([granted]);
    approval([requested]).when({ type: 'deny_approval', sub: 'sub_ada', now: before }).thenEmits([denied]);
    approval([requested, granted])
      .when({ type: 'deny_approval', sub: 'sub_ada', now: before })
      .thenThrows('approval_not_pending');
    approval([requested, denied])
      .when({ type: 'grant_approval', sub: 'sub_ada', amr: ['pwd'], now: before })
      .thenThrows('approval_not_pending');
  });

  it('refuses an approval once the request expired, and hides it from another person', () => {
    approval([requested])
      .when({ type: 'grant_approval', sub: 'sub_ada', amr: ['pwd'], now: after })
      .thenThrows('approval_not_pending');
    approval([requested])
      .when({ type: 'grant_approval', sub: 'sub_eve', amr: ['pwd'], now: before })
      .thenThrows('not_found');
    approval([]).when({ type: 'deny_approval', sub: 'sub_ada', now: before }).thenThrows('not_found');
  });

  it('records the delivery of a decision once, and never before a decision', () => {
    const delivered = {
      type: 'approval.delivered',
      data: { approval_id: 'apr_1', result: 'tokens_ready', notified: false },
    } satisfies ApprovalEvent;
    approval([requested, granted])
      .when({ type: 'record_delivery', result: 'tokens_ready', notified: false })
      .thenEmits([delivered]);
    approval([requested, granted, delivered])
      .when({ type: 'record_delivery', result: 'tokens_ready', notified: false })
      .thenEmits([]);
    expect(() =>
      approvalDecider.decide(
        { type: 'record_delivery', result: 'tokens_ready', notified: false },
        approvalDecider.evolve(approvalDecider.initialState(), requested),
      ),
    ).toThrow();
  });
});

describe('applications with the CIBA grant', () => {
  const create = (metadata: Parameters<typeof withDefaults>[1], kind: 'web' | 'spa' | 'm2m' = 'm2m') => ({
    type: 'create_application' as const,
    application_id: 'app_1',
    client_id: 'client-1',
    kind,
    metadata: withDefaults(kind, metadata),
    secret_id: kind === 'spa' ? null : 'cls_1',
  });

  it('gives a CIBA client poll mode by default, and takes ping mode with an endpoint', () => {
    const [polled] = decideFresh(
      create({ client_name: 'Agent', grant_types: ['client_credentials', CIBA_GRANT_TYPE] }),
    );
    expect(polled?.data).toMatchObject({
      backchannel_token_delivery_mode: 'poll',
      backchannel_client_notification_endpoint: null,
    });
    const [pinged] = decideFresh(
      create({
        client_name: 'Agent',
        grant_types: [CIBA_GRANT_TYPE],
        backchannel_token_delivery_mode: 'ping',
        backchannel_client_notification_endpoint: 'https://agent.example/ciba',
      }),
    );
    expect(pinged?.data).toMatchObject({ backchannel_client_notification_endpoint: 'https://agent.example/ciba' });
  });

  it('refuses CIBA for a public client, ping without an endpoint, and the fields without the grant', () => {
    application([])
      .when(
        create(
          {
            client_name: 'SPA',
            redirect_uris: ['https://spa.example/cb'],
            grant_types: ['authorization_code', CIBA_GRANT_TYPE],
          },
          'spa',
        ),
      )
      .thenThrows('invalid_client_metadata');
    application([])
      .when(create({ client_name: 'Agent', grant_types: [CIBA_GRANT_TYPE], backchannel_token_delivery_mode: 'ping' }))
      .thenThrows('invalid_client_metadata');
    application([])
      .when(
        create({ client_name: 'Agent', grant_types: ['client_credentials'], backchannel_token_delivery_mode: 'poll' }),
      )
      .thenThrows('invalid_client_metadata');
    application([])
      .when(
        create({
          client_name: 'Agent',
          grant_types: [CIBA_GRANT_TYPE],
          backchannel_token_delivery_mode: 'ping',
          backchannel_client_notification_endpoint: 'https://user:pass@agent.example/ciba',
        }),
      )
      .thenThrows('invalid_client_metadata');
  });

  it('reads an application created before CIBA as having neither field', () => {
    const {
      backchannel_token_delivery_mode: _mode,
      backchannel_client_notification_endpoint: _endpoint,
      ...old
    } = withDefaults('web', { client_name: 'Old', redirect_uris: ['https://old.example/cb'] });
    const state = applicationDecider.evolve(applicationDecider.initialState(), {
      type: 'application.created',
      data: { application_id: 'app_1', client_id: 'client-1', kind: 'web', ...old, secret_id: 'cls_1' },
    });
    expect(state.status === 'active' && state.metadata.backchannel_token_delivery_mode).toBeNull();
  });
});

function decideFresh(command: Parameters<typeof applicationDecider.decide>[0]) {
  return applicationDecider.decide(command, applicationDecider.initialState());
}
