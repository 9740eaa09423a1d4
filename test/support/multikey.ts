import type { JWK } from 'jose';

/**
 * The encoding side of did:key / Multikey, for tests: written apart from the decoder it checks
 * (`src/agents/anchors/multikey.ts`), so a bug on one side does not hide the same bug on the other.
 */

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export function encodeBase58btc(bytes: Uint8Array): string {
  let value = 0n;
  for (const byte of bytes) value = value * 256n + BigInt(byte);
  let text = '';
  while (value > 0n) {
    text = ALPHABET[Number(value % 58n)] + text;
    value /= 58n;
  }
  for (const byte of bytes) {
    if (byte !== 0) break;
    text = `1${text}`;
  }
  return text;
}

/** `z…` multibase of a multicodec-prefixed key. */
export function multibaseOf(prefix: number[], key: Uint8Array): string {
  return `z${encodeBase58btc(Uint8Array.from([...prefix, ...key]))}`;
}

/** The Multikey of an Ed25519 or P-256 public JWK (P-256 compressed: 02/03 by the parity of y, then x). */
export function multikeyOf(jwk: JWK): string {
  const x = Buffer.from(jwk.x as string, 'base64url');
  if (jwk.crv === 'Ed25519') return multibaseOf([0xed, 0x01], x);
  const y = Buffer.from(jwk.y as string, 'base64url');
  return multibaseOf([0x80, 0x24], Uint8Array.from([(y.at(-1) as number) & 1 ? 0x03 : 0x02, ...x]));
}

export const didKeyOf = (jwk: JWK) => `did:key:${multikeyOf(jwk)}`;
