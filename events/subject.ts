import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

export const subjectPersonalDataErased = defineEvent({
  type: 'subject.personal_data.erased',
  version: 1,
  description:
    "A data subject's key was destroyed: every personal field about them now reads as null, in reads, exports and replays.",
  schema: z.object({ subject_id: z.string() }),
});

export const subjectEvents = [subjectPersonalDataErased] as const;

export type SubjectEvent = EventOf<(typeof subjectEvents)[number]>;
