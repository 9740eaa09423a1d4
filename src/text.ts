import { z } from 'zod';

/**
 * What text SigID accepts, in every string it stores, hashes or compares. Enforces:
 * - well-formed Unicode: a string of scalar values, so no unpaired surrogate (`\ud800`) — such a
 *   string has no UTF-8 form, and PostgreSQL's jsonb refuses it;
 * - no U+0000 (PostgreSQL's text cannot hold it) and no other control character: C0 (U+0001–U+001F),
 *   DEL (U+007F) and C1 (U+0080–U+009F), except tab, line feed and carriage return in free text;
 * - no noncharacter (U+FDD0–U+FDEF and the last two code points of every plane, U+FFFE/U+FFFF…),
 *   which Unicode reserves for a program's internal use, never for data.
 * A single line (names, URLs, keys, query parameters, header values) takes no control at all.
 * Everything else, including combining marks, right-to-left text and emoji, is accepted as sent.
 */

/** Free text (descriptions, reasons) may span lines; a line (names, URLs, identifiers) may not. */
export type TextKind = 'text' | 'line';

const hex = (code: number) => `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;

/** Why `value` is not text SigID accepts, or null when it is. Never repeats the value itself. */
export function textRefusal(value: string, kind: TextKind = 'text'): string | null {
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code < 0x20) {
      if (kind === 'text' && (code === 0x09 || code === 0x0a || code === 0x0d)) continue;
      return code === 0
        ? 'contains U+0000 (NUL), which SigID does not accept'
        : `contains the control character ${hex(code)}, which SigID does not accept${kind === 'line' ? ' on a single line' : ''}`;
    }
    if (code < 0x7f) continue;
    if (code <= 0x9f) return `contains the control character ${hex(code)}, which SigID does not accept`;
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = value.charCodeAt(index + 1);
      if (code > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) {
        return `contains an unpaired surrogate (${hex(code)}): not well-formed Unicode`;
      }
      const scalar = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
      if ((scalar & 0xfffe) === 0xfffe) return `contains the noncharacter ${hex(scalar)}, which SigID does not accept`;
      index++;
      continue;
    }
    if ((code >= 0xfdd0 && code <= 0xfdef) || code >= 0xfffe) {
      return `contains the noncharacter ${hex(code)}, which SigID does not accept`;
    }
  }
  return null;
}

function textOf(kind: TextKind) {
  return z.string().check((context) => {
    const refusal = textRefusal(context.value, kind);
    if (refusal) context.issues.push({ code: 'custom', message: refusal, input: context.value });
  });
}

/**
 * A free-text field (a description, a suspension reason): text SigID accepts, line breaks allowed.
 * The rule runs on the value as sent; chain `.trim().min().max()` after it.
 */
export const textSchema = textOf('text');

/** A one-line field (a name, a URL): text SigID accepts with no control character at all. */
export const lineSchema = textOf('line');

/**
 * `value` with every character SigID does not accept replaced by U+FFFD, for text SigID keeps but
 * did not choose (a webhook receiver's answer), so storing it can never fail.
 */
export function acceptedText(value: string): string {
  if (textRefusal(value) === null) return value;
  let accepted = '';
  for (const character of value) {
    accepted += textRefusal(character) === null ? character : '\ufffd';
  }
  return accepted;
}
