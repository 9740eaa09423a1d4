import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * Approvals: a client (an application, later an agent) asks a person to approve a request through
 * CIBA (OpenID Connect Client-Initiated Backchannel Authentication); the person approves or denies
 * it on a hosted page, and the issuer is then told, so the client's poll (or ping) gets its tokens or
 * `access_denied`. No event carries a token, the `auth_req_id` or the client's notification token:
 * those live in the issuer's own storage.
 */

/** How the client learns of the decision (CIBA §5): it polls the token endpoint, or is pinged first. */
export const approvalDeliveryModeSchema = z.enum(['poll', 'ping']);

export const approvalRequested = defineEvent({
  type: 'approval.requested',
  version: 1,
  description:
    'A client asked the person `sub` to approve a request (CIBA): which client, the OpenID and API scopes asked for, the binding message shown to both, and when the request expires. The person is e-mailed a link to the approval page.',
  schema: z.object({
    approval_id: z.string(),
    client_id: z.string(),
    sub: z.string(),
    /** OpenID Connect scopes asked for (`openid`, `email`, `offline_access`). */
    scopes: z.array(z.string()),
    /** The API (RFC 8707 resource) asked for, and the scopes of it; null and empty without one. */
    resource: z.string().nullable(),
    resource_scopes: z.array(z.string()),
    binding_message: z.string().nullable(),
    /** `acr_values` the client asked for (as given; MFA is asked whenever the person has a second factor). */
    acr_values: z.array(z.string()),
    delivery_mode: approvalDeliveryModeSchema,
    expires_at: z.iso.datetime(),
  }),
});

export const approvalGranted = defineEvent({
  type: 'approval.granted',
  version: 1,
  description:
    'The person approved the request at the approval page, signed in at the tenant (`amr` says how, `mfa` when a second factor was checked for this approval); the client gets tokens with these scopes.',
  schema: z.object({
    approval_id: z.string(),
    client_id: z.string(),
    sub: z.string(),
    scopes: z.array(z.string()),
    resource: z.string().nullable(),
    resource_scopes: z.array(z.string()),
    amr: z.array(z.string()),
  }),
});

export const approvalDenied = defineEvent({
  type: 'approval.denied',
  version: 1,
  description: 'The person denied the request at the approval page; the client gets `access_denied`.',
  schema: z.object({ approval_id: z.string(), client_id: z.string(), sub: z.string() }),
});

export const approvalDelivered = defineEvent({
  type: 'approval.delivered',
  version: 1,
  description:
    "The issuer was told the decision: `result` is what the client's next token request gets (`tokens_ready`, `access_denied`, or `request_gone` when the request had expired first); `notified` whether its ping notification was answered 2xx.",
  schema: z.object({
    approval_id: z.string(),
    result: z.enum(['tokens_ready', 'access_denied', 'request_gone']),
    notified: z.boolean(),
  }),
});

export const approvalEvents = [approvalRequested, approvalGranted, approvalDenied, approvalDelivered] as const;

export type ApprovalEvent = EventOf<(typeof approvalEvents)[number]>;
