import type { Migration } from 'kysely/migration';
import * as eventStore from './2026_11_23_0001_event_store.ts';
import * as projections from './2026_11_23_0002_projections.ts';
import * as secrets from './2026_11_23_0003_secrets.ts';
import * as tenants from './2026_11_23_0004_tenants.ts';
import * as webhooks from './2026_11_23_1900_webhooks.ts';
import * as webhookQueueCursor from './2026_11_24_0001_webhook_queue_cursor.ts';
import * as webhookRetention from './2026_11_24_0002_webhook_retention.ts';
import * as sealedSecrets from './2026_12_01_0001_sealed_secrets.ts';
import * as idempotencyLease from './2026_12_01_0002_idempotency_lease.ts';
import * as oneCheckpointTable from './2026_12_01_0003_one_checkpoint_table.ts';
import * as applications from './2026_12_02_0001_applications.ts';
import * as signingKeys from './2026_12_02_0002_signing_keys.ts';
import * as emailOutbox from './2026_12_02_0003_email_outbox.ts';
import * as oidcStorage from './2026_12_02_0004_oidc_storage.ts';
import * as accounts from './2026_12_02_0005_accounts.ts';
import * as throttleCounters from './2026_12_03_0501_throttle_counters.ts';
import * as passkeys from './2026_12_03_0601_passkeys.ts';
import * as accountMfa from './2026_12_03_0701_account_mfa.ts';
import * as tenantSettings from './2026_12_03_0801_tenant_settings.ts';
import * as apis from './2026_12_04_0101_apis.ts';
import * as users from './2026_12_05_0101_users.ts';
import * as invitations from './2026_12_05_0102_invitations.ts';
import * as roles from './2026_12_05_0201_roles.ts';
import * as policies from './2026_12_05_0301_policies.ts';
import * as organizations from './2026_12_05_0401_organizations.ts';
import * as ssoConnections from './2026_12_06_0101_sso_connections.ts';
import * as agents from './2026_12_07_0101_agents.ts';
import * as approvals from './2026_12_07_0201_approvals.ts';
import * as clientRegistration from './2026_12_07_0301_client_registration.ts';
import * as agentAnchors from './2026_12_08_0101_agent_anchors.ts';
import * as delegations from './2026_12_08_0201_delegations.ts';

/** Every migration, in order. Frozen in time: a change to the schema is a new entry, never an edit. */
export const migrations: Record<string, Migration> = {
  '2026_11_23_0001_event_store': eventStore,
  '2026_11_23_0002_projections': projections,
  '2026_11_23_0003_secrets': secrets,
  '2026_11_23_0004_tenants': tenants,
  '2026_11_23_1900_webhooks': webhooks,
  '2026_11_24_0001_webhook_queue_cursor': webhookQueueCursor,
  '2026_11_24_0002_webhook_retention': webhookRetention,
  '2026_12_01_0001_sealed_secrets': sealedSecrets,
  '2026_12_01_0002_idempotency_lease': idempotencyLease,
  '2026_12_01_0003_one_checkpoint_table': oneCheckpointTable,
  '2026_12_02_0001_applications': applications,
  '2026_12_02_0002_signing_keys': signingKeys,
  '2026_12_02_0003_email_outbox': emailOutbox,
  '2026_12_02_0004_oidc_storage': oidcStorage,
  '2026_12_02_0005_accounts': accounts,
  '2026_12_03_0501_throttle_counters': throttleCounters,
  '2026_12_03_0601_passkeys': passkeys,
  '2026_12_03_0701_account_mfa': accountMfa,
  '2026_12_03_0801_tenant_settings': tenantSettings,
  '2026_12_04_0101_apis': apis,
  '2026_12_05_0101_users': users,
  '2026_12_05_0102_invitations': invitations,
  '2026_12_05_0201_roles': roles,
  '2026_12_05_0301_policies': policies,
  '2026_12_05_0401_organizations': organizations,
  '2026_12_06_0101_sso_connections': ssoConnections,
  '2026_12_07_0101_agents': agents,
  '2026_12_07_0201_approvals': approvals,
  '2026_12_07_0301_client_registration': clientRegistration,
  '2026_12_08_0101_agent_anchors': agentAnchors,
  '2026_12_08_0201_delegations': delegations,
};
