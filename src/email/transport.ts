import { chmod, lstat, mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer, { type NodemailerError, type SendMailOptions, type Transporter } from 'nodemailer';
import type { EmailTransportKind } from '../../events/email.ts';
import type { RenderedEmail } from './templates.ts';

/** One message as a transport sends it. */
export interface OutgoingEmail {
  messageId: string;
  from: string;
  /** The right-hand side of the Message-ID. */
  domain: string;
  to: string;
  /** When it was queued: its Date header, and its outbox file's name, so a message sent again is the same. */
  queuedAt: Date;
  content: RenderedEmail;
}

export type SendResult =
  | { ok: true; file: string | null }
  /**
   * `permanent`: the server refused this message for good (an SMTP 5xx reply other than 503):
   * sending it again would be refused again. Codes only: a server's text can quote the address.
   */
  | { ok: false; permanent: boolean; smtpCode: number | null; errorCode: string | null };

export interface EmailTransport {
  readonly kind: EmailTransportKind;
  send(message: OutgoingEmail): Promise<SendResult>;
  close(): void;
}

/** The Message-ID of a message: derived from its id, so every copy sent of it carries the same one. */
export const messageIdHeader = (messageId: string, domain: string) => `<${messageId}@${domain}>`;

function mailOptions(message: OutgoingEmail): SendMailOptions {
  return {
    from: message.from,
    // An address object, never a string: a string is parsed as a list of recipients.
    to: { name: '', address: message.to },
    subject: message.content.subject,
    text: message.content.text,
    html: message.content.html,
    messageId: messageIdHeader(message.messageId, message.domain),
    date: message.queuedAt,
    // RFC 3834: no auto-replies to a machine's message.
    headers: { 'Auto-Submitted': 'auto-generated' },
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

/** Nodemailer's error as codes: its SMTP reply code and permanence, and its transport code. */
function failure(error: unknown): Extract<SendResult, { ok: false }> {
  const { responseCode, permanent, code, originalCode } = (error ?? {}) as NodemailerError;
  const smtpCode = typeof responseCode === 'number' ? responseCode : null;
  const errorCode = originalCode ?? code;
  return {
    ok: false,
    permanent: permanent ?? (smtpCode !== null && smtpCode >= 500 && smtpCode !== 503),
    smtpCode,
    errorCode: typeof errorCode === 'string' ? errorCode.slice(0, 40) : null,
  };
}

/**
 * SMTP through nodemailer, one connection per message, every wait bounded by `timeoutMs` (connect,
 * greeting, each reply), so a server that hangs holds one tenant's lane for that long at most.
 */
export class SmtpTransport implements EmailTransport {
  readonly kind = 'smtp' as const;
  readonly #transporter: Transporter;

  constructor(url: string, timeoutMs: number) {
    this.#transporter = nodemailer.createTransport({
      url,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
      logger: false,
      debug: false,
    });
  }

  async send(message: OutgoingEmail): Promise<SendResult> {
    try {
      await this.#transporter.sendMail(mailOptions(message));
      return { ok: true, file: null };
    } catch (error) {
      return failure(error);
    }
  }

  close(): void {
    this.#transporter.close();
  }
}

/**
 * The default without SMTP: each message as an RFC 5322 `.eml` file in `dir` (made 0700, files
 * 0600), named `{queued time}-{message id}.eml`, so a message sent again replaces its own file.
 * Written to a temporary name and renamed: a reader never sees half a message.
 */
export class OutboxDirectoryTransport implements EmailTransport {
  readonly kind = 'file' as const;
  readonly dir: string;
  readonly #transporter = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'windows',
    logger: false,
  });
  #checked = false;

  constructor(dir: string) {
    this.dir = dir;
  }

  async send(message: OutgoingEmail): Promise<SendResult> {
    try {
      await this.#ensureDirectory();
      const info = await this.#transporter.sendMail(mailOptions(message));
      const name = `${message.queuedAt.toISOString().replace(/[-:]/g, '')}-${message.messageId}.eml`;
      const file = join(this.dir, name);
      const partial = join(this.dir, `.${name}.partial`);
      const handle = await open(partial, 'w', 0o600);
      try {
        await handle.chmod(0o600);
        await handle.writeFile(info.message as Buffer);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(partial, file);
      return { ok: true, file };
    } catch (error) {
      this.#checked = false;
      const code = (error as NodeJS.ErrnoException).code;
      return { ok: false, permanent: false, smtpCode: null, errorCode: typeof code === 'string' ? code : 'EOUTBOX' };
    }
  }

  /** The directory exists, is a directory of this user's (not a link), and only this user reads it. */
  async #ensureDirectory(): Promise<void> {
    if (this.#checked) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const stats = await lstat(this.dir);
    const uid = process.getuid?.();
    if (!stats.isDirectory() || (uid !== undefined && stats.uid !== uid)) {
      throw Object.assign(new Error('the outbox directory is not a directory of this user'), { code: 'EOUTBOX' });
    }
    if ((stats.mode & 0o077) !== 0) await chmod(this.dir, 0o700);
    this.#checked = true;
  }

  close(): void {
    this.#transporter.close();
  }
}
