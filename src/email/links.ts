/**
 * Signed e-mail links (a verification link, a password-reset link). Enforces:
 * - a token is its payload (link id, tenant, purpose, subject, expiry) and an HMAC-SHA256 of it
 *   under a key derived from the master key by HKDF (info `sigid email links`), so only SigID makes
 *   one, and every process of a deployment checks it the same way;
 * - the tag is compared in constant time, and checked before anything in the payload is believed;
 * - a token made for one purpose is refused for another (`wrong_purpose`), one past its expiry is
 *   refused (`expired`), and anything else that is not a token SigID made is `invalid`;
 * - a token is a pure function of the key and its payload: the e-mail worker makes it again from
 *   the `email.queued` event, so it is stored nowhere (events hold the link's id, purpose, expiry);
 * - after a master-key rotation, tokens made under a previous key (SIGID_MASTER_KEY_PREVIOUS) still verify.
 * Single use is not a property of the token: `consumeLink` (services/email.ts) claims its id once.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { MasterKeyRing } from '../secrets/keyring.ts';

/** What a link is for. A new kind of link adds its purpose here. */
export const linkPurposes = ['verify_email', 'reset_password', 'accept_invitation', 'approve_request'] as const;
export type LinkPurpose = (typeof linkPurposes)[number];

/** What a token says. `expiresAt` has whole seconds. */
export interface SignedLink {
  /** Unique per link (the id of the message that carries it); what single use claims. */
  linkId: string;
  tenantId: string;
  purpose: LinkPurpose;
  /** The data subject the link acts for (the user whose address is verified, whose password is reset). */
  subject: string;
  expiresAt: Date;
}

export type LinkRefusal = 'invalid' | 'expired' | 'wrong_purpose';
export type VerifiedLink = { ok: true; link: SignedLink } | { ok: false; reason: LinkRefusal };

const HKDF_INFO = 'sigid email links';
const MAC_CONTEXT = 'sigid-link.v1.';
const TAG_CHARS = 43; // 32 bytes, base64url
const MAX_TOKEN_CHARS = 1024;
const TOKEN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const payloadSchema = z.strictObject({
  v: z.literal(1),
  i: z.string().min(1).max(100),
  t: z.string().min(1).max(100),
  p: z.enum(linkPurposes),
  s: z.string().min(1).max(200),
  e: z.number().int().positive(),
});

type Keyring = Pick<MasterKeyRing, 'current' | 'previous'>;
const derived = new WeakMap<Keyring, { current: Buffer; all: Buffer[] }>();

/** The link keys of a keyring: the current master key's signs, every configured one's verifies. */
function keysOf(keyring: Keyring): { current: Buffer; all: Buffer[] } {
  let keys = derived.get(keyring);
  if (!keys) {
    const derive = (masterKey: Uint8Array) =>
      Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), HKDF_INFO, 32));
    const current = derive(keyring.current.key);
    keys = { current, all: [current, ...keyring.previous.map((key) => derive(key.key))] };
    derived.set(keyring, keys);
  }
  return keys;
}

const tagOf = (key: Buffer, payload: string) => createHmac('sha256', key).update(MAC_CONTEXT).update(payload).digest();

/** Makes the URL-safe token of `link`; the same link always gives the same token. */
export function signLink(keyring: Keyring, link: SignedLink): string {
  const payload = Buffer.from(
    JSON.stringify({
      v: 1,
      i: link.linkId,
      t: link.tenantId,
      p: link.purpose,
      s: link.subject,
      e: Math.floor(link.expiresAt.getTime() / 1000),
    } satisfies z.infer<typeof payloadSchema>),
  ).toString('base64url');
  return `${payload}.${tagOf(keysOf(keyring).current, payload).toString('base64url')}`;
}

/** What `token` says, if SigID made it for `purpose` and it has not expired; else why not. */
export function verifyLink(keyring: Keyring, token: string, purpose: LinkPurpose, now = new Date()): VerifiedLink {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS || !TOKEN.test(token)) {
    return { ok: false, reason: 'invalid' };
  }
  const dot = token.indexOf('.');
  const payload = token.slice(0, dot);
  const tag = token.slice(dot + 1);
  if (tag.length !== TAG_CHARS) return { ok: false, reason: 'invalid' };
  const given = Buffer.from(tag, 'base64url');
  // Every key is tried, whichever matches, so the time taken says nothing about which one did.
  let authentic = false;
  for (const key of keysOf(keyring).all) {
    const expected = tagOf(key, payload);
    if (given.length === expected.length && timingSafeEqual(given, expected)) authentic = true;
  }
  if (!authentic) return { ok: false, reason: 'invalid' };
  let parsed: z.infer<typeof payloadSchema>;
  try {
    parsed = payloadSchema.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  if (parsed.p !== purpose) return { ok: false, reason: 'wrong_purpose' };
  if (now.getTime() >= parsed.e * 1000) return { ok: false, reason: 'expired' };
  return {
    ok: true,
    link: {
      linkId: parsed.i,
      tenantId: parsed.t,
      purpose: parsed.p,
      subject: parsed.s,
      expiresAt: new Date(parsed.e * 1000),
    },
  };
}

/** The page URL with the token added as `?token=` (the only place a token is ever written). */
export function linkUrl(url: string, token: string): string {
  const target = new URL(url);
  target.searchParams.set('token', token);
  return target.toString();
}
