import type { z } from 'zod';

/**
 * Every problem `code` SigID can answer with, each with its one HTTP status and title: the closed
 * set clients switch on (after jose's `src/util/errors.ts`). A new code is added here first; the
 * error classes, the problem+json renderer and the OpenAPI document accept only these, and
 * `test/errors.unit.test.ts` checks that docs/api.md lists exactly this table.
 */
export const problemCodes = {
  invalid_request: { status: 400, title: 'Invalid request' },
  malformed_json: { status: 400, title: 'Malformed JSON' },
  request_aborted: { status: 400, title: 'Request aborted' },
  bad_request: { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  route_not_found: { status: 404, title: 'Not found' },
  slug_taken: { status: 409, title: 'Conflict' },
  tenant_exists: { status: 409, title: 'Conflict' },
  api_key_exists: { status: 409, title: 'Conflict' },
  account_exists: { status: 409, title: 'Conflict' },
  email_taken: { status: 409, title: 'Conflict' },
  passkey_exists: { status: 409, title: 'Conflict' },
  passkey_counter: { status: 409, title: 'Conflict' },
  webhook_exists: { status: 409, title: 'Conflict' },
  application_exists: { status: 409, title: 'Conflict' },
  client_id_taken: { status: 409, title: 'Conflict' },
  api_exists: { status: 409, title: 'Conflict' },
  identifier_taken: { status: 409, title: 'Conflict' },
  organization_exists: { status: 409, title: 'Conflict' },
  organization_name_taken: { status: 409, title: 'Conflict' },
  domain_taken: { status: 409, title: 'Conflict' },
  role_exists: { status: 409, title: 'Conflict' },
  role_name_taken: { status: 409, title: 'Conflict' },
  policy_exists: { status: 409, title: 'Conflict' },
  agent_exists: { status: 409, title: 'Conflict' },
  agent_key_revoked: { status: 409, title: 'Conflict' },
  agent_key_limit: { status: 409, title: 'Conflict' },
  delegation_exists: { status: 409, title: 'Conflict' },
  anchor_taken: { status: 409, title: 'Conflict' },
  agent_anchor_exists: { status: 409, title: 'Conflict' },
  agent_anchor_revoked: { status: 409, title: 'Conflict' },
  agent_anchor_limit: { status: 409, title: 'Conflict' },
  connection_exists: { status: 409, title: 'Conflict' },
  identity_linked: { status: 409, title: 'Conflict' },
  request_in_progress: { status: 409, title: 'Conflict' },
  link_used: { status: 409, title: 'Conflict' },
  invitation_not_pending: { status: 409, title: 'Conflict' },
  approval_not_pending: { status: 409, title: 'Conflict' },
  concurrent_modification: { status: 409, title: 'Conflict' },
  precondition_failed: { status: 412, title: 'Precondition failed' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_encoding: { status: 415, title: 'Unsupported encoding' },
  unsupported_charset: { status: 415, title: 'Unsupported charset' },
  malformed_did: { status: 400, title: 'Invalid request' },
  malformed_anchor: { status: 400, title: 'Invalid request' },
  malformed_proof: { status: 400, title: 'Invalid request' },
  idempotency_key_reused: { status: 422, title: 'Unprocessable request' },
  scheme_not_allowed: { status: 422, title: 'Unprocessable request' },
  forbidden_address: { status: 422, title: 'Unprocessable request' },
  unresolvable_host: { status: 422, title: 'Unprocessable request' },
  invalid_client_metadata: { status: 422, title: 'Unprocessable request' },
  invalid_redirect_uri: { status: 422, title: 'Unprocessable request' },
  public_client: { status: 422, title: 'Unprocessable request' },
  domain_not_verified: { status: 422, title: 'Unprocessable request' },
  private_key_refused: { status: 422, title: 'Unprocessable request' },
  challenge_unknown: { status: 422, title: 'Unprocessable request' },
  challenge_expired: { status: 422, title: 'Unprocessable request' },
  challenge_used: { status: 422, title: 'Unprocessable request' },
  challenge_mismatch: { status: 422, title: 'Unprocessable request' },
  proof_invalid: { status: 422, title: 'Unprocessable request' },
  unsupported_key_type: { status: 422, title: 'Unprocessable request' },
  unsupported_algorithm: { status: 422, title: 'Unprocessable request' },
  bad_signature: { status: 422, title: 'Unprocessable request' },
  https_required: { status: 422, title: 'Unprocessable request' },
  did_document_unreachable: { status: 422, title: 'Unprocessable request' },
  did_document_invalid: { status: 422, title: 'Unprocessable request' },
  verification_method_not_found: { status: 422, title: 'Unprocessable request' },
  registry_unreachable: { status: 422, title: 'Unprocessable request' },
  not_a_registry: { status: 422, title: 'Unprocessable request' },
  registry_agent_not_found: { status: 422, title: 'Unprocessable request' },
  registration_file_unreachable: { status: 422, title: 'Unprocessable request' },
  registration_file_invalid: { status: 422, title: 'Unprocessable request' },
  registration_mismatch: { status: 422, title: 'Unprocessable request' },
  not_the_owner: { status: 422, title: 'Unprocessable request' },
  issuer_unreachable: { status: 422, title: 'Unprocessable request' },
  invalid_issuer: { status: 422, title: 'Unprocessable request' },
  too_many_attempts: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal server error' },
} as const satisfies Record<string, { status: number; title: string }>;

/** A problem code SigID answers with: a member of `problemCodes`, nothing else. */
export type ProblemCode = keyof typeof problemCodes;

/** The codes answered with HTTP status `S` (`ProblemCodeOf<409>` is every conflict). */
export type ProblemCodeOf<S extends number> = {
  [C in ProblemCode]: (typeof problemCodes)[C]['status'] extends S ? C : never;
}[ProblemCode];

/** Every code, in the table's order. */
export const allProblemCodes = Object.keys(problemCodes) as ProblemCode[];

/** One issue of an invalid request: where (a dotted path), what, and zod's issue code. */
export interface ProblemIssue {
  path: string;
  message: string;
  code: string;
  /** A hint on how to fix it (Cedar's diagnostics carry one). */
  help?: string;
  /** Where in the submitted text, as character offsets (Cedar's source locations). */
  locations?: readonly { start: number; end: number }[];
}

/**
 * The few errors SigID answers with. Each carries a `code` of the closed union, whose status and
 * title come from `problemCodes`; the HTTP edge renders them as RFC 9457 problem+json.
 */
export class ProblemError extends Error {
  readonly status: number;
  readonly code: ProblemCode;
  readonly title: string;
  readonly errors: readonly ProblemIssue[] | undefined;

  constructor(code: ProblemCode, detail: string, errors?: readonly ProblemIssue[]) {
    super(detail);
    this.name = new.target.name;
    this.status = problemCodes[code].status;
    this.code = code;
    this.title = problemCodes[code].title;
    this.errors = errors;
  }
}

export class ValidationError extends ProblemError {
  constructor(detail: string, issues: readonly z.core.$ZodIssue[] = []) {
    super(
      'invalid_request',
      detail,
      issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message, code: issue.code })),
    );
  }
}

export class UnauthorizedError extends ProblemError {
  constructor(detail = 'A valid API key is required: send it as "Authorization: Bearer <key>".') {
    super('unauthorized', detail);
  }
}

export class ForbiddenError extends ProblemError {
  constructor(detail: string) {
    super('forbidden', detail);
  }
}

export class NotFoundError extends ProblemError {
  constructor(what: string) {
    super('not_found', `${what} was not found.`);
  }
}

export class ConflictError extends ProblemError {
  constructor(code: ProblemCodeOf<409>, detail: string) {
    super(code, detail);
  }
}

export class PreconditionFailedError extends ProblemError {
  constructor(detail: string) {
    super('precondition_failed', detail);
  }
}

export class UnprocessableError extends ProblemError {
  constructor(code: ProblemCodeOf<422>, detail: string, errors?: readonly ProblemIssue[]) {
    super(code, detail, errors);
  }
}

/**
 * Refused by the sign-in throttle (src/throttle.ts): 429 with `Retry-After: retryAfterSeconds`
 * (the problem handler sets it). Says how long to wait, never which key was over its budget.
 */
export class TooManyAttemptsError extends ProblemError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super('too_many_attempts', `Too many attempts. Try again in ${waitText(retryAfterSeconds)}.`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A wait in words: "1 second", "40 seconds", "3 minutes" (minutes rounded up). */
export function waitText(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}
