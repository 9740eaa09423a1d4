import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

export const apiKeyCreated = defineEvent({
  type: 'api_key.created',
  version: 1,
  description: 'A tenant admin API key was issued. The key itself is shown once and never stored or sent.',
  schema: z.object({ key_id: z.string(), name: z.string() }),
});

export const apiKeyRevoked = defineEvent({
  type: 'api_key.revoked',
  version: 1,
  description: 'A tenant admin API key was revoked; it is refused from now on.',
  schema: z.object({ key_id: z.string() }),
});

export const apiKeyEvents = [apiKeyCreated, apiKeyRevoked] as const;

export type ApiKeyEvent = EventOf<(typeof apiKeyEvents)[number]>;
