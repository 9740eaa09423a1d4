import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * APIs: a tenant's resource servers. Each has an `identifier` (the RFC 8707 `resource` value and its
 * tokens' `aud`), the scopes it defines, and the lifetime of its access tokens; a grant says which of
 * its scopes one application may get. The rules on each field are in src/http/apis.ts and docs/apis.md.
 */

export const apiScopeSchema = z.object({ value: z.string(), description: z.string() });
export type ApiScope = z.infer<typeof apiScopeSchema>;

/** What an admin can change after creation (the identifier is fixed for good). */
export const apiSettingsFields = {
  name: z.string(),
  scopes: z.array(apiScopeSchema),
  access_token_ttl_seconds: z.number().int().positive(),
};

const settingsSchema = z.object(apiSettingsFields);
/** Every changeable field of an API, all present. */
export type ApiSettings = z.infer<typeof settingsSchema>;

export const apiCreated = defineEvent({
  type: 'api.created',
  version: 1,
  description:
    'An API (a resource server) was registered with its identifier, its scopes and its access token lifetime.',
  schema: z.object({ api_id: z.string(), identifier: z.string(), ...apiSettingsFields }),
});

const partialSettings = settingsSchema.partial();

export const apiUpdated = defineEvent({
  type: 'api.updated',
  version: 1,
  description:
    "An API's name, scopes or token lifetime changed; `changes` holds the new values and `previous` the old ones. A scope removed is removed from every grant.",
  schema: z.object({ api_id: z.string(), changes: partialSettings, previous: partialSettings }),
});

export const apiDeleted = defineEvent({
  type: 'api.deleted',
  version: 1,
  description: 'An API was deleted: its grants end, and its identifier can be registered again.',
  schema: z.object({ api_id: z.string(), identifier: z.string() }),
});

export const apiGrantSet = defineEvent({
  type: 'api.grant.set',
  version: 1,
  description: "An application's grant on an API was set: the scopes of the API it may get (replacing any before).",
  schema: z.object({
    api_id: z.string(),
    application_id: z.string(),
    scopes: z.array(z.string()),
    previous_scopes: z.array(z.string()).nullable(),
  }),
});

export const apiGrantRemoved = defineEvent({
  type: 'api.grant.removed',
  version: 1,
  description: "An application's grant on an API was removed: it gets none of the API's scopes any more.",
  schema: z.object({ api_id: z.string(), application_id: z.string(), scopes: z.array(z.string()) }),
});

export const apiEvents = [apiCreated, apiUpdated, apiDeleted, apiGrantSet, apiGrantRemoved] as const;

export type ApiEvent = EventOf<(typeof apiEvents)[number]>;
