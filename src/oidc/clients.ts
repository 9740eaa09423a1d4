import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { CIBA_GRANT_TYPE } from '../../events/application.ts';
import { type ApplicationRow, findApplicationByClientId } from '../../read-models/applications.ts';
import { isConfidential } from '../applications/client-metadata.ts';
import { SealedValueUnreadable } from '../secrets/keyring.ts';
import type { Sigid } from '../sigid.ts';
import type { OidcClients } from './adapter.ts';
import { notificationEndpointStandIn } from './ciba.ts';

/** The client id of every tenant's account page (an application can never take it: ids are `sigid_…`-free). */
export const ACCOUNT_CLIENT_ID = 'sigid-account';

/**
 * An application as oidc-provider client metadata. A confidential client gets a stand-in
 * `client_secret` (oidc-provider's schema wants one): it is never compared (the issuer checks
 * presented secrets against the stored hashes) and never used as a key (no HS* algorithm is enabled).
 */
export function clientMetadata(row: ApplicationRow, standIn: (clientId: string) => string): Record<string, unknown> {
  const confidential = row.token_endpoint_auth_method !== 'none';
  return {
    client_id: row.client_id,
    ...(confidential ? { client_secret: standIn(row.client_id) } : {}),
    client_name: row.client_name,
    application_type: row.application_type,
    redirect_uris: row.redirect_uris,
    post_logout_redirect_uris: row.post_logout_redirect_uris,
    grant_types: row.grant_types,
    response_types: row.response_types,
    token_endpoint_auth_method: row.token_endpoint_auth_method,
    id_token_signed_response_alg: 'ES256',
    ...(row.logo_uri ? { logo_uri: row.logo_uri } : {}),
    allowed_origins: row.allowed_origins,
    require_pkce: row.require_pkce,
    access_token_ttl: row.access_token_ttl_seconds,
    id_token_ttl: row.id_token_ttl_seconds,
    refresh_token_ttl: row.refresh_token_ttl_seconds,
    ...(row.grant_types.includes(CIBA_GRANT_TYPE)
      ? { backchannel_token_delivery_mode: row.backchannel_token_delivery_mode ?? 'poll' }
      : {}),
    ...(row.backchannel_client_notification_endpoint
      ? {
          backchannel_client_notification_endpoint: notificationEndpointStandIn(
            row.backchannel_client_notification_endpoint,
          ),
          ciba_notification_endpoint: row.backchannel_client_notification_endpoint,
        }
      : {}),
  };
}

/** Longer than any secret SigID makes: a longer one is refused before it is hashed. */
const MAX_PRESENTED = 512;

/** How long a process keeps what it read of a client: the bound on how late a change reaches its issuers. */
export const CLIENT_CACHE_MS = 1000;

interface Known {
  row: ApplicationRow;
  metadata: Record<string, unknown>;
  /** The SHA-256 of each working secret, with when it stops working (null: until rotated). */
  secrets: Array<{ hash: Buffer; expiresAt: Date | null }>;
}

/**
 * The issuers' clients: the tenants' applications (read model) and their working secret hashes
 * (sealed-secrets store), kept for CLIENT_CACHE_MS per process, so a token request costs no query
 * for its client. An application's change, deletion or secret rotation reaches every issuer within
 * that bound; a secret's overlap still ends on the second (its expiry is kept and checked on use).
 */
export class ClientDirectory implements OidcClients {
  readonly #sigid: Pick<Sigid, 'readModels' | 'masterKey' | 'secrets'>;
  readonly #known: LRUCache<string, Promise<Known | null>>;
  readonly #standIn: (clientId: string) => string;

  readonly #publicUrl: () => string;

  constructor(
    sigid: Pick<Sigid, 'readModels' | 'masterKey' | 'secrets'> & { config?: { publicUrl: string } },
    ttlMs = CLIENT_CACHE_MS,
  ) {
    this.#sigid = sigid;
    this.#publicUrl = () => sigid.config?.publicUrl ?? 'http://localhost';
    this.#known = new LRUCache({ max: 10_000, ttl: ttlMs });
    this.#standIn = (clientId) =>
      createHmac('sha256', sigid.masterKey).update(`oidc client secret stand-in:${clientId}`).digest('base64url');
  }

  async find(tenantId: string, clientId: string): Promise<Record<string, unknown> | undefined> {
    if (clientId === ACCOUNT_CLIENT_ID) return this.#accountClient(tenantId);
    return (await this.#lookup(tenantId, clientId))?.metadata;
  }

  /**
   * Whether `presented` is one of the client's working secrets: its current one, or the previous
   * one until its overlap ends. SHA-256 digests compared in constant time, every working secret in
   * turn. False for an unknown client, a deleted application and a public one.
   */
  async verifySecret(tenantId: string, clientId: string, presented: string, now = new Date()): Promise<boolean> {
    if (typeof presented !== 'string' || presented.length === 0 || presented.length > MAX_PRESENTED) return false;
    const known = await this.#lookup(tenantId, clientId);
    if (!known || known.row.secret_id === null || !isConfidential(known.row.kind)) return false;
    const candidate = hash('sha256', presented, 'buffer');
    let matched = false;
    for (const secret of known.secrets) {
      const working = secret.expiresAt === null || secret.expiresAt > now;
      if (working && secret.hash.length === candidate.length && timingSafeEqual(secret.hash, candidate)) matched = true;
    }
    return matched;
  }

  /**
   * Every tenant's built-in client of its account page (`/t/{slug}/account`): public, PKCE, the
   * account page's callback its only redirect. It never gets a token: signing in sets the session.
   */
  async #accountClient(tenantId: string): Promise<Record<string, unknown> | undefined> {
    const tenant = await this.#sigid.readModels
      .selectFrom('tenants')
      .select('slug')
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    if (!tenant) return undefined;
    const issuer = `${this.#publicUrl().replace(/\/+$/, '')}/t/${tenant.slug}`;
    return {
      client_id: ACCOUNT_CLIENT_ID,
      client_name: 'Your account',
      application_type: 'web',
      redirect_uris: [`${issuer}/account/callback`],
      post_logout_redirect_uris: [],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
      require_pkce: true,
    };
  }

  #lookup(tenantId: string, clientId: string): Promise<Known | null> {
    const key = `${tenantId}\u0000${clientId}`;
    let known = this.#known.get(key);
    if (!known) {
      known = this.#read(tenantId, clientId);
      this.#known.set(key, known);
      known.catch(() => this.#known.delete(key));
    }
    return known;
  }

  async #read(tenantId: string, clientId: string): Promise<Known | null> {
    const row = await findApplicationByClientId(this.#sigid.readModels, tenantId, clientId);
    if (!row) return null;
    let secrets: Known['secrets'] = [];
    if (row.secret_id !== null) {
      try {
        const owned = await this.#sigid.secrets.listOwned(tenantId, 'client-secret', row.application_id);
        secrets = owned.map((secret) => ({ hash: secret.value, expiresAt: secret.expiresAt }));
      } catch (error) {
        if (!(error instanceof SealedValueUnreadable)) throw error;
      }
    }
    return { row, metadata: clientMetadata(row, this.#standIn), secrets };
  }
}
