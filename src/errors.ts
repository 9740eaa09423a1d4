import type { z } from 'zod';

/**
 * The few errors SigID answers with. Each has an HTTP status and a stable `code` that clients can
 * switch on; the HTTP edge renders them as RFC 9457 problem+json.
 */
export class ProblemError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly errors: readonly { path: string; message: string; code: string }[] | undefined;

  constructor(
    status: number,
    code: string,
    title: string,
    detail: string,
    errors?: readonly { path: string; message: string; code: string }[],
  ) {
    super(detail);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.title = title;
    this.errors = errors;
  }
}

export class ValidationError extends ProblemError {
  constructor(detail: string, issues: readonly z.core.$ZodIssue[] = []) {
    super(
      400,
      'invalid_request',
      'Invalid request',
      detail,
      issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message, code: issue.code })),
    );
  }
}

export class UnauthorizedError extends ProblemError {
  constructor(detail = 'A valid API key is required: send it as "Authorization: Bearer <key>".') {
    super(401, 'unauthorized', 'Unauthorized', detail);
  }
}

export class ForbiddenError extends ProblemError {
  constructor(detail: string) {
    super(403, 'forbidden', 'Forbidden', detail);
  }
}

export class NotFoundError extends ProblemError {
  constructor(what: string) {
    super(404, 'not_found', 'Not found', `${what} was not found.`);
  }
}

export class ConflictError extends ProblemError {
  constructor(code: string, detail: string) {
    super(409, code, 'Conflict', detail);
  }
}

export class PreconditionFailedError extends ProblemError {
  constructor(detail: string) {
    super(412, 'precondition_failed', 'Precondition failed', detail);
  }
}

export class UnprocessableError extends ProblemError {
  constructor(code: string, detail: string) {
    super(422, code, 'Unprocessable request', detail);
  }
}
