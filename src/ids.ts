import { randomFillSync } from 'node:crypto';
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
  | 'api'
  | 'org'
  | 'rol'
  | 'pol'
  | 'cls'
  | 'kid'
  | 'eml'
  | 'tot'
  | 'rcb'
  | 'rcv'
  | 'inv'
  | 'agt'
  | 'chl'
  | 'anc'
  | 'apr'
  | 'con'
  | 'dlg';

/**
 * The operating system's randomness, drawn 4 KiB at a time: `uuid` asks WebCrypto for 16 bytes per
 * UUID, which costs more than the rest of making an id. Bytes handed out are never handed out again.
 */
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolAt = POOL_SIZE;

function random16(): Uint8Array {
  if (poolAt + 16 > POOL_SIZE) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const bytes = new Uint8Array(16);
  pool.copy(bytes, 0, poolAt, poolAt + 16);
  pool.fill(0, poolAt, poolAt + 16);
  poolAt += 16;
  return bytes;
}

/** A new time-ordered UUIDv7 (RFC 9562). */
export function newUuid(): string {
  return uuidv7({ random: random16() });
}

/** A new id: the prefix, then a time-ordered UUIDv7 in lowercase Crockford base32 (26 characters). */
export function newId(prefix: IdPrefix): string {
  return encodeId(prefix, newUuid());
}

/**
 * `prefix_` and the UUID in lowercase Crockford base32: its 128 bits as 26 digits of 5 bits, most
 * significant first (the first digit holds the top 3 bits).
 */
export function encodeId(prefix: IdPrefix, uuid: string): string {
  const hex = uuid.replaceAll('-', '');
  let body = '';
  // 128 bits = 3 + 25 × 5: the first digit takes the top 3 bits, each next one 5 more.
  let bits = 0;
  let pending = 0;
  let taken = 3;
  for (let index = 0; index < 32; index++) {
    const code = hex.charCodeAt(index);
    // '0'–'9' are 48–57, 'a'–'f' 97–102 (a UUID's hex is lowercase; 'A'–'F', 65–70, read the same).
    pending = (pending << 4) | (code <= 57 ? code - 48 : (code | 32) - 87);
    bits += 4;
    while (bits >= taken) {
      bits -= taken;
      body += ALPHABET[(pending >> bits) & 31];
      pending &= (1 << bits) - 1;
      taken = 5;
    }
  }
  return `${prefix}_${body}`;
}

export function isId(prefix: IdPrefix, value: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`).test(value);
}
