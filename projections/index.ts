import { apiKeysProjection } from './api-keys.ts';
import type { Projection } from './projection.ts';
import { secretsReactor } from './secrets.ts';
import { tenantsProjection } from './tenants.ts';
import { webhookEndpointsProjection } from './webhook-endpoints.ts';

/** Every projection the runner keeps up to date. */
export const projections: readonly Projection[] = [
  tenantsProjection,
  apiKeysProjection,
  webhookEndpointsProjection,
  secretsReactor,
];
