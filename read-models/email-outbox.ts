import type { Generated, Selectable } from 'kysely';

export const tableName = 'email_outbox';

/**
 * Worker state, not a projected table: the e-mail worker's queue (src/email/worker.ts). One row per
 * message queued and not yet sent or given up, with its retry state; no recipient, no content (the
 * worker reads those from the `email.queued` event when it sends).
 */
export interface EmailOutboxTable {
  tenant_id: string;
  message_id: string;
  /** Queue order. */
  seq: Generated<number>;
  /** The message's stream and its `email.queued` event's global position. */
  stream: string;
  event_position: number;
  queued_at: Date;
  /** Attempts started so far. */
  attempts: Generated<number>;
  next_attempt_at: Date;
  /** Set while an attempt runs: a row left with it set was being sent by a process that died. */
  sending_since: Date | null;
  /** The last attempt's error code (a transport code or an SMTP reply code), never the server's text. */
  last_error: string | null;
}

export type EmailOutboxRow = Selectable<EmailOutboxTable>;

/** The database as far as this table goes. */
export type EmailOutboxModel = { [tableName]: EmailOutboxTable };
