import type { Request } from 'express';
import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/** Parses a JSON body against a strict schema: unknown fields, wrong types and a missing body are 400s. */
export function parseBody<S extends z.ZodType>(schema: S, request: Request): z.infer<S> {
  if (
    request.body === undefined ||
    request.body === null ||
    typeof request.body !== 'object' ||
    Array.isArray(request.body)
  ) {
    throw new ValidationError('The request body must be a JSON object, sent with Content-Type: application/json.');
  }
  const result = schema.safeParse(request.body);
  if (!result.success) throw new ValidationError('The request body is not valid.', result.error.issues);
  return result.data;
}

/** The query of a route that takes no parameters: any parameter is refused. */
export const noQuery = z.strictObject({});

/** Parses the query string against a strict schema (unknown parameters are refused, not ignored). */
export function parseQuery<S extends z.ZodType>(schema: S, request: Request): z.infer<S> {
  const result = schema.safeParse(request.query);
  if (!result.success) throw new ValidationError('The query parameters are not valid.', result.error.issues);
  return result.data;
}

/** `If-Match: "<revision>"` as a number; undefined when absent or `*`. */
export function ifMatchRevision(request: Request): number | undefined {
  const header = request.get('if-match');
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"(-?\d+)"\s*$/.exec(header);
  if (!match) throw new ValidationError('If-Match must be an ETag this API returned, such as "3".');
  return Number(match[1]);
}

export const etag = (revision: number) => `"${revision}"`;
