import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Logger, stdSerializers } from 'pino';
import { newId } from '../ids.ts';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request's id: the caller's `X-Request-Id` when it is a sane one, else a new `req_…`. */
    id: string;
    /** A logger whose lines carry the request's id. */
    log: RequestLogger;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Signed e-mail links carry their token as `?token=` (src/email/links.ts): it never reaches a log line. */
const TOKEN_PARAMETER = /([?&]token=)[^&#]*/gi;

/** Headers that carry credentials: a log line shows that they were sent, never what. */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie'];

/**
 * The request as a log line shows it: method, path and query (a `token` parameter redacted),
 * headers (credentials redacted, whatever the logger's own redaction), peer.
 */
export function loggedRequest(request: IncomingMessage): Record<string, unknown> {
  const serialized = stdSerializers.req(request) as unknown as {
    url?: string;
    query?: Record<string, unknown>;
    headers?: Record<string, unknown>;
  };
  const { query } = serialized;
  const headers = { ...serialized.headers };
  for (const name of CREDENTIAL_HEADERS) if (name in headers) headers[name] = '[redacted]';
  return {
    ...serialized,
    url: serialized.url?.replace(TOKEN_PARAMETER, '$1[redacted]'),
    query: query && 'token' in query ? { ...query, token: '[redacted]' } : query,
    headers,
  };
}

/** A request's logger: its lines carry the request id; the child logger is made on the first line. */
export class RequestLogger {
  readonly #base: Logger;
  readonly #id: string;
  #child: Logger | undefined;

  constructor(base: Logger, id: string) {
    this.#base = base;
    this.#id = id;
  }

  #logger(): Logger {
    this.#child ??= this.#base.child({ request_id: this.#id });
    return this.#child;
  }

  error(details: object, message: string): void {
    this.#logger().error(details, message);
  }

  warn(details: object, message: string): void {
    this.#logger().warn(details, message);
  }

  info(details: object, message: string): void {
    this.#logger().info(details, message);
  }
}

/**
 * Every request's id (answered as `X-Request-Id`), its logger (`request.log`) and one line when it
 * ends: `request completed`, at error for a 5xx, or `request aborted` when the client left first.
 * The response's headers are not logged (they carry cookies). Made for the hot path: a token
 * request costs one small object and one listener pair, and no child logger unless it logs.
 */
export function requestLog(logger: Logger) {
  return (request: IncomingMessage, response: ServerResponse, next?: () => void): void => {
    // Once per request, though a request the issuers' fast path hands back to express passes twice.
    if (request.log !== undefined) {
      next?.();
      return;
    }
    const given = request.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : newId('req');
    request.id = id;
    response.setHeader('X-Request-Id', id);
    request.log = new RequestLogger(logger, id);
    if (logger.isLevelEnabled('error')) {
      const started = performance.now();
      const ended = () => {
        response.off('finish', ended);
        response.off('close', ended);
        const line = {
          request_id: id,
          req: loggedRequest(request),
          res: { statusCode: response.statusCode },
          responseTime: Math.round(performance.now() - started),
        };
        if (!response.writableFinished) logger.warn(line, 'request aborted');
        else if (response.statusCode >= 500) logger.error(line, 'request errored');
        else logger.info(line, 'request completed');
      };
      response.on('finish', ended);
      response.on('close', ended);
    }
    next?.();
  };
}
