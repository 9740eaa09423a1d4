import { createHash, createHmac } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { open, seal } from '../crypto/aead.ts';
import { ConflictError, UnprocessableError, ValidationError } from '../errors.ts';
import { type RandomSource, seededRandom, systemRandom } from '../random.ts';
import type { Sigid } from '../sigid.ts';
import { principalOf } from './auth.ts';

/**
 * `Idempotency-Key` on POST. The first successful answer is kept (sealed with the master key, since
 * it can hold a key shown once) and returned again for every retry with the same key and body; the
 * same key with another body is a 422; an error answer is not kept, so a corrected retry runs.
 *
 * A request holds its key for a short lease (SIGID_IDEMPOTENCY_LEASE_MS). A retry while the lease
 * runs is a 409 with `Retry-After`; once it has run out (the first handler crashed), the retry takes
 * the key over and runs the request again — with the same ids and secrets, because a keyed request
 * draws them from a source seeded by the key (see `seededRandom`): every step the crashed run
 * finished is then a no-op, and the answer (a shown-once key included) is the one it would have given.
 */
export function idempotency(sigid: Sigid): RequestHandler {
  return async (request, response, next) => {
    const key = request.get('idempotency-key');
    if (request.method !== 'POST' || key === undefined) return next();
    if (key.length < 1 || key.length > 255) throw new ValidationError('Idempotency-Key must be 1 to 255 characters.');
    const principal = principalOf(response);
    const scope = `${principal.kind === 'operator' ? `operator:${principal.id}` : `tenant:${principal.tenantId}`} ${request.method} ${request.baseUrl}${request.path}`;
    const requestHash = createHash('sha256')
      .update(JSON.stringify(request.body ?? null))
      .digest('hex');
    const context = `sigid:idempotency:${scope}:${key}`;
    const ttl = `${sigid.config.idempotencyTtlHours} hours`;
    const lease = `${sigid.config.idempotencyLeaseMs} milliseconds`;
    await sigid.db.query(
      `delete from idempotency_keys where scope = $1 and key = $2 and created_at < now() - $3::interval`,
      [scope, key, ttl],
    );
    // Ours when new, or when its last holder gave it up or died (unanswered, lease run out).
    const claimed = await sigid.db.query<{ created_at: Date }>(
      `insert into idempotency_keys (scope, key, request_hash, locked_until) values ($1, $2, $3, now() + $4::interval)
       on conflict (scope, key) do update set request_hash = excluded.request_hash, locked_until = excluded.locked_until
         where idempotency_keys.status_code is null and idempotency_keys.locked_until <= now()
       returning created_at`,
      [scope, key, requestHash, lease],
    );
    const mine = claimed.rows[0];
    if (!mine) {
      const { rows } = await sigid.db.query<{
        request_hash: string;
        status_code: number | null;
        response: Uint8Array | null;
        retry_after: number;
      }>(
        `select request_hash, status_code, response,
                greatest(1, ceil(extract(epoch from locked_until - now())))::int as retry_after
         from idempotency_keys where scope = $1 and key = $2`,
        [scope, key],
      );
      const row = rows[0];
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
        .send(open(sigid.masterKey, row.response, context));
      return;
    }
    const seed = createHmac('sha256', sigid.masterKey)
      .update(`sigid:idempotency-seed:${context}:${requestHash}:${mine.created_at.toISOString()}`)
      .digest();
    response.locals.random = seededRandom(seed, mine.created_at) satisfies RandomSource;
    const json = response.json.bind(response);
    response.json = (body: unknown) => {
      const status = response.statusCode;
      const text = JSON.stringify(body);
      const settle =
        status < 400
          ? sigid.db.query(
              'update idempotency_keys set status_code = $3, response = $4 where scope = $1 and key = $2',
              [scope, key, status, seal(sigid.masterKey, Buffer.from(text), context)],
            )
          : release(sigid, scope, key);
      settle.then(
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
      if (response.statusCode >= 400) release(sigid, scope, key).catch(() => {});
    });
    next();
  };
}

/** Gives an unanswered key back at once (the request failed): a retry runs again, with the same ids. */
function release(sigid: Sigid, scope: string, key: string) {
  return sigid.db.query(
    'update idempotency_keys set locked_until = now() where scope = $1 and key = $2 and status_code is null',
    [scope, key],
  );
}

/** The request's source of ids and secrets: seeded under an Idempotency-Key, else the system's. */
export function randomOf(response: Response): RandomSource {
  return (response.locals.random as RandomSource | undefined) ?? systemRandom;
}
