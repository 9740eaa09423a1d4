import { apiKeyAggregate } from './api-key.ts';
import { emailAggregate } from './email.ts';
import { reservationAggregate } from './reservation.ts';
import { tenantAggregate } from './tenant.ts';
import { webhookEndpointAggregate } from './webhook.ts';

/** Every aggregate SigID writes (test/registries.unit.test.ts checks each commands/ module is here). */
export const aggregates = [
  tenantAggregate,
  apiKeyAggregate,
  webhookEndpointAggregate,
  reservationAggregate,
  emailAggregate,
] as const;
