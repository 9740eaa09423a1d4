import { type ConnectionCommand, connectionAggregate } from '../commands/connection.ts';
import type { ClaimMapping, ConnectionSettings, OidcSettings } from '../events/connection.ts';
import type { ConnectionRow } from '../read-models/connections.ts';
import type { OrganizationRow } from '../read-models/organizations.ts';
import { findRole } from '../read-models/roles.ts';
import { handleCommand } from '../src/command-handler.ts';
import { NotFoundError, ProblemError, type ProblemIssue } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import { checkIssuer } from '../src/sso/oidc-connection.ts';
import type { UseCase, Written } from './context.ts';

type Change = UseCase & { ifMatch?: number | undefined };

/** The claims an OIDC connection reads when the admin maps none: the standard claims (OIDC Core 5.1). */
export const DEFAULT_CLAIM_MAPPING: ClaimMapping = {
  email: 'email',
  email_verified: 'email_verified',
  name: 'name',
  given_name: 'given_name',
  family_name: 'family_name',
  roles: null,
};

/** The scopes asked of the IdP when the admin names none. */
export const DEFAULT_SCOPES = ['openid', 'email', 'profile'];

export interface OidcInput {
  issuer: string;
  client_id: string;
  client_secret: string;
  scopes?: string[] | undefined;
  claim_mapping?: Partial<ClaimMapping> | undefined;
}

export interface NewConnection {
  name: string;
  protocol: 'oidc';
  enabled?: boolean | undefined;
  oidc: OidcInput;
  role_mapping?: Record<string, string> | undefined;
  link_existing_accounts?: boolean | undefined;
}

export interface ConnectionChanges {
  name?: string | undefined;
  enabled?: boolean | undefined;
  oidc?: Partial<OidcInput> | undefined;
  role_mapping?: Record<string, string> | undefined;
  link_existing_accounts?: boolean | undefined;
}

/** `openid` first, then the others in the order given, each once. */
const withOpenid = (scopes: string[]) => [...new Set(['openid', ...scopes])];

async function connectionState(sigid: Sigid, tenantId: string, connectionId: string) {
  const history = await sigid.log.readStream(connectionAggregate.stream(tenantId, connectionId));
  return history.reduce(
    (current, event) => connectionAggregate.decider.evolve(current, event as never),
    connectionAggregate.decider.initialState(),
  );
}

/**
 * Checks the role mapping: each value one of the tenant's roles (400 naming `role_mapping.<value>`
 * otherwise), and a claim to read roles from when there is any (400 naming `oidc.claim_mapping.roles`).
 */
async function checkRoleMapping(
  sigid: Sigid,
  tenantId: string,
  mapping: Record<string, string>,
  claims: ClaimMapping,
): Promise<void> {
  const issues: ProblemIssue[] = [];
  for (const [value, roleId] of Object.entries(mapping)) {
    if (!(await findRole(sigid.readModels, tenantId, roleId))) {
      issues.push({
        path: `role_mapping.${value}`,
        message: `No role ${roleId} in this tenant.`,
        code: 'unknown_role',
      });
    }
  }
  if (Object.keys(mapping).length > 0 && claims.roles === null) {
    issues.push({
      path: 'oidc.claim_mapping.roles',
      message: 'A role mapping needs the IdP claim its values are read from.',
      code: 'custom',
    });
  }
  if (issues.length > 0) throw new ProblemError('invalid_request', 'The role mapping cannot be used.', issues);
}

/** Seals the client secret, inactive until the event that names its id is read. */
async function sealSecret(sigid: Sigid, connectionId: string, secret: string, context: UseCase): Promise<string> {
  const secretId = context.random.id('cls');
  await sigid.secrets.put(context.tenantId, 'connection-secret', secretId, Buffer.from(secret, 'utf8'), {
    ownerId: connectionId,
  });
  return secretId;
}

/**
 * Creates an SSO connection for an organization: checks the role mapping and the IdP (its discovery
 * document through the SSRF guard), seals the client secret, then records `connection.created`
 * naming only the secret's id. Nothing is written when a check fails.
 */
export async function createConnection(
  sigid: Sigid,
  organization: OrganizationRow,
  input: NewConnection,
  context: UseCase,
): Promise<{ connectionId: string; written: Written }> {
  const claimMapping = { ...DEFAULT_CLAIM_MAPPING, ...input.oidc.claim_mapping };
  const roleMapping = input.role_mapping ?? {};
  await checkRoleMapping(sigid, context.tenantId, roleMapping, claimMapping);
  await checkIssuer(sigid, input.oidc.issuer);
  const connectionId = context.random.id('con');
  const secretId = await sealSecret(sigid, connectionId, input.oidc.client_secret, context);
  failpoint('connection.create:after-secret');
  const settings: ConnectionSettings = {
    name: input.name,
    oidc: {
      issuer: input.oidc.issuer,
      client_id: input.oidc.client_id,
      client_secret_id: secretId,
      scopes: withOpenid(input.oidc.scopes ?? DEFAULT_SCOPES),
      claim_mapping: claimMapping,
    },
    role_mapping: roleMapping,
    link_existing_accounts: input.link_existing_accounts ?? false,
  };
  const written = await handleCommand(
    sigid.log,
    connectionAggregate,
    connectionId,
    {
      type: 'create_connection',
      connection_id: connectionId,
      organization_id: organization.organization_id,
      enabled: input.enabled ?? true,
      settings,
    },
    context,
  );
  return { connectionId, written };
}

/**
 * Changes a connection: fields left out stay, `oidc` is merged field by field (its `claim_mapping`
 * too). A changed issuer is checked again; a new client secret is sealed under a new id, which
 * replaces the old one from its event on. `enabled` is its own event (`connection.enabled`/`.disabled`).
 */
export async function updateConnection(
  sigid: Sigid,
  connection: ConnectionRow,
  changes: ConnectionChanges,
  context: Change,
): Promise<Written> {
  const state = await connectionState(sigid, context.tenantId, connection.connection_id);
  if (state.status !== 'active') throw new NotFoundError('The connection');
  const current = state.settings;
  const wanted: Partial<ConnectionSettings> = {};
  if (changes.name !== undefined) wanted.name = changes.name;
  if (changes.link_existing_accounts !== undefined) wanted.link_existing_accounts = changes.link_existing_accounts;
  if (changes.role_mapping !== undefined) wanted.role_mapping = changes.role_mapping;
  let oidc: OidcSettings = current.oidc;
  if (changes.oidc) {
    const { client_secret, claim_mapping, scopes, ...rest } = changes.oidc;
    oidc = {
      ...oidc,
      ...Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined)),
      ...(scopes ? { scopes: withOpenid(scopes) } : {}),
      claim_mapping: { ...oidc.claim_mapping, ...claim_mapping },
    };
    wanted.oidc = oidc;
  }
  await checkRoleMapping(sigid, context.tenantId, wanted.role_mapping ?? current.role_mapping, oidc.claim_mapping);
  if (oidc.issuer !== current.oidc.issuer) await checkIssuer(sigid, oidc.issuer);
  if (changes.oidc?.client_secret !== undefined) {
    const secretId = await sealSecret(sigid, connection.connection_id, changes.oidc.client_secret, context);
    wanted.oidc = { ...oidc, client_secret_id: secretId };
  }
  const commands: ConnectionCommand[] = [{ type: 'update_connection', changes: wanted }];
  if (changes.enabled !== undefined) commands.push({ type: 'set_enabled', enabled: changes.enabled });
  return handleCommand(sigid.log, connectionAggregate, connection.connection_id, commands, context);
}

/** Deletes a connection; its client secret is destroyed at its event (the `secrets` reactor). */
export function deleteConnection(sigid: Sigid, connection: ConnectionRow, context: Change): Promise<Written> {
  return handleCommand(
    sigid.log,
    connectionAggregate,
    connection.connection_id,
    { type: 'delete_connection' },
    context,
  );
}

/** The organization's connection ids whose streams are live (for the organization's delete). */
export async function liveConnectionsOf(sigid: Sigid, tenantId: string, organizationId: string): Promise<string[]> {
  const rows = await sigid.readModels
    .selectFrom('connections')
    .select('connection_id')
    .where('tenant_id', '=', tenantId)
    .where('organization_id', '=', organizationId)
    .execute();
  return rows.map((row) => row.connection_id);
}
