import { accountAggregate } from './account.ts';
import { apiKeyAggregate } from './api-key.ts';
import { applicationAggregate } from './application.ts';
import { emailAggregate } from './email.ts';
import { mfaAggregate } from './mfa.ts';
import { passkeysAggregate } from './passkey.ts';
import { reservationAggregate } from './reservation.ts';
import { signingKeysAggregate } from './signing-keys.ts';
import { tenantAggregate } from './tenant.ts';
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
] as const;
