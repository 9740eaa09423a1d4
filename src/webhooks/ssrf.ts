import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where SigID will send a webhook: a tenant's URL must not turn SigID into a proxy into its own
 * network. Enforces:
 * - the URL is absolute `https:`, or `http:` only towards an allowlisted destination, with no
 *   user name or password in it, at most 2048 characters;
 * - every address the host resolves to is public unicast: loopback, private (RFC 1918), link-local,
 *   carrier-grade NAT, unique-local, multicast, unspecified, broadcast, reserved and documentation
 *   ranges, NAT64/6to4/Teredo (which tunnel to an IPv4 address) are refused, and IPv4-mapped IPv6
 *   (`::ffff:127.0.0.1`) is judged as the IPv4 address it maps;
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
      let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
      try {
        range = ipaddr.parseCIDR(entry);
      } catch {
        throw new Error(`SIGID_WEBHOOK_ALLOWLIST: "${entry}" is not a CIDR`);
      }
      const [address, bits] = range;
      const normal = normalise(address);
      ranges.push([normal, normal.kind() === address.kind() ? bits : bits - 96]);
      if (bits === (address.kind() === 'ipv4' ? 32 : 128)) addresses.add(normal.toNormalizedString());
    } else if (ipaddr.isValid(stripBrackets(entry)) && isIP(stripBrackets(entry))) {
      const address = normalise(ipaddr.parse(stripBrackets(entry)));
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
  ].map((address) => normalise(ipaddr.parse(address)).toNormalizedString()),
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
  if (!literal || !ipaddr.isValid(literal)) return false;
  return inAllowedRange(normalise(ipaddr.parse(literal)), allowlist);
}

/**
 * Why SigID must not connect to `address` (resolved from `host`), or null when it may. The one
 * place the address policy lives: used when an endpoint is saved and at every connection.
 */
export function addressRefusal(allowlist: Allowlist, host: string, address: string): string | null {
  const name = normaliseHost(host);
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const ip = normalise(ipaddr.parse(address));
  const normalized = ip.toNormalizedString();
  if (METADATA_ADDRESSES.has(normalized) || METADATA_HOSTS.has(name)) {
    if (allowlist.addresses.has(normalized) || allowlist.hosts.has(name)) return null;
    return `${host} (${address}) is a cloud metadata endpoint`;
  }
  if (allowlist.hosts.has(name) || inAllowedRange(ip, allowlist)) return null;
  const range = ip.range();
  if (range !== 'unicast') return `${host} resolves to ${address}, a ${describeRange(range)} address`;
  return null;
}

function describeRange(range: string): string {
  const names: Record<string, string> = {
    loopback: 'loopback',
    private: 'private',
    linkLocal: 'link-local',
    carrierGradeNat: 'carrier-grade NAT',
    uniqueLocal: 'unique-local',
    multicast: 'multicast',
    unspecified: 'unspecified',
    broadcast: 'broadcast',
  };
  return names[range] ?? `non-public (${range})`;
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
    const refusal = addressRefusal(allowlist, host, address);
    if (refusal) throw new WebhookUrlRefused('forbidden_address', `${refusal}: SigID does not deliver there.`);
    if (url.protocol === 'http:' && !isAllowlisted(allowlist, host, address)) {
      throw new WebhookUrlRefused(
        'scheme_not_allowed',
        'Plain http is only allowed to an allowlisted host; use https.',
      );
    }
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
          const refusal =
            addressRefusal(allowlist, hostname, address) ??
            (scheme === 'http:' && !isAllowlisted(allowlist, hostname, address)
              ? `plain http to ${hostname} is not allowlisted`
              : null);
          if (refusal) {
            callback(new WebhookUrlRefused('forbidden_address', refusal), '', 0);
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
