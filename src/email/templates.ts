import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { z } from 'zod';
import type { EmailParams } from '../../commands/email.ts';
import { lineSchema } from '../text.ts';
import type { LinkPurpose } from './links.ts';

const HOUR = 3600_000;
const name = lineSchema.trim().min(1).max(200);

/**
 * Every message SigID sends: its parameters (strict: nothing else can ride along, and none is a
 * secret; the link's token is made by the worker, never passed in), and the signed link it carries,
 * with its purpose and default lifetime. Each has three files under `templates/`: `{name}.subject.eta`,
 * `{name}.txt.eta` and `{name}.html.eta`. A new message adds its entry here and its three files.
 */
export const emailTemplates = {
  /** "Confirm your e-mail address": a verification link, valid 24 hours. */
  'verify-email': {
    params: z.strictObject({ name: name.optional() }),
    link: { purpose: 'verify_email', lifetimeMs: 24 * HOUR },
  },
  /** "Reset your password": a reset link, valid 1 hour. */
  'reset-password': {
    params: z.strictObject({ name: name.optional() }),
    link: { purpose: 'reset_password', lifetimeMs: HOUR },
  },
  /** "You already have an account": someone signed up with an address that has one; a reset link, valid 1 hour. */
  'account-exists': {
    params: z.strictObject({ name: name.optional() }),
    link: { purpose: 'reset_password', lifetimeMs: HOUR },
  },
  /** "You are invited to …": an invitation to join the tenant, valid up to 7 days (the invitation's expiry). */
  invitation: {
    params: z.strictObject({}),
    link: { purpose: 'accept_invitation', lifetimeMs: 7 * 24 * HOUR },
  },
  /**
   * "… asks for your approval": a client's CIBA request, with its binding message; the link opens the
   * approval page, valid until the request expires (10 minutes unless the client asked for less).
   */
  'approval-request': {
    params: z.strictObject({ client: name, binding_message: lineSchema.max(64).optional() }),
    link: { purpose: 'approve_request', lifetimeMs: 10 * 60_000 },
  },
  /** "New sign-in to your account": when, and from where if known; no link. */
  'sign-in-alert': {
    params: z.strictObject({
      name: name.optional(),
      time: z.iso.datetime({ offset: true }),
      ip: lineSchema.max(64).optional(),
      device: lineSchema.max(200).optional(),
    }),
    link: null,
  },
} as const satisfies Record<string, { params: z.ZodObject; link: { purpose: LinkPurpose; lifetimeMs: number } | null }>;

export type EmailTemplateName = keyof typeof emailTemplates;

export function isEmailTemplate(template: string): template is EmailTemplateName {
  return Object.hasOwn(emailTemplates, template);
}

/** What a template is rendered with. */
export interface EmailContent {
  tenantName: string;
  params: EmailParams;
  /** The link's URL, token included, and when it expires. */
  link: { url: string; expiresAt: Date } | null;
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

const views = fileURLToPath(new URL('./templates/', import.meta.url));

/**
 * Renders messages from the eta templates under `templates/`. HTML is rendered with every
 * interpolation escaped (`autoEscape`), so a tenant named `<script>` is text; the text part and the
 * subject are plain text, where nothing is markup, so they are not escaped (an `&` stays an `&`).
 */
export class EmailRenderer {
  readonly #html = new Eta({ views, autoEscape: true, cache: true, autoTrim: [false, 'nl'] });
  readonly #text = new Eta({ views, autoEscape: false, cache: true, autoTrim: [false, 'nl'] });

  render(template: EmailTemplateName, content: EmailContent): RenderedEmail {
    const data = {
      tenant: { name: content.tenantName },
      params: emailTemplates[template].params.parse(content.params) as Record<string, unknown>,
      link: content.link ? { url: content.link.url, expires: formatTime(content.link.expiresAt) } : null,
      /** An ISO 8601 time as the messages show times. */
      time: (iso: string) => formatTime(new Date(iso)),
    };
    const subject = this.#text.render(`./${template}.subject.eta`, data).replace(/\s+/g, ' ').trim();
    return {
      subject,
      text: `${this.#text.render(`./${template}.txt.eta`, data).trim()}\n`,
      html: this.#html.render(`./${template}.html.eta`, { ...data, subject }),
    };
  }
}

/** `2 December 2026, 10:15 UTC`: unambiguous in any reader's locale. */
function formatTime(at: Date): string {
  return `${at.toLocaleString('en-GB', {
    timeZone: 'UTC',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  })} UTC`;
}
