import { describe, expect, it } from 'vitest';
import { jsonBodyIssues, MAX_JSON_DEPTH, queryIssues } from '../src/http/input-guard.ts';
import { acceptedText, lineSchema, textRefusal, textSchema } from '../src/text.ts';

describe('what text SigID accepts', () => {
  it.each([
    ['plain ASCII', 'Acme Corp'],
    ['Latin with diacritics', 'Ünïcødé Ltd'],
    ['CJK', '株式会社'],
    ['right-to-left', 'مرحبا שלום'],
    ['emoji with a skin tone and a joiner', '👩🏽‍💻'],
    ['a combining mark', 'e\u0301'],
    ['an astral character', '𝔘𝔫𝔦'],
    ['the replacement character', '\ufffd'],
    ['the last scalar value below the noncharacters', '\u{10fffd}'],
    ['a byte order mark', '\ufeff'],
  ])('accepts %s', (_name, value) => {
    expect(textRefusal(value, 'line')).toBeNull();
    expect(textSchema.safeParse(value).success).toBe(true);
  });

  it.each([
    ['NUL', '\u0000', /U\+0000/],
    ['NUL inside', 'Acme\u0000Corp', /U\+0000/],
    ['a lone high surrogate', '\ud800', /unpaired surrogate \(U\+D800\)/],
    ['a lone low surrogate', 'a\udc00b', /unpaired surrogate \(U\+DC00\)/],
    ['a reversed pair', '\udc00\ud800', /unpaired surrogate/],
    ['a high surrogate at the end', 'abc\udbff', /unpaired surrogate/],
    ['BEL', 'bell\u0007', /U\+0007/],
    ['ESC', '\u001b[31m', /U\+001B/],
    ['DEL', 'x\u007f', /U\+007F/],
    ['a C1 control (CSI)', '\u009b', /U\+009B/],
    ['NEL', '\u0085', /U\+0085/],
    ['the noncharacter U+FFFE', '\ufffe', /noncharacter U\+FFFE/],
    ['the noncharacter U+FFFF', '\uffff', /noncharacter U\+FFFF/],
    ['the noncharacter U+FDD0', '\ufdd0', /noncharacter U\+FDD0/],
    ['a noncharacter of an astral plane', '\u{1fffe}', /noncharacter U\+1FFFE/],
    ['the last code point', '\u{10ffff}', /noncharacter U\+10FFFF/],
  ])('refuses %s', (_name, value, why) => {
    expect(textRefusal(value)).toMatch(why);
    expect(textRefusal(value, 'line')).toMatch(why);
    const parsed = textSchema.safeParse(value);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(why);
  });

  it('allows tab, line feed and carriage return in free text, not on a single line', () => {
    for (const value of ['a\tb', 'line one\nline two', 'crlf\r\n']) {
      expect(textRefusal(value, 'text')).toBeNull();
      expect(textSchema.safeParse(value).success).toBe(true);
      expect(textRefusal(value, 'line')).toMatch(/control character/);
      expect(lineSchema.safeParse(value).success).toBe(false);
    }
  });

  it('checks the value as sent, before trimming', () => {
    expect(lineSchema.trim().min(1).safeParse('  name\u0000  ').success).toBe(false);
    expect(lineSchema.trim().min(1).parse('  name  ')).toBe('name');
  });

  it('never repeats the refused value in its message', () => {
    expect(textRefusal('secret-token\u0000')).not.toContain('secret-token');
  });

  it('turns text SigID did not choose into text it can store', () => {
    expect(acceptedText('ok\u0000\ud800\u0007\ufffe done\n')).toBe('ok\ufffd\ufffd\ufffd\ufffd done\n');
    expect(acceptedText('👩🏽‍💻')).toBe('👩🏽‍💻');
    expect(textRefusal(acceptedText('\udc00\ud800\u{10ffff}'))).toBeNull();
  });
});

describe('the input guard', () => {
  it('walks any depth without recursion and stops past the limit', () => {
    const deep = JSON.parse(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const issues = jsonBodyIssues(deep);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toBe(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    expect(issues[0]?.path).toHaveLength(MAX_JSON_DEPTH);
  });

  it('accepts a body nested exactly to the limit', () => {
    const atLimit = JSON.parse(`{"a":${'['.repeat(MAX_JSON_DEPTH - 1)}${']'.repeat(MAX_JSON_DEPTH - 1)}}`);
    expect(jsonBodyIssues(atLimit)).toEqual([]);
  });

  it('names keys and values by their path, and refuses keys that reach for the prototype', () => {
    const issues = jsonBodyIssues(
      JSON.parse('{"name":"a\\u0000","list":["ok","\\ud800"],"__proto__":{"x":1},"constructor":1,"n\\u0000":1}'),
    );
    expect(issues.map((issue) => issue.path.join('.'))).toEqual([
      'name',
      'list.1',
      '__proto__',
      'constructor',
      'n\u0000',
    ]);
  });

  it('refuses bodies that are not objects', () => {
    for (const body of [[], [{}], 'text', 3, null]) expect(jsonBodyIssues(body)).toHaveLength(1);
  });

  it('lists at most twenty issues however hostile the body', () => {
    const body = { values: Array.from({ length: 10_000 }, () => '\u0000') };
    expect(jsonBodyIssues(body)).toHaveLength(20);
  });

  it('takes query parameters on reads only, each once, as one line of text', () => {
    expect(queryIssues('GET', { limit: '5' })).toEqual([]);
    expect(queryIssues('POST', { limit: '5' })[0]?.message).toBe('POST takes no query parameters');
    expect(queryIssues('GET', { limit: ['1', '2'] })).toHaveLength(1);
    expect(queryIssues('GET', { a: { b: 'c' } })).toHaveLength(1);
    expect(queryIssues('GET', { actor: 'a\nb' })).toHaveLength(1);
    expect(queryIssues('GET', { '\u0000': 'x' })).toHaveLength(1);
  });
});
