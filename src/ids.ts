import { v7 as uuidv7 } from 'uuid';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** The type prefixes of SigID's ids; an id says what it names (`ten_…` is a tenant). */
export type IdPrefix =
  | 'ten'
  | 'key'
  | 'op'
  | 'whk'
  | 'wss'
  | 'msg'
  | 'rpl'
  | 'req'
  | 'acc'
  | 'pwd'
  | 'pk'
  | 'sub'
  | 'app'
  | 'cls'
  | 'kid'
  | 'eml'
  | 'tot'
  | 'rcb'
  | 'rcv';

/** A new id: the prefix, then a time-ordered UUIDv7 in lowercase Crockford base32 (26 characters). */
export function newId(prefix: IdPrefix): string {
  return encodeId(prefix, uuidv7());
}

/** `prefix_` and the UUID in lowercase Crockford base32. */
export function encodeId(prefix: IdPrefix, uuid: string): string {
  let value = BigInt(`0x${uuid.replaceAll('-', '')}`);
  let body = '';
  for (let index = 0; index < 26; index++) {
    body = ALPHABET[Number(value & 31n)] + body;
    value >>= 5n;
  }
  return `${prefix}_${body}`;
}

export function isId(prefix: IdPrefix, value: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`).test(value);
}
