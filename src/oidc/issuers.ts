import { createHash, hkdfSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import type Provider from 'oidc-provider';
import { slugSchema } from '../../events/tenant.ts';
import type { Database } from '../db/database.ts';
import { cookieScheme } from '../pages/cookies.ts';
import { buildIssuer, type IssuerSources, serveIssuer } from './provider.ts';
import type { TokenLog } from './token-log.ts';

/** A tenant an issuer serves: found by its slug. */
export interface IssuerTenant {
  id: string;
  slug: string;
}

export interface IssuerPoolOptions {
  db: Database;
  tokens: TokenLog;
  sources: IssuerSources;
  /** The tenant of a slug, or undefined when there is none (or it may not sign anyone in). */
  findTenant(slug: string): Promise<IssuerTenant | undefined>;
  /** SigID's public URL (read when an issuer is built): `{publicUrl}/t/{slug}` is the issuer. */
  publicUrl: () => string;
  /** The master keys (current first) the cookie keys are derived from. */
  masterKeys: readonly Buffer[];
  /** Most issuers kept built (the least recently used go first). */
  max?: number;
  /** How long an unknown slug is remembered as unknown. */
  missTtlMs?: number;
  /** How often a kept issuer checks its tenant's keys for a rotation. */
  recheckMs?: number;
}

interface Entry {
  tenant: IssuerTenant;
  provider: Provider;
  keysHash: string;
  checkedAt: number;
  /** The check under way (one at a time: the requests that find the entry due all wait for it). */
  checking?: Promise<boolean>;
}

const hashOf = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('base64url');

/**
 * The tenants' issuers, one oidc-provider instance each (issuer, keys and clients are bound to an
 * instance), built on a tenant's first request and kept in a bounded LRU pool; an issuer whose
 * tenant's signing keys changed is rebuilt on its next request after `recheckMs`; unknown slugs are
 * remembered for a short time so random paths cannot make the pool build and thrash.
 */
export class IssuerPool {
  readonly #options: IssuerPoolOptions;
  readonly #entries: LRUCache<string, Promise<Entry>>;
  readonly #misses: LRUCache<string, true>;
  readonly #cookieKeys: string[];
  readonly #dpopNonceSecret: Buffer;

  constructor(options: IssuerPoolOptions) {
    this.#options = options;
    this.#entries = new LRUCache({ max: options.max ?? 1000 });
    this.#misses = new LRUCache({ max: 10_000, ttl: options.missTtlMs ?? 30_000 });
    // The same keys in every process of one deployment: derived from the master key (and the
    // previous one, so cookies signed before a rotation still verify).
    this.#cookieKeys = options.masterKeys.map((key) =>
      Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'sigid oidc cookie keys', 32)).toString('base64url'),
    );
    // DPoP nonces (RFC 9449 §8) are sealed with one secret that every process of the deployment shares.
    const current = options.masterKeys[0];
    if (!current) throw new Error('the issuers need a master key');
    this.#dpopNonceSecret = Buffer.from(hkdfSync('sha256', current, Buffer.alloc(0), 'sigid oidc dpop nonces', 32));
  }

  /** How many issuers are built now. */
  get size(): number {
    return this.#entries.size;
  }

  issuerUrl(slug: string): string {
    return `${this.#options.publicUrl().replace(/\/+$/, '')}/t/${slug}`;
  }

  /** The issuer of `slug`, built if need be; undefined for an unknown tenant. */
  async get(slug: string): Promise<Entry | undefined> {
    // Not a slug at all (a hostile path segment): no tenant, and nothing to look up.
    if (!slugSchema.safeParse(slug).success || this.#misses.has(slug)) return undefined;
    const cached = this.#entries.get(slug);
    if (cached) {
      const entry = await cached.catch(() => undefined);
      if (entry && Date.now() - entry.checkedAt < (this.#options.recheckMs ?? 5000)) return entry;
      // Now and then a kept issuer checks that its tenant may still sign in and its keys are the same.
      if (entry) {
        entry.checking ??= this.#stillCurrent(slug, entry).finally(() => {
          entry.checking = undefined;
        });
        if (await entry.checking) return entry;
      }
      // Changed (or the build had failed): the first waiter here builds it anew, the others wait for that.
      if (this.#entries.get(slug) === cached) this.#entries.delete(slug);
      else return this.get(slug);
    }
    const building = this.#build(slug);
    this.#entries.set(slug, building as Promise<Entry>);
    const entry = await building.catch((error: unknown) => {
      this.#entries.delete(slug);
      throw error;
    });
    if (!entry) {
      this.#entries.delete(slug);
      this.#misses.set(slug, true);
    }
    return entry;
  }

  /** Whether a kept issuer still serves its tenant as it is: the tenant may sign in, its keys unchanged. */
  async #stillCurrent(slug: string, entry: Entry): Promise<boolean> {
    if ((await this.#options.findTenant(slug))?.id !== entry.tenant.id) return false;
    const keys = await this.#options.sources.signingKeys(entry.tenant.id);
    if (hashOf(keys) !== entry.keysHash) return false;
    entry.checkedAt = Date.now();
    return true;
  }

  /** Forgets a tenant's issuer (its tenant changed): the next request builds it again. */
  forget(slug: string): void {
    this.#entries.delete(slug);
    this.#misses.delete(slug);
  }

  async #build(slug: string): Promise<Entry | undefined> {
    const tenant = await this.#options.findTenant(slug);
    if (!tenant) return undefined;
    const jwks = await this.#options.sources.signingKeys(tenant.id);
    const provider = buildIssuer({
      db: this.#options.db,
      tokens: this.#options.tokens,
      sources: this.#options.sources,
      tenant,
      issuer: this.issuerUrl(tenant.slug),
      cookieKeys: this.#cookieKeys,
      cookies: (() => {
        const scheme = cookieScheme(this.#options.publicUrl());
        return { names: scheme.issuer(tenant.slug), secure: scheme.secure };
      })(),
      jwks,
      dpopNonceSecret: this.#dpopNonceSecret,
    });
    return { tenant, provider, keysHash: hashOf(jwks), checkedAt: Date.now() };
  }

  /** Serves one request below `/t/{slug}` (the path already stripped of it); false for an unknown tenant. */
  async serve(slug: string, request: IncomingMessage, response: ServerResponse, correlationId: string) {
    const entry = await this.get(slug);
    if (!entry) return false;
    await serveIssuer(entry.provider, request, response, correlationId);
    return true;
  }
}
