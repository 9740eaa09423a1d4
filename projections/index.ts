import type { SigidEventType } from '../events/catalog.ts';
import { accountMfaProjection } from './account-mfa.ts';
import { accountsProjection } from './accounts.ts';
import { agentsProjection } from './agents.ts';
import { apiKeysProjection } from './api-keys.ts';
import { apisProjection } from './apis.ts';
import { applicationsProjection } from './applications.ts';
import { approvalsProjection } from './approvals.ts';
import { connectionsProjection } from './connections.ts';
import { delegationsProjection } from './delegations.ts';
import { invitationsProjection } from './invitations.ts';
import { organizationsProjection } from './organizations.ts';
import { passkeysProjection } from './passkeys.ts';
import { policiesProjection } from './policies.ts';
import type { Projection } from './projection.ts';
import { rolesProjection } from './roles.ts';
import { secretsReactor } from './secrets.ts';
import { sessionsReactor } from './sessions.ts';
import { signingKeysProjection } from './signing-keys.ts';
import { tenantsProjection } from './tenants.ts';
import { usersProjection } from './users.ts';
import { webhookEndpointsProjection } from './webhook-endpoints.ts';

/** Every projection the runner keeps up to date. A new aggregate's projection is added here. */
export const projections: readonly Projection[] = [
  tenantsProjection,
  apiKeysProjection,
  webhookEndpointsProjection,
  accountsProjection,
  accountMfaProjection,
  applicationsProjection,
  signingKeysProjection,
  passkeysProjection,
  apisProjection,
  organizationsProjection,
  rolesProjection,
  policiesProjection,
  usersProjection,
  invitationsProjection,
  agentsProjection,
  approvalsProjection,
  connectionsProjection,
  delegationsProjection,
  secretsReactor,
  sessionsReactor,
];

/**
 * Event types no read model shows: they are facts for the audit log, the event export and webhooks
 * only (a test fails when a catalog type is neither handled by a projection nor listed here).
 * - `tenant.slug.reserved`: the reservation stream's own event; the tenant's row carries its slug.
 * - replay and redelivery requests: the fan-out queues the messages when it reaches them.
 * - token events: the issuer's own storage holds the tokens; the events are the audit trail.
 * - reservations: the write side's uniqueness; the owner's row carries the value.
 * - e-mail: the e-mail worker (src/email/worker.ts) reads `email.queued` off the stream with its own
 *   checkpoint, as the webhook fan-out does; outcomes are facts for the audit log.
 */
export const auditOnly: readonly SigidEventType[] = [
  'tenant.slug.reserved',
  'webhook.endpoint.replay_requested',
  'webhook.message.redelivery_requested',
  'reservation.claimed',
  'reservation.released',
  'reservation.transferred',
  // The token log is the audit trail itself; what a token allows is checked by the issuer's own storage.
  'oauth.token.issued',
  'oauth.token.revoked',
  'oauth.refresh_token.reused',
  'email.queued',
  'email.sent',
  'email.failed',
  // Sign-in: oidc-provider's storage holds the sessions and grants; the events are the audit trail.
  'sign_in.failed',
  'session.started',
  'consent.granted',
  // Second factors: a challenge is decided on the account's mfa stream (the write side); the events are the audit trail.
  'mfa.challenged',
  // A token a policy refused: the issuer's refusal, for the audit log.
  'policy.token.denied',
  // A client's metadata document accepted or refused: the issuer caches the document itself; the events are the audit trail.
  'oauth.client_metadata_document.accepted',
  'oauth.client_metadata_document.refused',
];
