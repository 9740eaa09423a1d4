import { createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';

/**
 * Multibase/multicodec public keys (did:key, Multikey `publicKeyMultibase`) as JWKs. Enforces:
 * - multibase `z` (base58btc) only;
 * - multicodec `0xed01` (ed25519-pub, 32 raw bytes) or `0x8024` (p256-pub, 33-byte compressed point);
 * - the P-256 point is on the curve (node:crypto decompresses and checks it).
 */

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const BASE58_INDEX = new Map([...BASE58].map((char, index) => [char, index]));

/** base58btc (Bitcoin alphabet) to bytes, or null on a character outside the alphabet. */
export function decodeBase58btc(text: string): Uint8Array | null {
  const bytes: number[] = [];
  for (const char of text) {
    let carry = BASE58_INDEX.get(char);
    if (carry === undefined) return null;
    for (let index = 0; index < bytes.length; index++) {
      carry += (bytes[index] as number) * 58;
      bytes[index] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push(carry & 0xff);
      carry >>= 8;
    }
  }
  for (const char of text) {
    if (char !== '1') break;
    bytes.push(0);
  }
  return Uint8Array.from(bytes.reverse());
}

export type MultikeyType = 'Ed25519' | 'P-256';

export type DecodedMultikey =
  | { ok: true; type: MultikeyType; jwk: JWK }
  | { ok: false; reason: 'malformed' | 'unsupported'; message: string };

/** SPKI DER header of a P-256 key whose point is compressed (33 bytes follow). */
const P256_COMPRESSED_SPKI = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');

/** A `z…` multibase multicodec public key as a public JWK. */
export function decodeMultikey(multibase: string): DecodedMultikey {
  if (!multibase.startsWith('z')) {
    return { ok: false, reason: 'malformed', message: 'The key is not multibase base58btc (it must start with "z").' };
  }
  if (multibase.length > 200) return { ok: false, reason: 'malformed', message: 'The key is too long.' };
  const bytes = decodeBase58btc(multibase.slice(1));
  if (!bytes || bytes.length < 2) {
    return { ok: false, reason: 'malformed', message: 'The key is not valid base58btc.' };
  }
  const [first, second] = bytes as unknown as [number, number];
  const raw = Buffer.from(bytes.subarray(2));
  if (first === 0xed && second === 0x01) {
    if (raw.length !== 32) {
      return { ok: false, reason: 'malformed', message: 'An Ed25519 key has 32 bytes.' };
    }
    return { ok: true, type: 'Ed25519', jwk: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') } };
  }
  if (first === 0x80 && second === 0x24) {
    if (raw.length !== 33 || (raw[0] !== 0x02 && raw[0] !== 0x03)) {
      return { ok: false, reason: 'malformed', message: 'A P-256 key is a 33-byte compressed point.' };
    }
    try {
      const key = createPublicKey({ key: Buffer.concat([P256_COMPRESSED_SPKI, raw]), format: 'der', type: 'spki' });
      const { kty, crv, x, y } = key.export({ format: 'jwk' });
      return { ok: true, type: 'P-256', jwk: { kty, crv, x, y } };
    } catch {
      return { ok: false, reason: 'malformed', message: 'The P-256 key is not a point on the curve.' };
    }
  }
  return {
    ok: false,
    reason: 'unsupported',
    message: `Multicodec 0x${first.toString(16).padStart(2, '0')}${second.toString(16).padStart(2, '0')} is not a supported key type (Ed25519 0xed01, P-256 0x8024).`,
  };
}
