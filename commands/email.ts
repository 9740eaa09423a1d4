import type { z } from 'zod';
import type {
  EmailEvent,
  EmailFailureReason,
  EmailTransportKind,
  emailLinkSchema,
  emailParamSchema,
} from '../events/email.ts';
import { NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

export type EmailLink = z.infer<typeof emailLinkSchema>;
export type EmailParams = Record<string, z.infer<typeof emailParamSchema>>;

export type EmailCommand =
  /** Queues a message for the e-mail worker; its id, recipient and link were made by the caller. */
  | {
      type: 'queue_email';
      message_id: string;
      subject_id: string;
      template: string;
      to: string;
      params: EmailParams;
      link: EmailLink | null;
    }
  /** Records that the message was handed over; a no-op once it is sent or given up. */
  | { type: 'record_sent'; attempts: number; transport: EmailTransportKind }
  /** Records that the message was given up; a no-op once it is sent or given up. */
  | {
      type: 'record_failed';
      attempts: number;
      reason: EmailFailureReason;
      smtp_code: number | null;
      error_code: string | null;
    };

/** `to` and `params` read as null once the subject is erased. */
export type EmailState =
  | { status: 'absent' }
  | {
      status: 'queued' | 'sent' | 'failed';
      message_id: string;
      subject_id: string;
      template: string;
      to: string | null;
      params: EmailParams | null;
      link: EmailLink | null;
    };

export const emailDecider: Decider<EmailCommand, EmailState, EmailEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'email.queued':
        return {
          status: 'queued',
          message_id: event.data.message_id,
          subject_id: event.data.subject_id,
          template: event.data.template,
          to: event.data.to,
          params: event.data.params,
          link: event.data.link,
        };
      case 'email.sent':
        return state.status === 'queued' ? { ...state, status: 'sent' } : state;
      case 'email.failed':
        return state.status === 'queued' ? { ...state, status: 'failed' } : state;
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'queue_email':
        // A message id names one message: queuing it again is the same request retried.
        if (state.status !== 'absent') return [];
        return [
          {
            type: 'email.queued',
            data: {
              message_id: command.message_id,
              subject_id: command.subject_id,
              template: command.template,
              to: command.to,
              params: command.params,
              link: command.link,
            },
          },
        ];
      case 'record_sent':
        if (state.status === 'absent') throw new NotFoundError('The e-mail');
        if (state.status !== 'queued') return [];
        return [
          {
            type: 'email.sent',
            data: { message_id: state.message_id, attempts: command.attempts, transport: command.transport },
          },
        ];
      case 'record_failed':
        if (state.status === 'absent') throw new NotFoundError('The e-mail');
        if (state.status !== 'queued') return [];
        return [
          {
            type: 'email.failed',
            data: {
              message_id: state.message_id,
              attempts: command.attempts,
              reason: command.reason,
              smtp_code: command.smtp_code,
              error_code: command.error_code,
            },
          },
        ];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** One e-mail message: its stream is `{tenant_id}-{message_id}` (`eml_…`). */
export const emailAggregate = defineAggregate('email', emailDecider);
