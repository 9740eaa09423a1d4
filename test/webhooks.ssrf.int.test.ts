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
