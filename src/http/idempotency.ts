import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ConflictError, UnprocessableError, ValidationError } from '../errors.ts';
import type { Sigid } from '../sigid.ts';
import { principalOf } from './auth.ts';

/**
 * `Idempotency-Key` on POST: the first successful answer is kept (sealed through the sealed-secrets store, kind
 * `idempotency`, since it can hold a key shown once) and returned again for every retry with the same key and the same body.
 * The same key with another body is a 422; a retry while the first is still running is a 409. An
 * error answer is not kept, so a corrected or later retry runs.
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
    const ttl = `${sigid.config.idempotencyTtlHours} hours`;
    await sigid.db.query(
      `delete from idempotency_keys where scope = $1 and key = $2 and created_at < now() - $3::interval`,
      [scope, key, ttl],
    );
    const claimed = await sigid.db.query(
      `insert into idempotency_keys (scope, key, request_hash) values ($1, $2, $3)
       on conflict (scope, key) do nothing returning key`,
      [scope, key, requestHash],
    );
    if (claimed.rows.length === 0) {
      const { rows } = await sigid.db.query<{
        request_hash: string;
        status_code: number | null;
        response: Uint8Array | null;
        response_key_id: string | null;
      }>(
        'select request_hash, status_code, response, response_key_id from idempotency_keys where scope = $1 and key = $2',
        [scope, key],
      );
      const row = rows[0];
      if (!row) throw new ConflictError('request_in_progress', 'A request with this Idempotency-Key is being handled.');
      if (row.request_hash !== requestHash) {
        throw new UnprocessableError(
          'idempotency_key_reused',
          'This Idempotency-Key was used with a different request; use a new key.',
        );
      }
      if (row.status_code === null || !row.response) {
        throw new ConflictError('request_in_progress', 'A request with this Idempotency-Key is still being handled.');
      }
      response.set('Idempotent-Replayed', 'true');
      response
        .status(row.status_code)
        .type('application/json')
        .send(sigid.secrets.open('idempotency', scope, key, row.response_key_id, row.response));
      return;
    }
    const json = response.json.bind(response);
    response.json = (body: unknown) => {
      const status = response.statusCode;
      const text = JSON.stringify(body);
      const sealed = status < 400 ? sigid.secrets.seal('idempotency', scope, key, Buffer.from(text)) : undefined;
      const settle = sealed
        ? sigid.db.query(
            'update idempotency_keys set status_code = $3, response = $4, response_key_id = $5 where scope = $1 and key = $2',
            [scope, key, status, sealed.sealed, sealed.keyId],
          )
        : sigid.db.query('delete from idempotency_keys where scope = $1 and key = $2', [scope, key]);
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
      if (response.statusCode >= 400) {
        sigid.db
          .query('delete from idempotency_keys where scope = $1 and key = $2 and status_code is null', [scope, key])
          .catch(() => {});
      }
    });
    next();
  };
}
