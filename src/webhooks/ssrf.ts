import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where SigID will send a webhook: a tenant's URL must not turn SigID into a proxy into its own
 * network. Enforces:
 * - the URL is absolute `https:`, or `http:` only towards an allowlisted destination, with no
 *   user name or password in it, at most 2048 characters;
 * - every address the host resolves to is globally routable unicast, as ipaddr.js's table of
 *   special-purpose ranges (the IANA registries) classifies it: only its `unicast` class passes, and
 *   an IPv6 address must also lie in 2000::/3, the only space IANA allocates for global unicast;
 * - an IPv6 address that carries an IPv4 address is judged by it: IPv4-mapped (`::ffff:a.b.c.d`)
 *   and NAT64 under the well-known prefix (`64:ff9b::a.b.c.d`, what DNS64 answers) are the IPv4
 *   address they carry, allowlist included; IPv4-compatible (`::a.b.c.d`, deprecated), IPv4-translated,
 *   local-use NAT64 (`64:ff9b:1::/48`), 6to4 (`2002::/16`) and Teredo (`2001::/32`) are refused
 *   whatever they carry, and the refusal names the IPv4 address inside;
 * - cloud metadata endpoints (169.254.169.254, fd00:ec2::254, metadata.google.internal, …) are
 *   refused unless the allowlist names that exact address or host, not merely a range holding it;
 * - `SIGID_WEBHOOK_ALLOWLIST` (comma-separated host names, IP addresses and CIDRs; empty by default)
 *   lifts the address rules for what it names; an allowlisted destination may also use `http:`.
 * The check runs when an endpoint is saved and again inside the connection's DNS lookup, so the
 * socket connects to the very address that passed (no rebinding between check and connect).
 */

export interface Allowlist {
  readonly hosts: ReadonlySet<string>;
  readonly ranges: ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
  /** Addresses listed one by one (a bare IP or a /32, /128): only these can open a metadata address. */
  readonly addresses: ReadonlySet<string>;
}

export const emptyAllowlist: Allowlist = { hosts: new Set(), ranges: [], addresses: new Set() };

/** `SIGID_WEBHOOK_ALLOWLIST`: host names, IP addresses and CIDRs, comma-separated. Throws on a bad entry. */
export function parseAllowlist(text: string | undefined): Allowlist {
  const hosts = new Set<string>();
  const ranges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];
  const addresses = new Set<string>();
  for (const raw of (text ?? '').split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry.includes('/')) {
      const [base = '', prefix = ''] = entry.split('/');
      const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
      const address = isAddress(base) ? parseAddress(base) : undefined;
      if (!address || !(bits <= (address.kind() === 'ipv4' ? 32 : 128))) {
        throw new Error(`SIGID_WEBHOOK_ALLOWLIST: "${entry}" is not a CIDR`);
      }
      const normal = normalise(address);
      ranges.push([normal, normal.kind() === address.kind() ? bits : bits - 96]);
      if (bits === (address.kind() === 'ipv4' ? 32 : 128)) addresses.add(normal.toNormalizedString());
    } else if (isAddress(stripBrackets(entry))) {
      const address = normalise(parseAddress(stripBrackets(entry)));
      ranges.push([address, address.kind() === 'ipv4' ? 32 : 128]);
      addresses.add(address.toNormalizedString());
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/.test(entry)) {
      hosts.add(entry.replace(/\.$/, ''));
    } else {
      throw new Error(`SIGID_WEBHOOK_ALLOWLIST: "${entry}" is neither a host name, an IP address nor a CIDR`);
    }
  }
  return { hosts, ranges, addresses };
}

/** Why a webhook URL or address is refused; `code` is stable and shown to the API caller. */
export class WebhookUrlRefused extends Error {
  readonly code: 'invalid_url' | 'scheme_not_allowed' | 'forbidden_address' | 'unresolvable_host';

  constructor(code: WebhookUrlRefused['code'], message: string) {
    super(message);
    this.name = 'WebhookUrlRefused';
    this.code = code;
  }
}

const METADATA_ADDRESSES = new Set(
  [
    '169.254.169.254', // AWS, GCP, Azure, OpenStack, DigitalOcean…
    '169.254.170.2', // AWS ECS task metadata
    '169.254.169.253', // AWS VPC DNS
    '169.254.169.123', // AWS time sync
    '100.100.100.200', // Alibaba Cloud
    '168.63.129.16', // Azure WireServer (a public address)
    '192.0.0.192', // Oracle Cloud
    'fd00:ec2::254', // AWS IMDS over IPv6
    'fd00:ec2::253',
  ].map((address) => normalise(parseAddress(address)).toNormalizedString()),
);

const METADATA_HOSTS = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.com',
]);

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Parses an IP address as the socket would use it. ipaddr.js reads `::a.b.c.d` as `::ffff:a.b.c.d`
 * (IPv4-mapped), but it is IPv4-compatible, another address; and node's DNS answers print
 * IPv4-compatible addresses in that dotted form. So an IPv6 address is first rewritten in plain
 * hexadecimal by the WHATWG URL parser (zone index dropped: a zone only qualifies link-local).
 */
function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const parsed = tryParseAddress(address);
  if (!parsed) throw new Error(`${address} is not an IP address`);
  return parsed;
}

function tryParseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = address.replace(/%.*$/, '');
  try {
    if (isIP(bare) === 4) return ipaddr.parse(bare);
    if (isIP(bare) === 6) return ipaddr.parse(new URL(`http://[${bare}]/`).hostname.slice(1, -1));
  } catch {
    // A form node and the URL parser disagree on: not an address SigID can judge.
  }
  return null;
}

/** Whether `text` is an IP address SigID can judge. */
function isAddress(text: string): boolean {
  return tryParseAddress(text) !== null;
}

/** An IPv4-mapped IPv6 address is the IPv4 address it maps. */
function normalise(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
    ? (address as ipaddr.IPv6).toIPv4Address()
    : address;
}

function normaliseHost(host: string): string {
  return stripBrackets(host.toLowerCase()).replace(/\.$/, '');
}

function inAllowedRange(address: ipaddr.IPv4 | ipaddr.IPv6, allowlist: Allowlist): boolean {
  return allowlist.ranges.some(([base, bits]) => base.kind() === address.kind() && address.match(base, bits));
}

/** Whether `host` (by name) or `address` is named by the allowlist: such a destination may use http. */
export function isAllowlisted(allowlist: Allowlist, host: string, address?: string): boolean {
  if (allowlist.hosts.has(normaliseHost(host))) return true;
  const literal = address ?? (isIP(normaliseHost(host)) ? normaliseHost(host) : undefined);
  if (!literal || !isAddress(literal)) return false;
  return inAllowedRange(judgedAddress(literal), allowlist);
}

/** 2000::/3: the only IPv6 space IANA allocates for global unicast; everything outside is reserved or special. */
const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number];
/** The NAT64 well-known prefix (RFC 6052): a translator connects to the IPv4 address in the last 32 bits. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96') as [ipaddr.IPv6, number];

const ipv4Of = (high: number, low: number) => new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);

/** The address the policy judges: an IPv4-mapped or well-known-prefix NAT64 address is the IPv4 address inside. */
function judgedAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const ip = normalise(parseAddress(address));
  if (ip.kind() === 'ipv6' && ip.match(NAT64_WELL_KNOWN)) {
    const parts = (ip as ipaddr.IPv6).parts;
    return ipv4Of(parts[6] as number, parts[7] as number);
  }
  return ip;
}

/** The form and IPv4 address an IPv6 address tunnels or translates to, when it has one. */
function carriedIPv4(ip: ipaddr.IPv6, range: string): { form: string; ipv4: ipaddr.IPv4 } | null {
  const [p0, p1, p2, p3, p4, p5, p6, p7] = ip.parts as [number, number, number, number, number, number, number, number];
  switch (range) {
    case 'rfc6145':
      return { form: 'an IPv4-translated address', ipv4: ipv4Of(p6, p7) };
    case '6to4':
      return { form: 'a 6to4 address', ipv4: ipv4Of(p1, p2) };
    case 'teredo':
      // The client's address, stored inverted in the last 32 bits.
      return { form: 'a Teredo address', ipv4: ipv4Of(~p6 & 0xffff, ~p7 & 0xffff) };
    case 'unicast':
      // ::a.b.c.d, IPv4-compatible (deprecated by RFC 4291); ipaddr.js leaves it in `unicast`.
      if (p0 === 0 && p1 === 0 && p2 === 0 && p3 === 0 && p4 === 0 && p5 === 0) {
        return { form: 'an IPv4-compatible address (deprecated)', ipv4: ipv4Of(p6, p7) };
      }
      return null;
    default:
      return null;
  }
}

const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  private: 'private',
  linkLocal: 'link-local',
  carrierGradeNat: 'carrier-grade NAT',
  uniqueLocal: 'unique-local',
  multicast: 'multicast',
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  reserved: 'reserved',
  rfc6052: 'local-use NAT64',
  deprecatedSiteLocal: 'site-local (deprecated)',
  discard: 'discard-only',
  benchmarking: 'benchmarking',
};

function describeRange(range: string): string {
  return RANGE_NAMES[range] ?? `special-purpose (${range})`;
}

/** Why `ip` is not globally routable unicast, or null when it is. */
function notGlobalUnicast(ip: ipaddr.IPv4 | ipaddr.IPv6): string | null {
  const range = ip.range();
  if (ip.kind() === 'ipv4') return range === 'unicast' ? null : `a ${describeRange(range)} address`;
  const carried = carriedIPv4(ip as ipaddr.IPv6, range);
  if (carried) {
    const inner = carried.ipv4.range();
    return `${carried.form} carrying ${carried.ipv4.toString()}${inner === 'unicast' ? '' : `, a ${describeRange(inner)} address`}`;
  }
  if (range !== 'unicast') return `a ${describeRange(range)} address`;
  if (!ip.match(GLOBAL_UNICAST)) return 'an address outside global unicast (2000::/3), reserved by IANA';
  return null;
}

/**
 * Why SigID must not connect to `address` (resolved from `host`), or null when it may. The one
 * place the address policy lives: used when an endpoint is saved and at every connection.
 */
export function addressRefusal(allowlist: Allowlist, host: string, address: string): string | null {
  const name = normaliseHost(host);
  if (!isAddress(address)) return `${address} is not an IP address`;
  const ip = judgedAddress(address);
  const normalized = ip.toNormalizedString();
  if (METADATA_ADDRESSES.has(normalized) || METADATA_HOSTS.has(name)) {
    if (allowlist.addresses.has(normalized) || allowlist.hosts.has(name)) return null;
    return `${host} (${address}) is a cloud metadata endpoint`;
  }
  if (allowlist.hosts.has(name) || inAllowedRange(ip, allowlist)) return null;
  const refusal = notGlobalUnicast(ip);
  return refusal ? `${host} resolves to ${address}, ${refusal}` : null;
}

/**
 * Why SigID must not open a connection to `address` for `host` over `scheme`, or null when it may:
 * the address policy, then plain http only where the allowlist names the destination. Checked when
 * an endpoint is saved, in every connection's DNS lookup, and for IP-literal hosts by the sender.
 */
export function connectionRefusal(
  allowlist: Allowlist,
  scheme: 'http:' | 'https:',
  host: string,
  address: string,
): WebhookUrlRefused | null {
  const refusal = addressRefusal(allowlist, host, address);
  if (refusal) return new WebhookUrlRefused('forbidden_address', `${refusal}: SigID does not deliver there.`);
  if (scheme === 'http:' && !isAllowlisted(allowlist, host, address)) {
    return new WebhookUrlRefused('scheme_not_allowed', 'Plain http is only allowed to an allowlisted host; use https.');
  }
  return null;
}

/** Resolves a host name to every address it has, as the connection would (getaddrinfo, /etc/hosts). */
export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => {
      if (error) reject(error);
      else resolve(addresses.map((entry) => entry.address));
    });
  });

/** The URL's form alone: scheme, credentials, length. Throws WebhookUrlRefused. */
export function parseWebhookUrl(raw: string, allowlist: Allowlist): URL {
  if (raw.length > 2048) throw new WebhookUrlRefused('invalid_url', 'The URL is longer than 2048 characters.');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookUrlRefused('invalid_url', 'The URL is not an absolute URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new WebhookUrlRefused('scheme_not_allowed', 'Webhook URLs use https (or http to an allowlisted host).');
  }
  if (url.username || url.password) {
    throw new WebhookUrlRefused('invalid_url', 'The URL must not carry a user name or password.');
  }
  if (!url.hostname) throw new WebhookUrlRefused('invalid_url', 'The URL has no host.');
  if (url.protocol === 'http:' && !isAllowlisted(allowlist, url.hostname) && isIP(normaliseHost(url.hostname))) {
    throw new WebhookUrlRefused('scheme_not_allowed', 'Plain http is only allowed to an allowlisted host; use https.');
  }
  return url;
}

/**
 * Everything about a webhook URL that can be checked before sending: its form and every address its
 * host resolves to now. Throws WebhookUrlRefused. Delivery checks again at connect time.
 */
export async function checkWebhookUrl(
  raw: string,
  allowlist: Allowlist,
  resolve: Resolver = systemResolver,
): Promise<URL> {
  const url = parseWebhookUrl(raw, allowlist);
  const host = normaliseHost(url.hostname);
  if (METADATA_HOSTS.has(host) && !allowlist.hosts.has(host)) {
    throw new WebhookUrlRefused(
      'forbidden_address',
      `${host} is a cloud metadata endpoint: SigID does not deliver there.`,
    );
  }
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = await resolve(host);
    } catch {
      throw new WebhookUrlRefused('unresolvable_host', `${host} does not resolve to an address.`);
    }
    if (addresses.length === 0) throw new WebhookUrlRefused('unresolvable_host', `${host} has no address.`);
  }
  for (const address of addresses) {
    const refusal = connectionRefusal(allowlist, url.protocol as 'http:' | 'https:', host, address);
    if (refusal) throw refusal;
  }
  return url;
}

/**
 * A `lookup` for node's http(s) `request`: resolves, refuses the whole lookup if any address is
 * refused, and hands the socket only addresses that passed, so the connection goes where the
 * check looked. (IP-literal hosts skip lookup in node: `WebhookSender` checks those itself.)
 */
export function pinnedLookup(allowlist: Allowlist, scheme: 'http:' | 'https:', resolve: Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        for (const address of addresses) {
          const refusal = connectionRefusal(allowlist, scheme, hostname, address);
          if (refusal) {
            callback(refusal, '', 0);
            return;
          }
        }
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const entries = addresses
          .map((address) => ({ address, family: isIP(address) }))
          .filter((entry) => wanted === 0 || entry.family === wanted);
        const first = entries[0];
        if (!first) {
          const error = Object.assign(new Error(`${hostname} has no usable address`), { code: 'ENOTFOUND' });
          callback(error, '', 0);
          return;
        }
        if (options.all) (callback as unknown as (e: null, all: typeof entries) => void)(null, entries);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
}
