import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * OAuth Client ID Metadata Documents at a tenant's issuer (docs/mcp.md): a client identified by an
 * https URL whose document the issuer fetched. Recorded when a document (or a changed one) is first
 * accepted and when one is refused, not on every request that uses it.
 */
export const clientMetadataDocumentAccepted = defineEvent({
  type: 'oauth.client_metadata_document.accepted',
  version: 1,
  description:
    "A tenant's issuer fetched a client's metadata document (its client_id is the document's https URL) and accepted it: the client's name, redirect URIs, authentication method and the document's SHA-256. Recorded again when the document changes.",
  schema: z.object({
    client_id: z.string(),
    client_name: z.string().nullable(),
    redirect_uris: z.array(z.string()),
    token_endpoint_auth_method: z.string(),
    document_sha256: z.string(),
  }),
});

export const clientMetadataDocumentRefused = defineEvent({
  type: 'oauth.client_metadata_document.refused',
  version: 1,
  description:
    "A tenant's issuer refused a client identified by an https URL: its document could not be fetched (`fetch_failed`), is not valid client metadata (`invalid_document`), or asks for what SigID does not give such clients (`not_allowed`: a shared secret, no PKCE-capable flow, a redirect URI SigID refuses).",
  schema: z.object({
    client_id: z.string(),
    reason: z.enum(['fetch_failed', 'invalid_document', 'not_allowed']),
    detail: z.string(),
  }),
});

export const clientMetadataDocumentEvents = [clientMetadataDocumentAccepted, clientMetadataDocumentRefused] as const;

export type ClientMetadataDocumentEvent = EventOf<(typeof clientMetadataDocumentEvents)[number]>;
