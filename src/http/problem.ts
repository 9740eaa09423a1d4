import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { ProblemError } from '../errors.ts';
import { WrongExpectedRevisionError } from '../event-store/port.ts';

interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  instance?: string;
  errors?: readonly { path: string; message: string; code: string }[];
}

const TYPE_BASE = 'https://sigid.dev/problems/';

export function sendProblem(response: Response, problem: Omit<Problem, 'type'>): void {
  response
    .status(problem.status)
    .type('application/problem+json')
    .send(JSON.stringify({ type: `${TYPE_BASE}${problem.code}`, ...problem }));
}

/** Body-parser failures carry a `type`; each becomes a clear 4xx. */
const bodyParserProblems: Record<string, { status: number; code: string; title: string; detail: string }> = {
  'entity.parse.failed': {
    status: 400,
    code: 'malformed_json',
    title: 'Malformed JSON',
    detail: 'The body is not valid JSON.',
  },
  'entity.too.large': {
    status: 413,
    code: 'payload_too_large',
    title: 'Payload too large',
    detail: 'The body is larger than this API accepts.',
  },
  'encoding.unsupported': {
    status: 415,
    code: 'unsupported_encoding',
    title: 'Unsupported encoding',
    detail: 'The body encoding is not supported.',
  },
  'charset.unsupported': {
    status: 415,
    code: 'unsupported_charset',
    title: 'Unsupported charset',
    detail: 'The body charset is not supported.',
  },
  'request.aborted': {
    status: 400,
    code: 'request_aborted',
    title: 'Request aborted',
    detail: 'The body was cut short.',
  },
};

/** Renders every error as RFC 9457 problem+json; anything unexpected is a logged 500 with no internals shown. */
export const problemHandler: ErrorRequestHandler = (error, request, response, _next) => {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const instance = request.originalUrl;
  if (error instanceof ProblemError) {
    return sendProblem(response, {
      title: error.title,
      status: error.status,
      code: error.code,
      detail: error.message,
      instance,
      ...(error.errors?.length ? { errors: error.errors } : {}),
    });
  }
  if (error instanceof WrongExpectedRevisionError) {
    return sendProblem(response, {
      title: 'Conflict',
      status: 409,
      code: 'concurrent_modification',
      detail: 'The resource was changed by another request at the same time; retry.',
      instance,
    });
  }
  const parserProblem = typeof error?.type === 'string' ? bodyParserProblems[error.type] : undefined;
  if (parserProblem) return sendProblem(response, { ...parserProblem, instance });
  if (typeof error?.status === 'number' && error.status >= 400 && error.status < 500) {
    return sendProblem(response, {
      title: 'Bad request',
      status: error.status,
      code: 'bad_request',
      detail: 'The request could not be read.',
      instance,
    });
  }
  request.log?.error({ err: error }, 'unhandled error');
  sendProblem(response, {
    title: 'Internal server error',
    status: 500,
    code: 'internal_error',
    detail: 'Something went wrong on our side; the request id identifies it in our logs.',
    instance,
  });
};

export const notFoundHandler: RequestHandler = (request, response) => {
  sendProblem(response, {
    title: 'Not found',
    status: 404,
    code: 'route_not_found',
    detail: `There is no ${request.method} ${request.path}.`,
    instance: request.originalUrl,
  });
};
