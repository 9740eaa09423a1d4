import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): enforces
 * - the secret is `whsec_` + base64 of 24 to 64 random bytes (SigID makes 32);
 * - the signed content is `{webhook-id}.{webhook-timestamp}.{body}`, timestamp in unix seconds;
 * - `webhook-signature` is `v1,` + base64 HMAC-SHA256, one per secret, space-separated, so during a
 *   rotation's overlap window a receiver holding either secret verifies the delivery.
 * HMAC runs in node:crypto (OpenSSL): no pure-JS SHA-256 on the delivery hot path.
 */

export const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

/** A new signing secret, `whsec_` + base64 of 32 random bytes. Shown once; stored sealed. */
export function generateSecret(random: (count: number) => Uint8Array = randomBytes): string {
  return `${SECRET_PREFIX}${Buffer.from(random(SECRET_BYTES)).toString('base64')}`;
}

/** The HMAC key a `whsec_…` secret stands for; throws on anything else. */
export function secretKey(secret: string): KeyObject {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('a webhook secret starts with whsec_');
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error('a webhook secret is whsec_ + base64');
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length < MIN_SECRET_BYTES || bytes.length > MAX_SECRET_BYTES) {
    throw new Error(`a webhook secret holds ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes`);
  }
  return createSecretKey(bytes);
}

/** One `v1,<base64>` signature of a message under one key. */
export function signWith(key: KeyObject, id: string, timestamp: number, body: string | Uint8Array): string {
  const hmac = createHmac('sha256', key);
  // One update of one string is cheaper than two; a Buffer body is not copied into a string.
  if (typeof body === 'string') hmac.update(`${id}.${timestamp}.${body}`);
  else hmac.update(`${id}.${timestamp}.`).update(body);
  return `v1,${hmac.digest('base64')}`;
}

/** The `webhook-signature` header: one `v1,` signature per key (current secret first), space-separated. */
export function sign(keys: readonly KeyObject[], id: string, timestamp: number, body: string | Uint8Array): string {
  if (keys.length === 1) return signWith(keys[0] as KeyObject, id, timestamp, body);
  if (keys.length === 0) throw new Error('signing needs at least one secret');
  return keys.map((key) => signWith(key, id, timestamp, body)).join(' ');
}

export type SignedHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** The three Standard Webhooks headers for one delivery attempt. */
export function signedHeaders(
  keys: readonly KeyObject[],
  id: string,
  timestamp: number,
  body: string | Uint8Array,
): SignedHeaders {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': sign(keys, id, timestamp, body),
  };
}

/**
 * Checks a delivery the way a receiver should: one of the `v1` signatures matches (in constant time)
 * and the timestamp is within `toleranceSeconds` of `now`. SigID's own tests verify with the
 * third-party `standardwebhooks` library instead; this is for SigID's docs and CLI.
 */
export function verify(
  secret: string,
  headers: Record<string, string | undefined>,
  body: string | Uint8Array,
  options: { now?: number; toleranceSeconds?: number } = {},
): boolean {
  const id = headers['webhook-id'];
  const timestamp = Number(headers['webhook-timestamp']);
  const signatures = headers['webhook-signature'];
  if (!id || !signatures || !Number.isInteger(timestamp)) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWith(secretKey(secret), id, timestamp, body));
  return signatures.split(' ').some((candidate) => {
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
