import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * A signed link a message carries, as the event records it: its id (the message's), what it is for
 * and until when, and the page it opens. Never the token: the e-mail worker derives the token again
 * from these fields with the link key (src/email/links.ts), so it is stored nowhere.
 */
export const emailLinkSchema = z.object({
  link_id: z.string(),
  purpose: z.string().min(1).max(40),
  /** The page the token is added to (`?token=`); an absolute http(s) URL. */
  url: z.string().min(1).max(2048),
  expires_at: z.iso.datetime(),
});

/** A template parameter: plain values only (templates format them). */
export const emailParamSchema = z.union([z.string().max(2000), z.number(), z.boolean(), z.null()]);

export const emailQueued = defineEvent({
  type: 'email.queued',
  version: 1,
  description:
    'An e-mail was queued for one data subject: which template, for whom (`to` and `params` sealed under the subject, null once erased) and the signed link it carries (its id, purpose and expiry; never the token). The e-mail worker sends it from this event.',
  schema: z.object({
    message_id: z.string(),
    subject_id: z.string(),
    template: z.string().min(1).max(60),
    to: z.string().min(3).max(320),
    params: z.record(z.string(), emailParamSchema),
    link: emailLinkSchema.nullable(),
  }),
  personal: { subject: (data) => data.subject_id, fields: ['to', 'params'] },
});

export const emailTransportSchema = z.enum(['smtp', 'file']);

export const emailSent = defineEvent({
  type: 'email.sent',
  version: 1,
  description:
    'A queued e-mail was handed to the SMTP server (or written to the outbox directory) after `attempts` attempts. A crash between the two may send it once more, with the same Message-ID.',
  schema: z.object({ message_id: z.string(), attempts: z.number().int().min(1), transport: emailTransportSchema }),
});

/**
 * Why a message was given up: refused for good by the server (`rejected`, a 5xx reply); the server
 * unreachable or deferring until the retry schedule ran out (`unavailable`); nothing to send any more
 * (`recipient_erased`, `tenant_deleted`, `link_expired`); or a template that would not render.
 */
export const emailFailureReasonSchema = z.enum([
  'rejected',
  'unavailable',
  'recipient_erased',
  'tenant_deleted',
  'link_expired',
  'render_failed',
]);

export const emailFailed = defineEvent({
  type: 'email.failed',
  version: 1,
  description:
    "A queued e-mail was given up: `reason` says why, `smtp_code` is the last SMTP reply code (if any), `error_code` the last transport error code (if any). Never the server's text, which can quote the address.",
  schema: z.object({
    message_id: z.string(),
    attempts: z.number().int().min(0),
    reason: emailFailureReasonSchema,
    smtp_code: z.number().int().nullable(),
    error_code: z.string().max(40).nullable(),
  }),
});

export const emailEvents = [emailQueued, emailSent, emailFailed] as const;

export type EmailEvent = EventOf<(typeof emailEvents)[number]>;

export type EmailFailureReason = z.infer<typeof emailFailureReasonSchema>;
export type EmailTransportKind = z.infer<typeof emailTransportSchema>;
