import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../events/envelope.ts';
import { useCase } from '../services/context.ts';
import { type EmailRequest, queueEmail } from '../services/email.ts';
import { loadEmailConfig } from '../src/email/config.ts';
import { verifyLink } from '../src/email/links.ts';
import { newId } from '../src/ids.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';
import { SmtpPeer } from './support/smtp-peer.ts';

/**
 * SMTP with a real peer (smtp-server on 127.0.0.1), on PGlite: mail arrives; a refusal (5xx) gives a
 * message up at once; a server that defers (4xx), hangs or is down is retried with backoff and the
 * message ends `email.failed`; other tenants' mail goes out meanwhile, and the API never waits.
 */
describe('e-mail over SMTP', () => {
  let t: TestSigid;
  const peer = new SmtpPeer();
  const TIMEOUT_MS = 1500;

  beforeAll(async () => {
    await peer.start();
    t = await startSigid({
      config: {
        publicUrl: 'https://id.example.test',
        email: loadEmailConfig({
          SIGID_SMTP_URL: peer.url,
          SIGID_EMAIL_FROM: 'Acme ID <id@acme.test>',
          // Three attempts, 200 ms apart (±20 %).
          SIGID_EMAIL_RETRY_SCHEDULE: '200ms,200ms',
          SIGID_SMTP_TIMEOUT_MS: String(TIMEOUT_MS),
          SIGID_EMAIL_POLL_MS: '50',
        }),
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await peer.stop();
  });

  function queue(tenantId: string, to: string, overrides: Partial<EmailRequest> = {}) {
    return queueEmail(
      t.sigid,
      {
        tenantId,
        subjectId: `usr_${to.split('@')[0]}`,
        to,
        template: 'verify-email',
        params: {},
        link: { url: 'https://id.example.test/verify-email' },
        ...overrides,
      },
      useCase({ tenantId, actor: { type: 'system', id: 'sign-up' }, correlationId: newId('req') }),
    );
  }

  /** The message's outcome event, once recorded (and the time it was seen). */
  async function outcome(tenantId: string, messageId: string, timeoutMs = 30_000): Promise<RecordedEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const events = await t.sigid.log.readStream(`${tenantId}-${messageId}`);
      const last = events.find((event) => event.type === 'email.sent' || event.type === 'email.failed');
      if (last) return last;
      if (Date.now() > deadline) throw new Error(`no outcome for ${messageId}: ${events.map((e) => e.type)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('hands the message to the SMTP server: it arrives with its Message-ID, both parts and a working link', async () => {
    const tenant = await t.createTenant('Acme');
    const { messageId } = await queue(tenant.tenantId, 'ada@mail.test', { params: { name: 'Ada' } });
    // Sent, within the schedule's three attempts: on a loaded machine a first attempt can outlast the
    // suite's short SMTP timeout (1.5 s) and the retry delivers it (the retries have tests of their own).
    const sent = await outcome(tenant.tenantId, messageId);
    expect(sent).toMatchObject({ type: 'email.sent', data: { transport: 'smtp' } });
    expect((sent.data as { attempts: number }).attempts).toBeLessThanOrEqual(3);
    const [mail] = peer.to('ada@mail.test');
    expect(mail?.messageId).toBe(`<${messageId}@acme.test>`);
    expect(mail?.subject).toBe('Confirm your e-mail address for Acme');
    expect(mail?.text).toContain('Hello Ada,');
    expect(mail?.html).toContain('Confirm e-mail address');
    const token = new URL(/https:\/\/id\.example\.test\/\S+/.exec(mail?.text ?? '')?.[0] ?? 'x:').searchParams.get(
      'token',
    );
    expect(verifyLink(t.sigid.secrets.keyring, token ?? '', 'verify_email')).toMatchObject({
      ok: true,
      link: { linkId: messageId, subject: 'usr_ada' },
    });
  });

  it('gives a message up at once when the server refuses it for good (5xx), while another tenant’s mail goes out', async () => {
    peer.answer = (address) => (address.startsWith('refused') ? { code: 550 } : { accept: true });
    const refusing = await t.createTenant('Refused');
    const other = await t.createTenant('Other');
    const refused = await queue(refusing.tenantId, 'refused@mail.test');
    const fine = await queue(other.tenantId, 'fine@mail.test');
    expect(await outcome(refusing.tenantId, refused.messageId)).toMatchObject({
      type: 'email.failed',
      data: { reason: 'rejected', attempts: 1, smtp_code: 550 },
    });
    expect(await outcome(other.tenantId, fine.messageId)).toMatchObject({ type: 'email.sent' });
    // Refused for good: not tried again.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(peer.recipients.filter((address) => address === 'refused@mail.test')).toHaveLength(1);
    expect(peer.to('fine@mail.test')).toHaveLength(1);
  });

  it('retries a server that keeps deferring (4xx) with backoff, then fails the message; another tenant’s mail goes out meanwhile', async () => {
    // Each attempt for the slow tenant takes 600 ms and is deferred.
    peer.answer = (address) => (address.startsWith('slow') ? { code: 451, delayMs: 600 } : { accept: true });
    const slow = await t.createTenant('Slow');
    const quick = await t.createTenant('Quick');
    const first = await queue(slow.tenantId, 'slow1@mail.test');
    const second = await queue(slow.tenantId, 'slow2@mail.test');
    await until(() => peer.recipients.includes('slow1@mail.test'), 'the slow tenant’s first attempt');
    const quickOne = await queue(quick.tenantId, 'quick@mail.test');
    expect(await outcome(quick.tenantId, quickOne.messageId, 5_000)).toMatchObject({ type: 'email.sent' });
    // The quick tenant's mail went out while the slow tenant's was still being retried.
    expect((await t.sigid.log.readStream(`${slow.tenantId}-${second.messageId}`)).map((e) => e.type)).toEqual([
      'email.queued',
    ]);

    for (const message of [first, second]) {
      expect(await outcome(slow.tenantId, message.messageId)).toMatchObject({
        type: 'email.failed',
        data: { reason: 'unavailable', attempts: 3, smtp_code: 451 },
      });
    }
    const slowAttempts = peer.recipients.filter((address) => address.startsWith('slow'));
    expect(slowAttempts.filter((address) => address === 'slow1@mail.test')).toHaveLength(3);
    expect(slowAttempts.filter((address) => address === 'slow2@mail.test')).toHaveLength(3);
    // In queue order: the first message's first attempt before the second's.
    expect(slowAttempts[0]).toBe('slow1@mail.test');
    // Nothing of them is left in the outbox (each row goes right after its outcome is recorded).
    const left = async () =>
      (await t.sigid.db.query('select 1 from email_outbox where tenant_id = $1', [slow.tenantId])).rows.length;
    const deadline = Date.now() + 5000;
    while ((await left()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await left()).toBe(0);
  });

  it('gives a message up, untried, once its link has expired or its tenant is deleted while it waits for a retry', async () => {
    peer.answer = (address) => (address.startsWith('waiting') ? { code: 451, delayMs: 700 } : { accept: true });
    const tenant = await t.createTenant('Waiting');
    const expiring = await queue(tenant.tenantId, 'waiting-link@mail.test', {
      link: { url: 'https://id.example.test/verify-email', expiresAt: new Date(Date.now() + 1500) },
    });
    // Three attempts of 700 ms each cannot all start before the link expires.
    expect(await outcome(tenant.tenantId, expiring.messageId)).toMatchObject({
      type: 'email.failed',
      data: { reason: 'link_expired' },
    });

    const doomed = await t.createTenant('Deleted meanwhile');
    const orphan = await queue(doomed.tenantId, 'waiting-tenant@mail.test');
    await until(() => peer.recipients.includes('waiting-tenant@mail.test'), 'the first attempt');
    await t.http.delete(`/api/v1/tenants/${doomed.tenantId}`).set('Authorization', t.operator).expect(204);
    expect(await outcome(doomed.tenantId, orphan.messageId)).toMatchObject({
      type: 'email.failed',
      data: { reason: 'tenant_deleted', attempts: 1 },
    });
    expect(peer.recipients.filter((address) => address === 'waiting-tenant@mail.test')).toHaveLength(1);
  });

  it('retries a server that hangs or is down without the API waiting, fails the message, and sends again once it is back', async () => {
    peer.answer = () => ({ accept: true });
    const tenant = await t.createTenant('Outage');
    const hanging = await peer.hang();
    const started = Date.now();
    const stuck = await queue(tenant.tenantId, 'stuck@mail.test');
    await until(() => hanging.connections() > 0, 'an attempt on the hanging server');
    // Queuing is one append: it never waits for the server.
    const during = Date.now();
    const next = await queue(tenant.tenantId, 'next@mail.test');
    expect(Date.now() - during).toBeLessThan(TIMEOUT_MS);
    const failed = await outcome(tenant.tenantId, stuck.messageId);
    expect(failed).toMatchObject({
      type: 'email.failed',
      data: { reason: 'unavailable', attempts: 3, smtp_code: null, error_code: 'ETIMEDOUT' },
    });
    // Each attempt was cut off by the timeout, not left hanging.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * TIMEOUT_MS);
    expect(hanging.connections()).toBeGreaterThanOrEqual(3);

    // Down: connections are refused.
    await peer.stop();
    expect(await outcome(tenant.tenantId, next.messageId)).toMatchObject({
      type: 'email.failed',
      data: { reason: 'unavailable', attempts: 3 },
    });
    const down = await queue(tenant.tenantId, 'down@mail.test');
    const refusedOutcome = await outcome(tenant.tenantId, down.messageId);
    expect(refusedOutcome).toMatchObject({
      type: 'email.failed',
      data: { reason: 'unavailable', attempts: 3, error_code: 'ECONNREFUSED' },
    });

    // Back: mail goes out again.
    await peer.start();
    const back = await queue(tenant.tenantId, 'back@mail.test');
    expect(await outcome(tenant.tenantId, back.messageId)).toMatchObject({ type: 'email.sent' });
    expect(peer.to('back@mail.test')).toHaveLength(1);
    expect(peer.to('stuck@mail.test')).toHaveLength(0);
  });
});
