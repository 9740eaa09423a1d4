import { AsyncLocalStorage } from 'node:async_hooks';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { OauthEvent } from '../../events/oauth.ts';
import type { Database } from '../db/database.ts';
import { build, run } from '../db/typed-query.ts';
import type { WriteContext } from '../event-log.ts';
import { failpoint } from '../failpoints.ts';
import { startWorkerLoop } from '../worker-loop.ts';
import type { TokenLog } from './token-log.ts';

/** What the request that reaches an issuer is, for the events its tokens cause. */
export interface IssuerRequest {
  correlationId: string;
  /** The endpoint's path below the issuer, such as `/token`. */
  path: string;
}

/** Set around every request an issuer serves (its storage has no request of its own). */
export const issuerRequest = new AsyncLocalStorage<IssuerRequest>();

/** Where the issuer finds its clients: the tenant's applications, as oidc-provider client metadata. */
export interface OidcClients {
  find(tenantId: string, clientId: string): Promise<Record<string, unknown> | undefined>;
}

/** The stored models whose instances are tokens a client holds: their issue is an audited event. */
const TOKEN_MODELS: Record<string, 'access_token' | 'refresh_token' | undefined> = {
  AccessToken: 'access_token',
  ClientCredentials: 'access_token',
  RefreshToken: 'refresh_token',
};

/** A stored model's payload as oidc-provider reads and writes it. */
type Payload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
};

/** oidc-provider's token payload fields the events are made of. */
interface TokenPayload {
  jti?: string;
  clientId?: string;
  accountId?: string;
  gty?: string;
  scope?: string;
  aud?: string | string[];
  resource?: string | string[];
  exp?: number;
  jkt?: string;
  grantId?: string;
}

/** The write context of an event a token causes: the person it is for, else the client itself (an agent or an application). */
export function tokenContext(tenantId: string, sub: string | null | undefined, clientId: string): WriteContext {
  return {
    tenantId,
    actor: sub
      ? { type: 'user', id: sub }
      : clientId.startsWith('agt_')
        ? { type: 'agent', id: clientId }
        : { type: 'application', id: clientId },
    correlationId: issuerRequest.getStore()?.correlationId ?? 'issuer',
  };
}

/** The `oauth.token.issued` event of a token oidc-provider is about to hand out. */
export function tokenIssued(
  kind: 'access_token' | 'refresh_token',
  format: 'jwt' | 'opaque',
  token: TokenPayload,
  grantType: string,
): OauthEvent & { type: 'oauth.token.issued' } {
  const audience = token.aud ?? token.resource;
  return {
    type: 'oauth.token.issued',
    data: {
      kind,
      format,
      jti: String(token.jti),
      client_id: String(token.clientId),
      sub: token.accountId ?? null,
      grant_type: grantType,
      scopes: token.scope ? token.scope.split(' ').filter(Boolean) : [],
      audience: audience === undefined ? [] : Array.isArray(audience) ? audience : [audience],
      expires_at: new Date((token.exp ?? 0) * 1000).toISOString(),
      dpop_jkt: token.jkt ?? null,
      grant_id: token.grantId ?? null,
    },
  };
}

/**
 * The storage adapter of one tenant's issuer: every model in `oidc_payloads` (so any process can
 * serve any request), clients from the tenant's applications, and the audit events of the tokens
 * it stores appended before they are stored (and so before they are returned).
 */
export function storageAdapter(deps: { db: Database; tenantId: string; clients: OidcClients; tokens: TokenLog }) {
  const { db, tenantId, clients, tokens } = deps;
  return class SigidOidcAdapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      const kind = TOKEN_MODELS[this.model];
      if (kind && !payload.consumed) {
        const token = payload as TokenPayload;
        const grantType = this.model === 'ClientCredentials' ? 'client_credentials' : (token.gty ?? 'unknown');
        await tokens.record(
          tokenIssued(kind, 'opaque', token, grantType),
          tokenContext(tenantId, token.accountId, String(token.clientId)),
        );
        // The event first, then the token stored: a crash between leaves an audited token that was
        // never stored, so never returned and never usable (test/oidc.processes.int.test.ts).
        failpoint('oidc.token:after-event');
      }
      const expiresAt = typeof expiresIn === 'number' ? new Date(Date.now() + expiresIn * 1000) : null;
      const row = {
        tenant_id: tenantId,
        model: this.model,
        id,
        payload: sql<Record<string, unknown>>`${JSON.stringify(payload)}::jsonb`,
        grant_id: payload.grantId ?? null,
        uid: payload.uid ?? null,
        user_code: payload.userCode ?? null,
        expires_at: expiresAt,
      };
      await run(
        db,
        build
          .insertInto('oidc_payloads')
          .values(row)
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'model', 'id']).doUpdateSet({
              payload: row.payload,
              grant_id: row.grant_id,
              uid: row.uid,
              user_code: row.user_code,
              expires_at: row.expires_at,
            }),
          ),
      );
    }

    async find(id: string): Promise<Payload | undefined> {
      if (this.model === 'Client') return (await clients.find(tenantId, id)) as Payload | undefined;
      return this.#findWhere('id', id);
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      return this.#findWhere('uid', uid);
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      return this.#findWhere('user_code', userCode);
    }

    async consume(id: string): Promise<void> {
      await run(
        db,
        build
          .updateTable('oidc_payloads')
          .set({ consumed_at: sql`now()` })
          .where('tenant_id', '=', tenantId)
          .where('model', '=', this.model)
          .where('id', '=', id),
      );
    }

    async destroy(id: string): Promise<void> {
      const { rows } = await run(
        db,
        build
          .deleteFrom('oidc_payloads')
          .where('tenant_id', '=', tenantId)
          .where('model', '=', this.model)
          .where('id', '=', id)
          .returning('payload'),
      );
      const kind = TOKEN_MODELS[this.model];
      const token = rows[0]?.payload as TokenPayload | undefined;
      // A token destroyed at the revocation endpoint was revoked by its client.
      if (kind && token && issuerRequest.getStore()?.path === '/token/revocation') {
        await tokens.record(
          {
            type: 'oauth.token.revoked',
            data: { kind, jti: id, client_id: String(token.clientId), grant_id: token.grantId ?? null },
          },
          tokenContext(tenantId, token.accountId, String(token.clientId)),
        );
      }
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await run(
        db,
        build.deleteFrom('oidc_payloads').where('tenant_id', '=', tenantId).where('grant_id', '=', grantId),
      );
    }

    async #findWhere(column: 'id' | 'uid' | 'user_code', value: string): Promise<Payload | undefined> {
      const { rows } = await run(
        db,
        build
          .selectFrom('oidc_payloads')
          .select(['id', 'payload', 'consumed_at'])
          .where('tenant_id', '=', tenantId)
          .where('model', '=', this.model)
          .where(column, '=', value)
          .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
          .limit(1),
      );
      const row = rows[0];
      if (!row) return undefined;
      const payload = { ...row.payload } as Payload;
      if (row.consumed_at) {
        payload.consumed = Math.floor(row.consumed_at.getTime() / 1000);
        // A rotated refresh token presented again at the token endpoint: oidc-provider revokes its
        // grant and refuses; the reuse is recorded first.
        if (this.model === 'RefreshToken' && issuerRequest.getStore()?.path === '/token') {
          const token = payload as TokenPayload;
          await tokens.record(
            {
              type: 'oauth.refresh_token.reused',
              data: { jti: row.id, client_id: String(token.clientId), grant_id: token.grantId ?? null },
            },
            tokenContext(tenantId, token.accountId, String(token.clientId)),
          );
        }
      }
      return payload;
    }
  };
}

/** Rows removed per statement. */
const PRUNE_BATCH = 5000;

/** Deletes stored models that expired more than `graceMs` ago. */
export async function pruneOidcPayloads(db: Database, graceMs = 60_000): Promise<number> {
  let removed = 0;
  for (;;) {
    const { rows } = await db.query<{ removed: number }>(
      `with gone as (
         delete from oidc_payloads where ctid = any(array(
           select ctid from oidc_payloads where expires_at < now() - make_interval(secs => $1::float8 / 1000)
           limit ${PRUNE_BATCH}))
         returning 1)
       select count(*)::int as removed from gone`,
      [graceMs],
    );
    const count = rows[0]?.removed ?? 0;
    removed += count;
    if (count < PRUNE_BATCH) return removed;
  }
}

/** Prunes expired issuer storage every `everyMs`, in one process at a time. */
export function pruneOidcPayloadsEvery(
  db: Database,
  options: { everyMs: number; logger?: Logger | undefined },
): { stop: () => Promise<void> } {
  return startWorkerLoop({
    db,
    lock: 'oidc:prune',
    startAfterMs: Math.min(options.everyMs, 10_000),
    everyMs: options.everyMs,
    lockRetryMs: options.everyMs,
    restartMs: options.everyMs,
    logger: options.logger,
    describe: { worker: 'issuer storage expiry' },
    async work() {
      const removed = await pruneOidcPayloads(db);
      if (removed > 0) options.logger?.info({ removed }, 'expired issuer storage removed');
    },
  });
}

/**
 * The newest live grant a person gave a client at a tenant, in any session: consent is remembered
 * per person and application (as people expect), not per browser session. Revoking the consent
 * destroys the grant, and the next sign-in asks again.
 */
export async function rememberedGrantId(
  db: Database,
  tenantId: string,
  sub: string,
  clientId: string,
): Promise<string | undefined> {
  const { rows } = await run(
    db,
    build
      .selectFrom('oidc_payloads')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('model', '=', 'Grant')
      .where(sql<string>`payload->>'accountId'`, '=', sub)
      .where(sql<string>`payload->>'clientId'`, '=', clientId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]))
      .orderBy(sql`(payload->>'iat')::bigint`, 'desc')
      .limit(1),
  );
  return rows[0]?.id;
}

/**
 * Takes `id` of `model` once while it lives (a DPoP proof's `jti`): true the first time, false
 * while an earlier one has not expired. One statement, so two processes given the same proof at
 * the same moment cannot both take it (oidc-provider's own check reads, then writes).
 */
export async function takeOnce(
  db: Database,
  tenantId: string,
  model: string,
  id: string,
  payload: Record<string, unknown>,
  expiresInSeconds: number,
): Promise<boolean> {
  const expiresAt = new Date(Date.now() + Math.max(1, expiresInSeconds) * 1000);
  const stored = sql<Record<string, unknown>>`${JSON.stringify(payload)}::jsonb`;
  const { rows } = await run(
    db,
    build
      .insertInto('oidc_payloads')
      .values({ tenant_id: tenantId, model, id, payload: stored, expires_at: expiresAt })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'model', 'id'])
          .doUpdateSet({ payload: stored, expires_at: expiresAt, consumed_at: null })
          .where('oidc_payloads.expires_at', '<=', new Date()),
      )
      .returning('id'),
  );
  return rows.length === 1;
}
