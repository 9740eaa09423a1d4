import type { AccountLinksModel } from './account-links.ts';
import type { AccountMfaModel } from './account-mfa.ts';
import type { AccountsModel } from './accounts.ts';
import type { AgentAnchorsModel } from './agent-anchors.ts';
import type { AgentChallengesModel } from './agent-challenges.ts';
import type { AgentKeysModel } from './agent-keys.ts';
import type { AgentSuspensionsModel } from './agent-suspensions.ts';
import type { AgentsModel } from './agents.ts';
import type { ApiGrantsModel } from './api-grants.ts';
import type { ApiKeysModel } from './api-keys.ts';
import type { ApisModel } from './apis.ts';
import type { ApplicationsModel } from './applications.ts';
import type { ApprovalsModel } from './approvals.ts';
import type { ConnectionsModel } from './connections.ts';
import type { DelegationsModel } from './delegations.ts';
import type { EmailOutboxModel } from './email-outbox.ts';
import type { IdempotencyKeysModel } from './idempotency-keys.ts';
import type { InvitationsModel } from './invitations.ts';
import type { OidcPayloadsModel } from './oidc-payloads.ts';
import type { OperatorKeysModel } from './operator-keys.ts';
import type { OrganizationDomainsModel } from './organization-domains.ts';
import type { OrganizationMembersModel } from './organization-members.ts';
import type { OrganizationsModel } from './organizations.ts';
import type { PasskeysModel } from './passkeys.ts';
import type { PoliciesModel } from './policies.ts';
import type { ProjectionCheckpointsModel } from './projection-checkpoints.ts';
import type { ProjectionFailuresModel } from './projection-failures.ts';
import type { RoleAssignmentsModel } from './role-assignments.ts';
import type { RolesModel } from './roles.ts';
import type { SealedSecretsModel } from './sealed-secrets.ts';
import type { SigningKeysModel } from './signing-keys.ts';
import type { SubjectKeysModel } from './subject-keys.ts';
import type { TenantsModel } from './tenants.ts';
import type { ThrottleCountersModel } from './throttle-counters.ts';
import type { UsersModel } from './users.ts';
import type { WebauthnChallengesModel } from './webauthn-challenges.ts';
import type { WebhookAttemptsModel } from './webhook-attempts.ts';
import type { WebhookEndpointsModel } from './webhook-endpoints.ts';
import type { WebhookMessagesModel } from './webhook-messages.ts';
import type { WebhookSubscriptionsModel } from './webhook-subscriptions.ts';

/**
 * The tables projections build from events: a rebuild empties them and replays every event, so they
 * hold nothing that is not in the event stream. `Projection.tables` names only these.
 */
export type ProjectedTables = TenantsModel &
  ApiKeysModel &
  WebhookEndpointsModel &
  AccountsModel &
  AccountLinksModel &
  AccountMfaModel &
  ApplicationsModel &
  SigningKeysModel &
  PasskeysModel &
  ApisModel &
  ApiGrantsModel &
  OrganizationsModel &
  OrganizationMembersModel &
  OrganizationDomainsModel &
  RolesModel &
  RoleAssignmentsModel &
  PoliciesModel &
  UsersModel &
  InvitationsModel &
  AgentsModel &
  AgentKeysModel &
  AgentAnchorsModel &
  ApprovalsModel &
  ConnectionsModel &
  DelegationsModel &
  AgentSuspensionsModel;

/** A table a projection may own (and a rebuild may empty). */
export type ProjectedTableName = keyof ProjectedTables;

/**
 * Everything else: workers' checkpoints and set-aside events, the webhook queue, its cursors and
 * attempts, the e-mail outbox, secrets (hashed or sealed), idempotent answers, the sign-in throttle's
 * counters. Never emptied by a rebuild: a queue emptied would drop deliveries, a checkpoint emptied
 * would replay side effects.
 */
export type WorkerStateTables = ProjectionCheckpointsModel &
  ProjectionFailuresModel &
  WebhookSubscriptionsModel &
  WebhookMessagesModel &
  WebhookAttemptsModel &
  SealedSecretsModel &
  OperatorKeysModel &
  SubjectKeysModel &
  IdempotencyKeysModel &
  OidcPayloadsModel &
  EmailOutboxModel &
  ThrottleCountersModel &
  WebauthnChallengesModel &
  AgentChallengesModel;

/**
 * Every table besides the event store's own, for kysely: the intersection of each table file's
 * partial type (`{ [tableName]: Table }`), so no table file imports this one. Query functions take
 * the partial type of the tables they read.
 */
export type ReadModels = ProjectedTables & WorkerStateTables;
