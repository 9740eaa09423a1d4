import { readFileSync } from 'node:fs';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { ConflictError, ProblemError, problemCodes, UnprocessableError } from '../src/errors.ts';
import { problemHandler } from '../src/http/problem.ts';

/** The `| status | code | when |` table of docs/api.md as `code → status`; a cell may name several codes. */
function documentedCodes(markdown: string): Map<string, number> {
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*status\s*\|\s*code\s*\|/.test(line));
  if (header < 0) throw new Error('docs/api.md has no `| status | code | when |` table');
  const codes = new Map<string, number>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [status, codeCell] = line
      .split('|')
      .slice(1, 3)
      .map((cell) => cell.trim());
    for (const [, code] of (codeCell ?? '').matchAll(/`([a-z_]+)`/g)) {
      if (codes.has(code as string)) throw new Error(`docs/api.md lists ${code} twice`);
      codes.set(code as string, Number(status));
    }
  }
  return codes;
}

describe('problem codes', () => {
  it('docs/api.md lists every code SigID answers with, with its status, and no other', () => {
    const documented = documentedCodes(readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8'));
    const table = new Map(Object.entries(problemCodes).map(([code, { status }]) => [code, status]));
    const undocumented = [...table].filter(([code, status]) => documented.get(code) !== status);
    const unknown = [...documented].filter(([code, status]) => table.get(code) !== status);
    expect({ undocumented, unknown }).toEqual({ undocumented: [], unknown: [] });
  });

  it('takes status and title from the code, and refuses codes outside the union at compile time', () => {
    const conflict = new ConflictError('slug_taken', 'The slug "acme" is already taken.');
    expect([conflict.status, conflict.title, conflict.code]).toEqual([409, 'Conflict', 'slug_taken']);
    const refused = new UnprocessableError('forbidden_address', '127.0.0.1 is a loopback address');
    expect([refused.status, refused.code]).toEqual([422, 'forbidden_address']);
    expect(new ProblemError('unsupported_encoding', 'gzip').status).toBe(415);
    // @ts-expect-error a code that is not in the union
    expect(() => new ConflictError('typo', 'x')).toThrow(TypeError);
    // @ts-expect-error a 422 code is not a conflict
    new ConflictError('forbidden_address', 'x');
  });
});

describe('text the database cannot store', () => {
  it('is a 400 problem, not a 500, whichever query it reached (NUL bytes, bad JSON escapes)', async () => {
    const app = express();
    app.get('/nul', () => {
      throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
    });
    app.get('/escape', () => {
      throw Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' });
    });
    app.get('/other', () => {
      throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
    });
    app.use(problemHandler);
    for (const path of ['/nul', '/escape']) {
      const answer = await request(app).get(path).expect(400);
      expect(answer.body).toMatchObject({ code: 'bad_request', status: 400 });
      expect(JSON.stringify(answer.body)).not.toMatch(/UTF8|Unicode|0x00/);
    }
    await request(app).get('/other').expect(500);
  });
});
