/**
 * A process that creates an SSO connection for an organization and exits: the kill tests arm a
 * failpoint in it (SIGID_FAILPOINTS) and it dies there. CONNECTION_INPUT (JSON) names the tenant, the
 * organization, the connection to create and, for a retry to repeat it exactly, the seed of its ids
 * and secrets (as an Idempotency-Key's request draws them).
 */
import pino from 'pino';
import { findOrganization } from '../../read-models/organizations.ts';
import { createConnection } from '../../services/connections.ts';
import { useCase } from '../../services/context.ts';
import { loadConfig } from '../../src/config.ts';
import { seededRandom, systemRandom } from '../../src/random.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const input = JSON.parse(process.env.CONNECTION_INPUT ?? '{}');
const organization = await findOrganization(sigid.readModels, input.tenantId, input.organizationId);
if (!organization) throw new Error(`no organization ${input.organizationId}`);
const random = input.seed ? seededRandom(Buffer.from(input.seed.value, 'hex'), new Date(input.seed.at)) : systemRandom;
const context = {
  tenantId: input.tenantId,
  actor: { type: 'system', id: 'connection-child' } as const,
  correlationId: 'child',
};
await createConnection(sigid, organization, input.connection, useCase(context, random));
await sigid.close();
