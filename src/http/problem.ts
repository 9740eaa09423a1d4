import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { type ProblemCode, ProblemError, type ProblemIssue, problemCodes, TooManyAttemptsError } from '../errors.ts';
import { WrongExpectedRevisionError } from '../event-store/port.ts';

const TYPE_BASE = 'https://sigid.dev/problems/';

/**
 * Sends RFC 9457 problem+json; the status and title are the code's, from `problemCodes`. Written on
 * the plain node response, so the requests that never enter express (the issuers') answer the same.
 */
export function sendProblem(
  response: ServerResponse,
  problem: { code: ProblemCode; detail: string; instance?: string; errors?: readonly ProblemIssue[] },
): void {
  const { status, title } = problemCodes[problem.code];
  const body = JSON.stringify({ type: `${TYPE_BASE}${problem.code}`, title, status, ...problem });
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.end(body);
}

/**
 * A throttle's refusal (src/throttle.ts `checkThrottle`) as an answer: 429 `too_many_attempts`
 * problem+json with `Retry-After` in seconds. (The hosted pages render their own HTML instead.)
 */
export function sendTooManyAttempts(response: ServerResponse, retryAfterSeconds: number, instance?: string): void {
  const refused = new TooManyAttemptsError(retryAfterSeconds);
  response.setHeader('Retry-After', String(retryAfterSeconds));
  sendProblem(response, { code: refused.code, detail: refused.message, ...(instance ? { instance } : {}) });
}

/** Body-parser failures carry a `type`; each becomes a clear 4xx. */
const bodyParserProblems: Record<string, { code: ProblemCode; detail: string }> = {
  'entity.parse.failed': { code: 'malformed_json', detail: 'The body is not valid JSON.' },
  'entity.too.large': { code: 'payload_too_large', detail: 'The body is larger than this API accepts.' },
  'encoding.unsupported': { code: 'unsupported_encoding', detail: 'The body encoding is not supported.' },
  'charset.unsupported': { code: 'unsupported_charset', detail: 'The body charset is not supported.' },
  'request.aborted': { code: 'request_aborted', detail: 'The body was cut short.' },
};

/** PostgreSQL's SQLSTATEs for text it cannot take: invalid byte sequence (22021), unsupported \u escape in JSON (22P05). */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

/** Renders every error as RFC 9457 problem+json; anything unexpected is a logged 500 with no internals shown. */
export const problemHandler: ErrorRequestHandler = (error, request, response, _next) => {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const instance = request.originalUrl;
  if (error instanceof TooManyAttemptsError) return sendTooManyAttempts(response, error.retryAfterSeconds, instance);
  if (error instanceof ProblemError) {
    return sendProblem(response, {
      code: error.code,
      detail: error.message,
      instance,
      ...(error.errors?.length ? { errors: error.errors } : {}),
    });
  }
  if (error instanceof WrongExpectedRevisionError) {
    return sendProblem(response, {
      code: 'concurrent_modification',
      detail: 'The resource was changed by another request at the same time; retry.',
      instance,
    });
  }
  const parserProblem = typeof error?.type === 'string' ? bodyParserProblems[error.type] : undefined;
  if (parserProblem) return sendProblem(response, { ...parserProblem, instance });
  // Any other client error the HTTP layer raised (a path it cannot decode…) is one 400.
  if (typeof error?.status === 'number' && error.status >= 400 && error.status < 500) {
    return sendProblem(response, {
      code: 'bad_request',
      detail: 'The request could not be read.',
      instance,
    });
  }
  // Text PostgreSQL cannot store (a NUL, a lone surrogate's bytes) reached a query: input no check
  // caught, so a 400, never a 500. The class is closed here; the checks in front stay the first line.
  if (typeof error?.code === 'string' && UNSTORABLE_TEXT.has(error.code)) {
    request.log?.warn({ err: error }, 'text the database cannot store');
    return sendProblem(response, { code: 'bad_request', detail: 'The request could not be read.', instance });
  }
  request.log?.error({ err: error }, 'unhandled error');
  sendProblem(response, {
    code: 'internal_error',
    detail: 'Something went wrong on our side; the request id identifies it in our logs.',
    instance,
  });
};

export const notFoundHandler: RequestHandler = (request, response) => {
  sendProblem(response, {
    code: 'route_not_found',
    detail: `There is no ${request.method} ${request.path}.`,
    instance: request.originalUrl,
  });
};
