import { z } from 'zod';
import { type AccountEvent, accountEvents } from './account.ts';
import { type AgentEvent, agentEvents } from './agent.ts';
import { type ApiEvent, apiEvents } from './api.ts';
import { type ApiKeyEvent, apiKeyEvents } from './api-key.ts';
import { type ApplicationEvent, applicationEvents } from './application.ts';
import { type ApprovalEvent, approvalEvents } from './approval.ts';
import { type ClientMetadataDocumentEvent, clientMetadataDocumentEvents } from './client-metadata-document.ts';
import { type ConnectionEvent, connectionEvents } from './connection.ts';
import { type DelegationEvent, delegationEvents } from './delegation.ts';
import { type EmailEvent, emailEvents } from './email.ts';
import type { EventDefinition, Upcaster } from './envelope.ts';
import { type InvitationEvent, invitationEvents } from './invitation.ts';
import { type MfaEvent, mfaEvents } from './mfa.ts';
import { type OauthEvent, oauthEvents } from './oauth.ts';
import { type OrganizationEvent, organizationEvents } from './organization.ts';
import { type PasskeyEvent, passkeyEvents } from './passkey.ts';
import { type PolicyDecisionEvent, type PolicyEvent, policyDecisionEvents, policyEvents } from './policy.ts';
import { type ReservationEvent, reservationEvents } from './reservation.ts';
import { type RoleEvent, roleEvents } from './role.ts';
import { type SignInEvent, signInEvents } from './sign-in.ts';
import { type SigningKeyEvent, signingKeyEvents } from './signing-key.ts';
import { type SubjectEvent, subjectEvents } from './subject.ts';
import { type TenantEvent, tenantEvents } from './tenant.ts';
import { type UserEvent, userEvents } from './user.ts';
import { type WebhookEvent, webhookEvents, webhookUpcasters } from './webhook.ts';

/**
 * The registry of every event type: the latest definition of each, and the upcasters that bring
 * older stored versions up to it. Webhook subscribers read the same catalog (`describe()`).
 */
export class EventCatalog {
  readonly #latest = new Map<string, EventDefinition>();
  readonly #upcasters = new Map<string, Upcaster>();
  readonly #readSchemas = new Map<string, z.ZodObject>();

  constructor(definitions: readonly EventDefinition[], upcasters: readonly Upcaster[] = []) {
    for (const definition of definitions) {
      const existing = this.#latest.get(definition.type);
      if (existing) throw new Error(`event type ${definition.type} is defined twice`);
      this.#latest.set(definition.type, definition);
      this.#readSchemas.set(definition.type, readSchema(definition));
    }
    for (const upcaster of upcasters) this.#upcasters.set(`${upcaster.type}@${upcaster.fromVersion}`, upcaster);
  }

  get(type: string): EventDefinition {
    const definition = this.#latest.get(type);
    if (!definition) throw new Error(`unknown event type ${type}`);
    return definition;
  }

  has(type: string): boolean {
    return this.#latest.has(type);
  }

  types(): string[] {
    return [...this.#latest.keys()].sort();
  }

  /** Stored data of `type` at `version`, brought to the latest version through every upcaster in turn. */
  upcast(type: string, version: number, data: Record<string, unknown>): Record<string, unknown> {
    const latest = this.get(type).version;
    let current = data;
    for (let from = version; from < latest; from++) {
      const upcaster = this.#upcasters.get(`${type}@${from}`);
      if (!upcaster) throw new Error(`no upcaster for ${type} from version ${from}`);
      current = upcaster.upcast(current);
    }
    return current;
  }

  /** The schema data is checked against on read: personal fields may read as null (erased). */
  readSchema(type: string): z.ZodObject {
    const schema = this.#readSchemas.get(type);
    if (!schema) throw new Error(`unknown event type ${type}`);
    return schema;
  }

  describe(): Array<{ type: string; version: number; description: string; personal_fields: string[] }> {
    return this.types().map((type) => {
      const definition = this.get(type);
      return {
        type,
        version: definition.version,
        description: definition.description,
        personal_fields: [...(definition.personal?.fields ?? [])],
      };
    });
  }
}

function readSchema(definition: EventDefinition): z.ZodObject {
  const fields = definition.personal?.fields ?? [];
  if (fields.length === 0) return definition.schema;
  const shape: Record<string, z.ZodType> = {};
  for (const field of fields) {
    const fieldSchema = definition.schema.shape[field];
    if (!fieldSchema) throw new Error(`${definition.type}: personal field ${field} is not in the schema`);
    shape[field] = (fieldSchema as z.ZodType).nullable();
  }
  return definition.schema.extend(shape);
}

/** The definition of every event SigID writes; typed so that each one's type is in `SigidEvent`. */
const definitions: readonly EventDefinition<SigidEventType>[] = [
  ...tenantEvents,
  ...apiKeyEvents,
  ...subjectEvents,
  ...webhookEvents,
  ...reservationEvents,
  ...oauthEvents,
  ...accountEvents,
  ...applicationEvents,
  ...signingKeyEvents,
  ...emailEvents,
  ...signInEvents,
  ...mfaEvents,
  ...passkeyEvents,
  ...apiEvents,
  ...organizationEvents,
  ...roleEvents,
  ...policyEvents,
  ...policyDecisionEvents,
  ...userEvents,
  ...invitationEvents,
  ...agentEvents,
  ...approvalEvents,
  ...connectionEvents,
  ...clientMetadataDocumentEvents,
  ...delegationEvents,
];

/** Every event SigID writes. */
export const catalog = new EventCatalog(definitions, [...webhookUpcasters]);

/**
 * Every domain event SigID writes, as a union of the per-aggregate unions: switches over it end in a
 * `never` check, and projections' handlers are keyed and typed by it. A new aggregate adds its union here.
 */
export type SigidEvent =
  | TenantEvent
  | ApiKeyEvent
  | SubjectEvent
  | WebhookEvent
  | ReservationEvent
  | OauthEvent
  | AccountEvent
  | ApplicationEvent
  | SigningKeyEvent
  | EmailEvent
  | SignInEvent
  | MfaEvent
  | PasskeyEvent
  | ApiEvent
  | OrganizationEvent
  | RoleEvent
  | PolicyEvent
  | PolicyDecisionEvent
  | UserEvent
  | InvitationEvent
  | AgentEvent
  | ApprovalEvent
  | ConnectionEvent
  | ClientMetadataDocumentEvent
  | DelegationEvent;

/** Every event type in the catalog. */
export type SigidEventType = SigidEvent['type'];

export type {
  AccountEvent,
  AgentEvent,
  ApiEvent,
  ApiKeyEvent,
  ApplicationEvent,
  ApprovalEvent,
  ClientMetadataDocumentEvent,
  ConnectionEvent,
  DelegationEvent,
  EmailEvent,
  InvitationEvent,
  MfaEvent,
  OauthEvent,
  OrganizationEvent,
  PasskeyEvent,
  PolicyDecisionEvent,
  PolicyEvent,
  ReservationEvent,
  RoleEvent,
  SignInEvent,
  SigningKeyEvent,
  SubjectEvent,
  TenantEvent,
  UserEvent,
  WebhookEvent,
};

export const eventTypeSchema = z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/);
