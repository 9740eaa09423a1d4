import { Resolver, resolveTxt } from 'node:dns/promises';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

/**
 * Organization domains: what a domain may be, and how its DNS TXT proof is looked up. Enforces:
 * - a domain is a host name of at least two labels, each 1–63 letters, digits or inner hyphens,
 *   253 characters at most, in lowercase IDNA A-label form (`Bücher.example` is `xn--bcher-kva.example`);
 * - no IP address, no bare top-level domain, no all-numeric top-level label, and none of the common
 *   two-label public suffixes (`co.uk`, `com.au`…), which no single organization can own;
 * - the proof is a TXT record at `_sigid-challenge.<domain>` whose whole value is the domain's token.
 */

/** The prefix of the TXT record that proves a domain. */
export const CHALLENGE_PREFIX = '_sigid-challenge';

/** Looks up TXT records, as `node:dns/promises` `resolveTxt` does: each record's chunks. Tests inject a fake. */
export interface TxtResolver {
  resolveTxt(name: string): Promise<string[][]>;
}

/** The real DNS: the system's resolvers. */
export const systemResolver: TxtResolver = { resolveTxt: (name) => resolveTxt(name) };

/** The DNS at these servers (`ip[:port]`, SIGID_DNS_SERVERS), or the system's when none are given. */
export function resolverAt(servers: readonly string[]): TxtResolver {
  if (servers.length === 0) return systemResolver;
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  resolver.setServers([...servers]);
  return { resolveTxt: (name) => resolver.resolveTxt(name) };
}

/** Second-level labels under a two-letter country code that are public suffixes (`co.uk`, `com.au`…). */
const PUBLIC_SECOND_LEVELS = new Set([
  'ac',
  'co',
  'com',
  'edu',
  'gov',
  'gv',
  'ltd',
  'me',
  'mil',
  'ne',
  'net',
  'or',
  'org',
  'plc',
  'sch',
]);

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** The normalised form of `input` (lowercase A-labels, no trailing dot), or why it is no organization's domain. */
export function normaliseDomain(input: string): { domain: string } | { refused: string } {
  const trimmed = input.trim().replace(/\.$/, '');
  if (trimmed === '' || /[/:@\s]/.test(trimmed)) return { refused: 'is not a domain name' };
  if (isIP(trimmed) || isIP(trimmed.replace(/^\[|\]$/g, ''))) return { refused: 'is an IP address, not a domain' };
  const domain = domainToASCII(trimmed.toLowerCase());
  if (domain === '' || domain.length > 253) return { refused: 'is not a valid domain name' };
  const labels = domain.split('.');
  if (!labels.every((label) => LABEL.test(label))) return { refused: 'is not a valid domain name' };
  if (labels.length < 2) return { refused: 'is a top-level domain: name a domain below it' };
  const top = labels.at(-1) as string;
  if (/^[0-9]+$/.test(top)) return { refused: 'is not a domain name (its top-level label is numeric)' };
  if (labels.length === 2 && top.length === 2 && PUBLIC_SECOND_LEVELS.has(labels[0] as string)) {
    return { refused: 'is a public suffix, which no organization can own' };
  }
  return { domain };
}

/** The TXT record that proves `domain`. */
export const challengeRecordName = (domain: string) => `${CHALLENGE_PREFIX}.${domain}`;

/**
 * Whether the TXT record `recordName` holds exactly `token` (one record; its chunks joined, as DNS
 * splits long values). A lookup that fails (no such name, no answer, a timeout) is "not found".
 */
export async function proofPublished(resolver: TxtResolver, recordName: string, token: string): Promise<boolean> {
  let records: string[][];
  try {
    records = await resolver.resolveTxt(recordName);
  } catch {
    return false;
  }
  return records.some((chunks) => chunks.join('').trim() === token);
}
