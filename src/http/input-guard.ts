import type { Request, RequestHandler } from 'express';
import type { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { textRefusal } from '../text.ts';

/**
 * The edge check every API request passes right after its body is parsed, before authentication,
 * idempotency or any router sees it, so a refused request has written nothing. Enforces:
 * - a JSON body is an object, nested at most `MAX_JSON_DEPTH` levels deep (walked without
 *   recursion, so no depth can overflow the stack);
 * - every string in it, keys and values, is text SigID accepts (`src/text.ts`), and no key is
 *   `__proto__`, `constructor` or `prototype`;
 * - query parameters only on GET and HEAD (writes take their input in the body), each given once,
 *   as a plain string on a single line;
 * - the headers SigID reads (`Authorization`, `Idempotency-Key`, `If-Match`) are single-line text.
 * A refusal is 400 `invalid_request` whose `errors[]` names each offending path.
 */

/** The deepest JSON nesting SigID reads: `{"a":{"b":1}}` is two levels; no SigID body needs more than three. */
export const MAX_JSON_DEPTH = 32;

/** At most this many issues are listed in one answer, so a huge hostile body gets a small answer. */
const MAX_ISSUES = 20;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const READ_HEADERS = ['authorization', 'idempotency-key', 'if-match'] as const;

/** An issue in zod's shape, so it renders like every other `invalid_request` (`errors[].path` dotted). */
type Issue = z.core.$ZodIssueCustom;
type Path = (string | number)[];

const issue = (path: Path, message: string): Issue => ({ code: 'custom', path, message, input: undefined });

/** Every issue with a JSON body, walked iteratively; stops at the first value nested too deep. */
export function jsonBodyIssues(body: unknown): Issue[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return [issue([], 'the body must be a JSON object')];
  }
  const issues: Issue[] = [];
  // Children are pushed last-first, so issues come out in document order.
  const stack: { value: unknown; path: Path; depth: number; refusal?: string }[] = [
    { value: body, path: [], depth: 1 },
  ];
  while (stack.length > 0 && issues.length < MAX_ISSUES) {
    const { value, path, depth, refusal: keyRefusal } = stack.pop() as (typeof stack)[number];
    if (keyRefusal) {
      issues.push(issue(path, `the key ${keyRefusal}`));
      continue;
    }
    if (typeof value === 'string') {
      const refusal = textRefusal(value, 'text');
      if (refusal) issues.push(issue(path, refusal));
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) {
      return [issue(path, `nested deeper than ${MAX_JSON_DEPTH} levels`)];
    }
    if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--) {
        const child: unknown = value[index];
        if (typeof child === 'string' || (child !== null && typeof child === 'object')) {
          stack.push({ value: child, path: [...path, index], depth: depth + 1 });
        }
      }
      continue;
    }
    const entries = Object.entries(value);
    for (let index = entries.length - 1; index >= 0; index--) {
      const [key, child] = entries[index] as [string, unknown];
      const refusal = FORBIDDEN_KEYS.has(key) ? `"${key}" is not a field name SigID accepts` : textRefusal(key, 'line');
      stack.push({ value: child, path: [...path, key], depth: depth + 1, ...(refusal ? { refusal } : {}) });
    }
  }
  return issues;
}

/** Every issue with the query parameters of a request with this method. */
export function queryIssues(method: string, query: Record<string, unknown>): Issue[] {
  const issues: Issue[] = [];
  const readsQuery = method === 'GET' || method === 'HEAD';
  for (const [key, value] of Object.entries(query)) {
    if (issues.length >= MAX_ISSUES) break;
    const keyRefusal = textRefusal(key, 'line');
    if (keyRefusal) issues.push(issue([key], `the parameter name ${keyRefusal}`));
    else if (!readsQuery) issues.push(issue([key], `${method} takes no query parameters`));
    else if (typeof value !== 'string') issues.push(issue([key], 'give each query parameter once, as a plain value'));
    else {
      const refusal = textRefusal(value, 'line');
      if (refusal) issues.push(issue([key], refusal));
    }
  }
  return issues;
}

function headerIssues(request: Request): Issue[] {
  const issues: Issue[] = [];
  for (const name of READ_HEADERS) {
    const value = request.headers[name];
    if (value === undefined) continue;
    const refusal = textRefusal(Array.isArray(value) ? value.join(', ') : value, 'line');
    if (refusal) issues.push(issue([name], refusal));
  }
  return issues;
}

/** The middleware: mount it right after the body parser and before anything that reads the request. */
export function inputGuard(): RequestHandler {
  return (request, _response, next) => {
    const headers = headerIssues(request);
    if (headers.length > 0) throw new ValidationError('The request headers are not valid.', headers);
    const query = queryIssues(request.method, request.query as Record<string, unknown>);
    if (query.length > 0) throw new ValidationError('The query parameters are not valid.', query);
    if (request.body !== undefined) {
      const body = jsonBodyIssues(request.body);
      if (body.length > 0) throw new ValidationError('The request body is not valid.', body);
    }
    next();
  };
}
