import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * A SigID account's passkeys (platform events, in the account's `passkeys-{account_id}` stream).
 * Their relying party is SigID's own host, never a tenant's, so one passkey signs the person in at
 * every tenant. A credential's public key is no secret; the private key never leaves the device.
 */
export const passkeyAdded = defineEvent({
  type: 'passkey.added',
  version: 1,
  description:
    'A passkey (WebAuthn discoverable credential) was registered for a SigID account: its credential id, COSE public key, signature counter, transports and whether it is synced (backed up).',
  schema: z.object({
    account_id: z.string(),
    passkey_id: z.string(),
    credential_id: z.string(),
    public_key: z.string(),
    counter: z.number().int().nonnegative(),
    transports: z.array(z.string()),
    device_type: z.enum(['singleDevice', 'multiDevice']),
    backed_up: z.boolean(),
  }),
});

export const passkeyUsed = defineEvent({
  type: 'passkey.used',
  version: 1,
  description: "A SigID account's passkey signed a sign-in; its new signature counter.",
  schema: z.object({ account_id: z.string(), passkey_id: z.string(), counter: z.number().int().nonnegative() }),
});

export const passkeyRemoved = defineEvent({
  type: 'passkey.removed',
  version: 1,
  description: "A SigID account's passkey was removed by its owner: it signs no one in from this event on.",
  schema: z.object({ account_id: z.string(), passkey_id: z.string() }),
});

export const passkeyEvents = [passkeyAdded, passkeyUsed, passkeyRemoved] as const;

export type PasskeyEvent = EventOf<(typeof passkeyEvents)[number]>;
