import { accountAggregate } from './account.ts';
import { agentAggregate } from './agent.ts';
import { apiAggregate } from './api.ts';
import { apiKeyAggregate } from './api-key.ts';
import { applicationAggregate } from './application.ts';
import { approvalAggregate } from './approval.ts';
import { connectionAggregate } from './connection.ts';
import { delegationAggregate } from './delegation.ts';
import { emailAggregate } from './email.ts';
import { invitationAggregate } from './invitation.ts';
import { mfaAggregate } from './mfa.ts';
import { organizationAggregate } from './organization.ts';
import { passkeysAggregate } from './passkey.ts';
import { policyAggregate } from './policy.ts';
import { reservationAggregate } from './reservation.ts';
import { roleAggregate } from './role.ts';
import { signingKeysAggregate } from './signing-keys.ts';
import { tenantAggregate } from './tenant.ts';
import { userAggregate } from './user.ts';
import { webhookEndpointAggregate } from './webhook.ts';

/** Every aggregate SigID writes (test/registries.unit.test.ts checks each commands/ module is here). */
export const aggregates = [
  tenantAggregate,
  apiKeyAggregate,
  webhookEndpointAggregate,
  reservationAggregate,
  accountAggregate,
  applicationAggregate,
  signingKeysAggregate,
  emailAggregate,
  mfaAggregate,
  passkeysAggregate,
  apiAggregate,
  organizationAggregate,
  roleAggregate,
  policyAggregate,
  userAggregate,
  invitationAggregate,
  agentAggregate,
  approvalAggregate,
  connectionAggregate,
  delegationAggregate,
] as const;
