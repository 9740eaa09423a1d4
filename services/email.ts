import { z } from 'zod';
import { type EmailParams, emailAggregate } from '../commands/email.ts';
import { reservationAggregate, reservationId } from '../commands/reservation.ts';
import { handleCommand } from '../src/command-handler.ts';
import { type LinkPurpose, type LinkRefusal, type SignedLink, verifyLink } from '../src/email/links.ts';
import { type EmailTemplateName, emailTemplates, isEmailTemplate } from '../src/email/templates.ts';
import { ConflictError, ValidationError } from '../src/errors.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';
import { claimReservation } from './reservations.ts';

/** The longest a link may live: a link in a mailbox is a credential. */
const MAX_LINK_LIFETIME_MS = 7 * 24 * 3600_000;

export interface EmailRequest {
  tenantId: string;
  /** The data subject the mail is for: `to` and `params` are sealed under their key (erasure shreds them). */
  subjectId: string;
  /** One address. */
  to: string;
  template: EmailTemplateName;
  /** The template's parameters (see `emailTemplates`); never a secret. */
  params: EmailParams;
  /**
   * For a template with a link: the page it opens, an absolute http(s) URL to which the worker adds
   * `?token=…`, and when it expires (default: the template's lifetime; at most 7 days).
   */
  link?: { url: string; expiresAt?: Date | undefined } | undefined;
}

const requestSchema = z.object({
  subjectId: z.string().min(1).max(200),
  to: z.email().max(320),
  link: z
    .object({
      url: z
        .url({ protocol: /^https?$/ })
        .max(1500)
        .refine((url) => !new URL(url).searchParams.has('token'), 'the link URL must not carry a token'),
      expiresAt: z.date().optional(),
    })
    .optional(),
});

/**
 * Queues one e-mail: appends `email.queued` (the recipient and parameters sealed under the subject's
 * key, the link's id, purpose and expiry, never its token), and that append is the whole write; the
 * e-mail worker sends it from the event. The message id comes from `context.random`, so a retried
 * request queues nothing twice. The link's id is the message's id. Bad input is a 400 and writes nothing.
 */
export async function queueEmail(
  sigid: Sigid,
  request: EmailRequest,
  context: UseCase,
): Promise<{ messageId: string; linkId: string | null; written: Written }> {
  if (request.tenantId !== context.tenantId)
    throw new Error('queueEmail: the request and its context name other tenants');
  if (!isEmailTemplate(request.template))
    throw new ValidationError(`There is no e-mail template "${request.template}".`);
  const template = emailTemplates[request.template];
  const parsed = requestSchema.safeParse(request);
  if (!parsed.success) throw new ValidationError('The e-mail cannot be queued.', parsed.error.issues);
  const params = template.params.safeParse(request.params);
  if (!params.success)
    throw new ValidationError(`The parameters of "${request.template}" are not valid.`, params.error.issues);
  if (template.link && !parsed.data.link) throw new ValidationError(`"${request.template}" needs a link URL.`);
  if (!template.link && parsed.data.link) throw new ValidationError(`"${request.template}" carries no link.`);

  const messageId = context.random.id('eml');
  let link = null;
  if (template.link && parsed.data.link) {
    const now = Date.now();
    const expiresAt = parsed.data.link.expiresAt ?? new Date(now + template.link.lifetimeMs);
    if (expiresAt.getTime() <= now || expiresAt.getTime() > now + MAX_LINK_LIFETIME_MS) {
      throw new ValidationError('A link must expire in the future, and within 7 days.');
    }
    link = {
      link_id: messageId,
      purpose: template.link.purpose,
      url: parsed.data.link.url,
      expires_at: expiresAt.toISOString(),
    };
  }
  const written = await handleCommand(
    sigid.log,
    emailAggregate,
    messageId,
    {
      type: 'queue_email',
      message_id: messageId,
      subject_id: parsed.data.subjectId,
      template: request.template,
      to: parsed.data.to,
      params: params.data as EmailParams,
      link,
    },
    context,
  );
  return { messageId, linkId: link ? messageId : null, written };
}

export type ConsumedLink =
  | { ok: true; link: SignedLink; written: Written }
  | { ok: false; reason: LinkRefusal | 'used' };

/**
 * Uses a signed link once: verifies it (signature, purpose, expiry, and that it is this tenant's),
 * then claims its id through a reservation stream, so a second use — in this process or any other —
 * is refused (`used`). A request retried with its Idempotency-Key draws the same claimant from
 * `context.random` and gets the same answer. The token is never written anywhere.
 */
export async function consumeLink(
  sigid: Sigid,
  token: string,
  purpose: LinkPurpose,
  context: UseCase,
): Promise<ConsumedLink> {
  const verified = verifyLink(sigid.secrets.keyring, token, purpose);
  if (!verified.ok) return verified;
  if (verified.link.tenantId !== context.tenantId) return { ok: false, reason: 'invalid' };
  try {
    const claim = await claimReservation(
      sigid,
      { scope: context.tenantId, kind: 'email_link', value: verified.link.linkId, ownerId: context.random.id('req') },
      context,
    );
    return { ok: true, link: verified.link, written: claim.written };
  } catch (error) {
    if (error instanceof ConflictError && error.code === 'link_used') return { ok: false, reason: 'used' };
    throw error;
  }
}

/**
 * Checks a signed link without using it (a page showing the new-password form before it is sent):
 * what `consumeLink` would answer now, and nothing is written.
 */
export async function checkLink(
  sigid: Sigid,
  token: string,
  purpose: LinkPurpose,
  tenantId: string,
): Promise<{ ok: true; link: SignedLink } | { ok: false; reason: LinkRefusal | 'used' }> {
  const verified = verifyLink(sigid.secrets.keyring, token, purpose);
  if (!verified.ok) return verified;
  if (verified.link.tenantId !== tenantId) return { ok: false, reason: 'invalid' };
  const claims = await sigid.log.readStream(
    reservationAggregate.stream(tenantId, reservationId('email_link', verified.link.linkId)),
  );
  return claims.length > 0 ? { ok: false, reason: 'used' } : verified;
}
