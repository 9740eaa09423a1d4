import express from 'express';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Database } from '../src/db/database.ts';
import { TooManyAttemptsError } from '../src/errors.ts';
import { problemHandler, sendTooManyAttempts } from '../src/http/problem.ts';
import {
  accountDelaySeconds,
  accountThrottleKey,
  checkThrottle,
  clientNetwork,
  emailThrottleKey,
  ipThrottleKey,
  pruneThrottleCounters,
  recordFailure,
  recordSuccess,
  type ThrottleKey,
} from '../src/throttle.ts';
import { backends } from './support/databases.ts';
import { authorizationUrl, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

/** The sign-in throttle on each database: counted in one table every process shares, judged by an injected clock. */
describe.each(backends)('the sign-in throttle ($name)', (backend) => {
  let t: TestSigid;
  let counter = 0;
  const t0 = new Date('2026-12-03T10:00:00.000Z');
  const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
  /** A fresh account key and network key, so tests do not share counters. */
  const fresh = () => {
    counter += 1;
    return {
      account: accountThrottleKey(`acc_test_${counter}`, 'sign_in'),
      ip: ipThrottleKey(t.sigid, `198.51.100.${counter}`),
    };
  };
  const failures = async (key: ThrottleKey) => {
    const { rows } = await t.sigid.db.query<{ failures: number }>(
      'select failures from throttle_counters where key = $1',
      [key.key],
    );
    return rows[0]?.failures ?? 0;
  };

  beforeAll(async () => {
    t = await startSigid({ backend: backend.name });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('counts every one of many concurrent failures, on each key', async () => {
    const { account, ip } = fresh();
    await Promise.all(Array.from({ length: 40 }, () => recordFailure(t.sigid, [account, ip], { now: t0 })));
    expect([await failures(account), await failures(ip)]).toEqual([40, 40]);
  });

  // Two connections of one database server: PostgreSQL's case (PGlite is one process's own database).
  const onServer = backend.name === 'postgres' ? it : () => undefined;
  onServer('counts the failures of two processes racing on one key', async () => {
    const other: Database = connectPostgres(t.sigid.config.databaseUrl as string);
    try {
      const { account } = fresh();
      await Promise.all(
        Array.from({ length: 30 }, (_, index) =>
          recordFailure(index % 2 === 0 ? t.sigid : { db: other }, [account], { now: t0 }),
        ),
      );
      expect(await failures(account)).toBe(30);
    } finally {
      await other.close();
    }
  });

  it('lets 5 failures through, then makes each next attempt wait twice as long, up to 15 minutes', async () => {
    const { account, ip } = fresh();
    const keys = [account, ip];
    let now = t0;
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect(await checkThrottle(t.sigid, keys, { now })).toEqual({ allowed: true });
      await recordFailure(t.sigid, keys, { now });
    }
    const waits: number[] = [];
    for (let attempt = 6; attempt <= 17; attempt++) {
      const refused = await checkThrottle(t.sigid, keys, { now });
      if (refused.allowed) throw new Error(`attempt ${attempt} was not made to wait`);
      waits.push(refused.retryAfterSeconds);
      // One second early is still refused; on time, it may go ahead.
      expect(
        (await checkThrottle(t.sigid, keys, { now: new Date(now.getTime() + (refused.retryAfterSeconds - 1) * 1000) }))
          .allowed,
      ).toBe(false);
      now = new Date(now.getTime() + refused.retryAfterSeconds * 1000);
      expect(await checkThrottle(t.sigid, keys, { now })).toEqual({ allowed: true });
      await recordFailure(t.sigid, keys, { now });
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
    expect(waits).toEqual(Array.from({ length: 12 }, (_, index) => accountDelaySeconds(index + 5)));
  });

  it('gives the one attempt after a wait to one of many concurrent callers', async () => {
    const { account } = fresh();
    for (let attempt = 0; attempt < 8; attempt++) await recordFailure(t.sigid, [account], { now: t0 });
    // 8 failures: 8 s to wait.
    const later = at(8);
    const decisions = await Promise.all(
      Array.from({ length: 10 }, () => checkThrottle(t.sigid, [account], { now: later })),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(1);
    expect(decisions.filter((decision) => !decision.allowed)).toHaveLength(9);
    for (const decision of decisions) {
      if (!decision.allowed) expect(decision.retryAfterSeconds).toBe(8);
    }
  });

  it('clears the account counter on a success, but not the network one', async () => {
    const { account, ip } = fresh();
    for (let attempt = 0; attempt < 7; attempt++) await recordFailure(t.sigid, [account, ip], { now: t0 });
    expect((await checkThrottle(t.sigid, [account, ip], { now: t0 })).allowed).toBe(false);
    await recordSuccess(t.sigid, account);
    expect(await checkThrottle(t.sigid, [account, ip], { now: t0 })).toEqual({ allowed: true });
    expect([await failures(account), await failures(ip)]).toEqual([0, 7]);
    await expect(recordSuccess(t.sigid, ip as never)).rejects.toThrow(TypeError);
  });

  it('refuses a network after 50 failures until its 15-minute window ends, then counts afresh', async () => {
    const { ip } = fresh();
    for (let attempt = 0; attempt < 49; attempt++) await recordFailure(t.sigid, [ip], { now: at(attempt) });
    expect(await checkThrottle(t.sigid, [ip], { now: at(49) })).toEqual({ allowed: true });
    await recordFailure(t.sigid, [ip], { now: at(60) });
    // Blocked until the window that opened at t0 ends, whatever account is tried.
    expect(
      await checkThrottle(t.sigid, [accountThrottleKey('acc_someone_else', 'sign_in'), ip], { now: at(60) }),
    ).toEqual({
      allowed: false,
      retryAfterSeconds: 840,
    });
    expect(await checkThrottle(t.sigid, [ip], { now: at(899) })).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(await checkThrottle(t.sigid, [ip], { now: at(900) })).toEqual({ allowed: true });
    await recordFailure(t.sigid, [ip], { now: at(900) });
    expect(await failures(ip)).toBe(1);
  });

  it('forgets an account counter 15 minutes after its last wait ended', async () => {
    const { account } = fresh();
    for (let attempt = 0; attempt < 6; attempt++) await recordFailure(t.sigid, [account], { now: t0 });
    // 6 failures: 2 s to wait, then the counter lives 15 more minutes.
    expect(await checkThrottle(t.sigid, [account], { now: at(1) })).toEqual({ allowed: false, retryAfterSeconds: 1 });
    await recordFailure(t.sigid, [account], { now: at(2 + 899) });
    expect(await failures(account)).toBe(7);
    await recordFailure(t.sigid, [account], { now: at(2 + 899 + 4 + 900) });
    expect(await failures(account)).toBe(1);
    expect(await checkThrottle(t.sigid, [account], { now: at(2 + 899 + 4 + 900) })).toEqual({ allowed: true });
  });

  it('prunes only the counters that count nothing any more', async () => {
    const { account, ip } = fresh();
    await recordFailure(t.sigid, [account, ip], { now: at(100_000) });
    const keep = fresh().account;
    await recordFailure(t.sigid, [keep], { now: at(100_500) });
    // At 100_000 + 900 s both of the first pair have expired; the later one has not.
    await pruneThrottleCounters(t.sigid.db, at(100_900));
    expect([await failures(account), await failures(ip), await failures(keep)]).toEqual([0, 0, 1]);
  });

  it('counts an IPv6 /64 as one network, and an IPv4-mapped address as its IPv4 address', () => {
    expect(clientNetwork('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientNetwork('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(clientNetwork('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientNetwork('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientNetwork('192.0.2.7')).toBe('192.0.2.7');
    expect(ipThrottleKey(t.sigid, '2001:db8:1:2:aaaa::1')).toEqual(ipThrottleKey(t.sigid, '2001:db8:1:2::9'));
    expect(ipThrottleKey(t.sigid, '2001:db8:1:2::1')).not.toEqual(ipThrottleKey(t.sigid, '2001:db8:1:3::1'));
    expect(ipThrottleKey(t.sigid, '::ffff:192.0.2.7')).toEqual(ipThrottleKey(t.sigid, '192.0.2.7'));
    expect(() => clientNetwork('not an address')).toThrow();
  });

  it('blocks a whole /64 once addresses in it have spent its budget', async () => {
    for (let host = 1; host <= 50; host++) {
      await recordFailure(t.sigid, [ipThrottleKey(t.sigid, `2001:db8:77:1::${host.toString(16)}`)], { now: t0 });
    }
    const neighbour = ipThrottleKey(t.sigid, '2001:db8:77:1:ffff:ffff:ffff:ffff');
    expect((await checkThrottle(t.sigid, [neighbour], { now: t0 })).allowed).toBe(false);
    const nextDoor = ipThrottleKey(t.sigid, '2001:db8:77:2::1');
    expect(await checkThrottle(t.sigid, [nextDoor], { now: t0 })).toEqual({ allowed: true });
  });

  it('stores no e-mail or IP address, and keeps each purpose apart', async () => {
    const email = `Ada.${backend.name}@Example.test`;
    const signIn = await emailThrottleKey(t.sigid, email, 'sign_in');
    expect(await emailThrottleKey(t.sigid, ` ${email.toLowerCase()} `, 'sign_in')).toEqual(signIn);
    const reset = await emailThrottleKey(t.sigid, email, 'password_reset');
    const ip = ipThrottleKey(t.sigid, '203.0.113.9');
    await recordFailure(t.sigid, [signIn, reset, ip], { now: t0 });
    const { rows } = await t.sigid.db.query<{ key: string }>('select key from throttle_counters');
    const stored = rows.map((row) => row.key).join(' ');
    expect(stored).not.toMatch(/ada|example|@|203\.0\.113/i);
    expect(reset.key).not.toBe(signIn.key);
    await recordSuccess(t.sigid, signIn);
    expect([await failures(signIn), await failures(reset)]).toEqual([0, 1]);
  });
});

describe('a throttle refusal as an HTTP answer', () => {
  const app = express();
  app.get('/helper', (_request, response) => sendTooManyAttempts(response, 42, '/helper'));
  app.get('/thrown', () => {
    throw new TooManyAttemptsError(120);
  });
  app.use(problemHandler);

  it('is 429 too_many_attempts problem+json with Retry-After, sent or thrown', async () => {
    const sent = await supertest(app).get('/helper').expect(429);
    expect(sent.headers['retry-after']).toBe('42');
    expect(sent.headers['content-type']).toContain('application/problem+json');
    expect(JSON.parse(sent.text)).toMatchObject({
      code: 'too_many_attempts',
      status: 429,
      detail: 'Too many attempts. Try again in 42 seconds.',
      instance: '/helper',
    });
    const thrown = await supertest(app).get('/thrown').expect(429);
    expect(thrown.headers['retry-after']).toBe('120');
    expect(JSON.parse(thrown.text)).toMatchObject({
      code: 'too_many_attempts',
      detail: 'Too many attempts. Try again in 2 minutes.',
    });
  });
});

describe('the hosted sign-in page, throttled', () => {
  let h: HostedSigid;
  beforeAll(async () => {
    h = await startHostedSigid();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('counts each wrong password for the typed address, then answers 429 with the wait and records it as throttled', async () => {
    const tenant = await h.t.createTenant('Throttled');
    const rp = await h.relyingParty(tenant.slug, await h.webApp(tenant.key));
    const browser = h.browser();
    await browser.request((await authorizationUrl(rp)).url);
    const email = `nobody.${Date.now()}@example.test`;
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      await browser.submit('#email', { email, password: 'not the password' });
      statuses.push(browser.page.status);
    }
    expect(statuses).toEqual([400, 400, 400, 400, 400]);
    const key = await emailThrottleKey(h.t.sigid, email, 'sign_in');
    const { rows } = await h.t.sigid.db.query<{ failures: number }>(
      'select failures from throttle_counters where key = $1',
      [key.key],
    );
    expect(rows[0]?.failures).toBe(5);
    // Five more (by the database's clock, as the page judges): the next attempt waits 32 s.
    for (let attempt = 0; attempt < 5; attempt++) await recordFailure(h.t.sigid, [key]);
    await browser.submit('#email', { email, password: 'not the password' });
    expect(browser.page.status).toBe(429);
    expect(browser.text('.error')).toMatch(/^Too many attempts\. Try again in \d+ seconds\.$/);
    const failed = await h.events(tenant.tenantId, ['sign_in.failed']);
    expect(failed.map((event) => event.data.reason).at(-1)).toBe('throttled');
  });
});
