import { createHash, createHmac } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { sql } from 'kysely';
import { ConflictError, UnprocessableError, ValidationError } from '../errors.ts';
import { type RandomSource, seededRandom, systemRandom } from '../random.ts';
import type { Sigid } from '../sigid.ts';
import { principalOf } from './auth.ts';

/**
 * `Idempotency-Key` on POST. The first successful answer is kept (sealed through the sealed-secrets
 * store, kind `idempotency`, since it can hold a key shown once) and returned again for every retry
 * with the same key and body; the same key with another body is a 422; an error answer is not kept,
 * so a corrected retry runs (a refusal leaves no row at all).
 *
 * A request holds its key for a short lease (SIGID_IDEMPOTENCY_LEASE_MS). A retry while the lease
 * runs is a 409 with `Retry-After`; once it has run out (the first handler crashed), the retry takes
 * the key over and runs the request again — with the same ids and secrets, because a keyed request
 * draws them from a source seeded by the key (see `seededRandom`): every step the crashed run
 * finished is then a no-op, and the answer (a shown-once key included) is the one it would have given.
 */
export function idempotency(sigid: Sigid): RequestHandler {
  const db = sigid.readModels;
  return async (request, response, next) => {
    const key = request.get('idempotency-key');
    if (request.method !== 'POST' || key === undefined) return next();
    if (key.length < 1 || key.length > 255) throw new ValidationError('Idempotency-Key must be 1 to 255 characters.');
    const principal = principalOf(response);
    const scope = `${principal.kind === 'operator' ? `operator:${principal.id}` : `tenant:${principal.tenantId}`} ${request.method} ${request.baseUrl}${request.path}`;
    const requestHash = createHash('sha256')
      .update(JSON.stringify(request.body ?? null))
      .digest('hex');
    const ttl = `${sigid.config.idempotencyTtlHours} hours`;
    const lease = `${sigid.config.idempotencyLeaseMs} milliseconds`;
    const thisKey = db.selectFrom('idempotency_keys').where('scope', '=', scope).where('key', '=', key);
    await db
      .deleteFrom('idempotency_keys')
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('created_at', '<', sql<Date>`now() - ${ttl}::interval`)
      .execute();
    // Ours when new, or when its last holder gave it up or died (unanswered, lease run out).
    const mine = await db
      .insertInto('idempotency_keys')
      .values({ scope, key, request_hash: requestHash, locked_until: sql<Date>`now() + ${lease}::interval` })
      .onConflict((oc) =>
        oc
          .columns(['scope', 'key'])
          .doUpdateSet((eb) => ({
            request_hash: eb.ref('excluded.request_hash'),
            locked_until: eb.ref('excluded.locked_until'),
          }))
          .where('idempotency_keys.status_code', 'is', null)
          .where('idempotency_keys.locked_until', '<=', sql<Date>`now()`),
      )
      .returning('created_at')
      .executeTakeFirst();
    if (!mine) {
      const row = await thisKey
        .select([
          'request_hash',
          'status_code',
          'response',
          'response_key_id',
          sql<number>`greatest(1, ceil(extract(epoch from locked_until - now())))::int`.as('retry_after'),
        ])
        .executeTakeFirst();
      if (row && row.request_hash !== requestHash) {
        throw new UnprocessableError(
          'idempotency_key_reused',
          'This Idempotency-Key was used with a different request; use a new key.',
        );
      }
      if (!row || row.status_code === null || !row.response) {
        response.set('Retry-After', String(row?.retry_after ?? 1));
        throw new ConflictError('request_in_progress', 'A request with this Idempotency-Key is still being handled.');
      }
      response.set('Idempotent-Replayed', 'true');
      response
        .status(row.status_code)
        .type('application/json')
        .send(sigid.secrets.open('idempotency', scope, key, row.response_key_id, row.response));
      return;
    }
    const seed = createHmac('sha256', sigid.masterKey)
      .update(`sigid:idempotency-seed:${scope}:${key}:${requestHash}:${mine.created_at.toISOString()}`)
      .digest();
    response.locals.random = seededRandom(seed, mine.created_at) satisfies RandomSource;
    /**
     * After an error answer. A refusal (4xx) wrote nothing, so the key is forgotten: a refused request
     * leaves no row, and a corrected retry runs afresh. A failure (5xx) may have landed some steps, so
     * the key is only given back, keeping its seed: a retry runs again with the same ids.
     */
    const release = () =>
      response.statusCode < 500
        ? db
            .deleteFrom('idempotency_keys')
            .where('scope', '=', scope)
            .where('key', '=', key)
            .where('status_code', 'is', null)
            .execute()
        : db
            .updateTable('idempotency_keys')
            .set({ locked_until: sql<Date>`now()` })
            .where('scope', '=', scope)
            .where('key', '=', key)
            .where('status_code', 'is', null)
            .execute();
    const json = response.json.bind(response);
    response.json = (body: unknown) => {
      const status = response.statusCode;
      const settle = async () => {
        if (status >= 400) return void (await release());
        const sealed = sigid.secrets.seal('idempotency', scope, key, Buffer.from(JSON.stringify(body)));
        await db
          .updateTable('idempotency_keys')
          .set({ status_code: status, response: sealed.sealed, response_key_id: sealed.keyId })
          .where('scope', '=', scope)
          .where('key', '=', key)
          .execute();
      };
      settle().then(
        () => json(body),
        (error: unknown) => {
          request.log?.error({ err: error }, 'could not store the idempotent response');
          json(body);
        },
      );
      return response;
    };
    // An error answer (problem+json) does not go through res.json: release the key so a retry can run.
    response.on('finish', () => {
      if (response.statusCode >= 400) release().catch(() => {});
    });
    next();
  };
}

/** The request's source of ids and secrets: seeded under an Idempotency-Key, else the system's. */
export function randomOf(response: Response): RandomSource {
  return (response.locals.random as RandomSource | undefined) ?? systemRandom;
}
