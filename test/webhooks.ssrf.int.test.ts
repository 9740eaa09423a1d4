import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookSender } from '../src/webhooks/sender.ts';
import {
  checkWebhookUrl,
  emptyAllowlist,
  parseAllowlist,
  type Resolver,
  systemResolver,
} from '../src/webhooks/ssrf.ts';

/** A customer's DNS, which we cannot run: names under .test resolve to what the test says. */
function fakeDns(records: Record<string, string[]>): Resolver {
  return async (host) => {
    const addresses = records[host];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses;
  };
}

const publicDns = fakeDns({
  'receiver.test': ['93.184.216.34'],
  'mixed.test': ['93.184.216.34', '10.0.0.7'],
  'sneaky.test': ['::ffff:169.254.169.254'],
  'internal.test': ['192.168.1.20'],
});

async function refusal(url: string, allowlist = emptyAllowlist, resolve: Resolver = publicDns) {
  try {
    await checkWebhookUrl(url, allowlist, resolve);
    return 'accepted';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe('SSRF: which webhook URLs SigID accepts', () => {
  it.each([
    ['http://127.0.0.1:8080/hook'],
    ['https://127.0.0.1/hook'],
    ['https://127.1.2.3/hook'],
    ['https://[::1]/hook'],
    ['https://[::ffff:127.0.0.1]/hook'],
    ['https://[::ffff:7f00:1]/hook'],
    ['https://0x7f.1/hook'],
    ['https://2130706433/hook'],
    ['https://0.0.0.0/hook'],
    ['https://10.1.2.3/hook'],
    ['https://172.20.0.1/hook'],
    ['https://192.168.0.10/hook'],
    ['https://100.64.1.1/hook'],
    ['https://169.254.10.10/hook'],
    ['https://169.254.169.254/latest/meta-data/'],
    ['https://[fd00:ec2::254]/latest/meta-data/'],
    ['https://[fd12:3456::1]/hook'],
    ['https://[fe80::1]/hook'],
    ['https://224.0.0.1/hook'],
    ['https://[ff02::1]/hook'],
    ['https://255.255.255.255/hook'],
    ['https://[64:ff9b::7f00:1]/hook'],
    ['https://metadata.google.internal/computeMetadata/v1/'],
    ['https://mixed.test/hook'],
    ['https://sneaky.test/hook'],
    ['https://internal.test/hook'],
  ])('refuses %s', async (url) => {
    expect(['forbidden_address', 'scheme_not_allowed']).toContain(await refusal(url));
  });

  // Every form an address can take, judged by the range table (and the IPv4 address it carries).
  it.each([
    // IPv4-compatible (::a.b.c.d, deprecated): refused, whatever it carries.
    ['https://[::127.0.0.1]/', /IPv4-compatible.*127\.0\.0\.1, a loopback/],
    ['https://[::7f00:1]/', /IPv4-compatible.*127\.0\.0\.1/],
    ['https://[::a9fe:a9fe]/', /IPv4-compatible.*169\.254\.169\.254, a link-local/],
    ['https://[::10.0.0.1]/', /IPv4-compatible.*10\.0\.0\.1, a private/],
    ['https://[::8.8.8.8]/', /IPv4-compatible.*8\.8\.8\.8/],
    ['https://[::2]/', /IPv4-compatible/],
    ['https://[::]/', /unspecified/],
    // IPv4-mapped and IPv4-translated.
    ['https://[::ffff:a9fe:a9fe]/', /metadata/],
    ['https://[::ffff:10.0.0.1]/', /private/],
    ['https://[::ffff:0:7f00:1]/', /IPv4-translated.*127\.0\.0\.1/],
    // NAT64: the well-known prefix is the IPv4 address it carries; the local-use prefix is refused.
    ['https://[64:ff9b::7f00:1]/', /loopback/],
    ['https://[64:ff9b::a9fe:a9fe]/', /metadata/],
    ['https://[64:ff9b::192.168.1.1]/', /private/],
    ['https://[64:ff9b:1::5db8:d822]/', /local-use NAT64/],
    // 6to4 and Teredo tunnel to an IPv4 address: refused, naming it.
    ['https://[2002:7f00:1::1]/', /6to4.*127\.0\.0\.1, a loopback/],
    ['https://[2002:a9fe:a9fe::]/', /6to4.*169\.254\.169\.254/],
    ['https://[2002:5db8:d822::1]/', /6to4.*93\.184\.216\.34/],
    ['https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', /Teredo.*127\.0\.0\.1/],
    // Reserved and special-purpose IPv6 ranges, and space outside 2000::/3.
    ['https://[2001:db8::1]/', /reserved/],
    ['https://[2001:2::1]/', /benchmarking/],
    ['https://[2001:20::1]/', /orchid2/],
    ['https://[100::1]/', /discard/],
    ['https://[fec0::1]/', /site-local/],
    ['https://[5f00::1]/', /segmentRouting/],
    ['https://[3fff::1]/', /reserved/],
    ['https://[4000::1]/', /outside global unicast/],
    ['https://[fc00::1]/', /unique-local/],
    // Reserved and special-purpose IPv4 ranges.
    ['https://192.0.0.8/', /reserved/],
    ['https://192.0.2.1/', /reserved/],
    ['https://198.18.0.1/', /reserved/],
    ['https://240.0.0.1/', /reserved/],
    ['https://0.1.2.3/', /unspecified/],
    ['https://192.88.99.1/', /reserved/],
    ['https://192.31.196.1/', /as112/],
  ])('refuses %s, saying why', async (url, why) => {
    const error = await checkWebhookUrl(url, emptyAllowlist, publicDns).then(
      () => null,
      (caught: unknown) => caught as { code: string; message: string },
    );
    expect(error?.code).toBe('forbidden_address');
    expect(error?.message).toMatch(why);
  });

  it('accepts globally routable addresses in every form, NAT64 to a public address included', async () => {
    for (const url of [
      'https://[2606:4700:4700::1111]/hook',
      'https://[2a00:1450:4001:80b::200e]/hook',
      'https://[::ffff:93.184.216.34]/hook',
      'https://[64:ff9b::93.184.216.34]/hook',
      'https://8.8.8.8/hook',
    ]) {
      expect(await refusal(url), url).toBe('accepted');
    }
  });

  it('refuses a host whose DNS answers in one of those forms', async () => {
    const dns = fakeDns({
      'compat.test': ['::7f00:1'],
      // How node's own DNS lookup prints an IPv4-compatible address (ipaddr.js alone reads it as IPv4-mapped).
      'dotted.test': ['::127.0.0.1'],
      'nat64.test': ['64:ff9b::a9fe:a9fe'],
      'tunnel.test': ['2002:a00:1::1'],
    });
    for (const url of ['https://compat.test/', 'https://dotted.test/', 'https://nat64.test/', 'https://tunnel.test/']) {
      expect(await refusal(url, emptyAllowlist, dns), url).toBe('forbidden_address');
    }
  });

  it('refuses localhost as the system resolver resolves it', async () => {
    expect(await refusal('https://localhost/hook', emptyAllowlist, systemResolver)).toBe('forbidden_address');
  });

  it('refuses other schemes, credentials in the URL, hosts that do not resolve, and plain http to the internet', async () => {
    expect(await refusal('ftp://receiver.test/hook')).toBe('scheme_not_allowed');
    expect(await refusal('file:///etc/passwd')).toBe('scheme_not_allowed');
    expect(await refusal('https://user:pw@receiver.test/hook')).toBe('invalid_url');
    expect(await refusal('not a url')).toBe('invalid_url');
    expect(await refusal('https://nowhere.test/hook')).toBe('unresolvable_host');
    expect(await refusal('http://receiver.test/hook')).toBe('scheme_not_allowed');
  });

  it('accepts https to a public address', async () => {
    expect(await refusal('https://receiver.test/hook')).toBe('accepted');
    expect(await refusal('https://93.184.216.34:8443/hook')).toBe('accepted');
  });

  it('lets SIGID_WEBHOOK_ALLOWLIST open hosts and ranges, http included', async () => {
    const allowlist = parseAllowlist('127.0.0.1, 192.168.0.0/16, hooks.internal');
    expect(await refusal('http://127.0.0.1:9000/hook', allowlist)).toBe('accepted');
    expect(await refusal('https://internal.test/hook', allowlist)).toBe('accepted');
    expect(await refusal('http://internal.test/hook', allowlist)).toBe('accepted');
    expect(await refusal('http://hooks.internal/hook', allowlist, fakeDns({ 'hooks.internal': ['10.9.9.9'] }))).toBe(
      'accepted',
    );
    expect(await refusal('https://127.0.0.2/hook', allowlist)).toBe('forbidden_address');
    expect(await refusal('https://10.0.0.1/hook', allowlist)).toBe('forbidden_address');
    // Allowlisting 127.0.0.1 does not open the IPv4-compatible ::127.0.0.1, another address.
    const dotted = fakeDns({ 'dotted.test': ['::127.0.0.1'] });
    expect(await refusal('https://dotted.test/hook', allowlist, dotted)).toBe('forbidden_address');
    expect(await refusal('https://[::127.0.0.1]/hook', allowlist)).toBe('forbidden_address');
  });

  it('opens a cloud metadata address only when the allowlist names that exact address', async () => {
    expect(await refusal('https://169.254.169.254/', parseAllowlist('169.254.0.0/16'))).toBe('forbidden_address');
    expect(await refusal('https://169.254.1.1/', parseAllowlist('169.254.0.0/16'))).toBe('accepted');
    expect(await refusal('https://169.254.169.254/', parseAllowlist('169.254.169.254'))).toBe('accepted');
  });

  it('refuses a malformed allowlist at start-up', () => {
    expect(() => parseAllowlist('10.0.0.0/33')).toThrow(/CIDR/);
    expect(() => parseAllowlist('not a host!')).toThrow(/SIGID_WEBHOOK_ALLOWLIST/);
  });
});

describe('SSRF: the delivery client', () => {
  let server: Server;
  let base: string;
  const hits: string[] = [];
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/ok': (_req, res) => res.writeHead(204).end(),
    '/redirect': (_req, res) => res.writeHead(302, { location: '/landing' }).end(),
    '/landing': (_req, res) => res.writeHead(200).end('landed'),
    '/huge': (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      for (let i = 0; i < 64; i++) res.write(chunk);
      res.end();
    },
    '/slow': () => {},
    '/busy': (_req, res) => res.writeHead(503, { 'retry-after': '42' }).end('busy'),
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      req.resume();
      req.on('end', () => routes[req.url ?? '']?.(req, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  // What the dispatcher would sign; the receiver here does not check it.
  const signed = { 'webhook-id': 'msg_ssrf', 'webhook-timestamp': '0', 'webhook-signature': 'v1,unchecked' };
  const allowed = () => new WebhookSender({ allowlist: parseAllowlist('127.0.0.1'), timeoutMs: 500 });

  it('delivers to an allowlisted receiver and reports its answer', async () => {
    const sender = allowed();
    const result = await sender.send(`${base}/ok`, '{}', signed);
    expect(result).toMatchObject({ kind: 'response', status: 204 });
    sender.close();
  });

  it('never opens a connection to a loopback receiver that is not allowlisted', async () => {
    const sender = new WebhookSender({ allowlist: emptyAllowlist });
    const before = hits.length;
    const result = await sender.send(`${base}/ok`, '{}', signed);
    expect(result.kind).toBe('refused');
    expect(hits.length).toBe(before);
    sender.close();
  });

  it('checks the address again when connecting, so a name re-pointed at loopback (DNS rebinding) gets nothing', async () => {
    const port = (server.address() as AddressInfo).port;
    const sender = new WebhookSender({
      allowlist: emptyAllowlist,
      resolve: fakeDns({ 'rebind.test': ['127.0.0.1'] }),
    });
    const before = hits.length;
    const result = await sender.send(`https://rebind.test:${port}/ok`, '{}', signed);
    expect(result).toMatchObject({ kind: 'refused' });
    expect(hits.length).toBe(before);
    sender.close();
  });

  it('refuses, at connect time, IPv4-compatible and tunnelled forms of loopback', async () => {
    const port = (server.address() as AddressInfo).port;
    const sender = new WebhookSender({
      allowlist: parseAllowlist('127.0.0.1'),
      resolve: fakeDns({ 'compat.test': ['::127.0.0.1'], 'tunnel.test': ['2002:7f00:1::1'] }),
    });
    const before = hits.length;
    for (const target of [
      `https://[::127.0.0.1]:${port}/ok`,
      `https://compat.test:${port}/ok`,
      `https://tunnel.test:${port}/ok`,
    ]) {
      expect(await sender.send(target, '{}', signed), target).toMatchObject({ kind: 'refused' });
    }
    expect(hits.length).toBe(before);
    sender.close();
  });

  it('does not follow redirects', async () => {
    const sender = allowed();
    const result = await sender.send(`${base}/redirect`, '{}', signed);
    expect(result).toMatchObject({ kind: 'response', status: 302 });
    expect(hits).not.toContain('/landing');
    sender.close();
  });

  it('keeps at most 4 KiB of a response body', async () => {
    const sender = allowed();
    const result = await sender.send(`${base}/huge`, '{}', signed);
    expect(result).toMatchObject({ kind: 'response', status: 500 });
    expect(result.kind === 'response' && result.body.length).toBe(4096);
    sender.close();
  });

  it('times out a receiver that never answers', async () => {
    const sender = new WebhookSender({ allowlist: parseAllowlist('127.0.0.1'), timeoutMs: 200 });
    const started = Date.now();
    const result = await sender.send(`${base}/slow`, '{}', signed);
    expect(result.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2000);
    sender.close();
  });

  it('reports a closed port as a connection error and reads Retry-After', async () => {
    const sender = allowed();
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect((await sender.send(`http://127.0.0.1:${port}/`, '{}', signed)).kind).toBe('connection_error');
    expect(await sender.send(`${base}/busy`, '{}', signed)).toMatchObject({ status: 503, retryAfterMs: 42_000 });
    sender.close();
  });
});
