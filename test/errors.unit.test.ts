import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConflictError, ProblemError, problemCodes, UnprocessableError } from '../src/errors.ts';

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
