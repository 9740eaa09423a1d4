import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AddressObject, simpleParser } from 'mailparser';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../events/envelope.ts';
import { useCase } from '../services/context.ts';
import { checkLink, consumeLink, type EmailRequest, queueEmail } from '../services/email.ts';
import { erasePersonalData } from '../services/erasure.ts';
import { loadEmailConfig } from '../src/email/config.ts';
import { signLink, verifyLink } from '../src/email/links.ts';
import { newId } from '../src/ids.ts';
import { seededRandom } from '../src/random.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

/**
 * The default transport, on PGlite: each queued message becomes an `.eml` file in the outbox
 * directory, read back here with mailparser as a mail reader would; its signed link works once.
 */
describe('e-mail written to the outbox directory', () => {
  const EVIL_NAME = '<script>x</script> & "co"';
  let t: TestSigid;
  let root: string;
  let outbox: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'sigid-email-'));
    outbox = join(root, 'outbox');
    t = await startSigid({
      config: {
        publicUrl: 'https://id.example.test',
        email: {
          ...loadEmailConfig({ SIGID_EMAIL_POLL_MS: '50', SIGID_EMAIL_FROM: 'Acme ID <id@acme.test>' }),
          outboxDir: outbox,
        },
      },
      logger: pino({ level: 'info' }, { write: (line: string) => logLines.push(line) }),
    });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const asSystem = (tenantId: string, random = undefined as ReturnType<typeof seededRandom> | undefined) =>
    useCase({ tenantId, actor: { type: 'system', id: 'sign-up' }, correlationId: newId('req') }, random);

  function queue(tenantId: string, request: Omit<EmailRequest, 'tenantId'>) {
    return queueEmail(t.sigid, { tenantId, ...request }, asSystem(tenantId));
  }

  /** The message's outcome, once the worker has recorded one. */
  async function outcome(tenantId: string, messageId: string): Promise<RecordedEvent> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const events = await t.sigid.log.readStream(`${tenantId}-${messageId}`);
      const last = events.find((event) => event.type === 'email.sent' || event.type === 'email.failed');
      if (last) return last;
      if (Date.now() > deadline) throw new Error(`no outcome for ${messageId}: ${events.map((e) => e.type)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  const fileOf = (messageId: string) => {
    const names = readdirSync(outbox).filter((name) => name.endsWith(`-${messageId}.eml`));
    expect(names).toHaveLength(1);
    return join(outbox, names[0] as string);
  };
  const tokenIn = (text: string) => {
    const url = /https:\/\/id\.example\.test\/[^\s"<]+/.exec(text)?.[0];
    return url ? new URL(url).searchParams.get('token') : null;
  };
  const addresses = (field: AddressObject | AddressObject[] | undefined) =>
    [field ?? []].flat().flatMap((object) => object.value.map((address) => address.address));

  let tenant: Awaited<ReturnType<TestSigid['createTenant']>>;
  let token: string;
  let messageId: string;

  it('writes a verification mail as an .eml file (0600, in a 0700 directory) with both parts and a link that verifies', async () => {
    tenant = await t.createTenant(EVIL_NAME);
    const queued = await queue(tenant.tenantId, {
      subjectId: 'usr_ada',
      to: 'ada@example.com',
      template: 'verify-email',
      params: { name: 'Ada' },
      link: { url: `https://id.example.test/t/${tenant.slug}/verify-email` },
    });
    messageId = queued.messageId;
    expect(queued.linkId).toBe(messageId);
    const sent = await outcome(tenant.tenantId, messageId);
    expect(sent).toMatchObject({
      type: 'email.sent',
      data: { message_id: messageId, attempts: 1, transport: 'file' },
      actor: { type: 'system', id: 'email-worker' },
    });

    const file = fileOf(messageId);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(outbox).mode & 0o777).toBe(0o700);
    const raw = readFileSync(file);
    expect(raw.toString()).toContain('\r\n');
    const mail = await simpleParser(raw);
    expect(addresses(mail.from)).toEqual(['id@acme.test']);
    expect(addresses(mail.to)).toEqual(['ada@example.com']);
    expect(mail.subject).toBe(`Confirm your e-mail address for ${EVIL_NAME}`);
    expect(mail.date).toBeInstanceOf(Date);
    expect(mail.messageId).toBe(`<${messageId}@acme.test>`);
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(mail.text).toContain(`your ${EVIL_NAME} account`);
    expect(mail.text).toContain('Hello Ada,');
    // The HTML escapes the tenant's name: no markup of the tenant's gets through.
    expect(mail.html).toContain('&lt;script&gt;x&lt;/script&gt; &amp; &quot;co&quot;');
    expect(mail.html).not.toContain('<script>');

    // The same link in both parts, and its token is one SigID signed for this subject and purpose.
    token = tokenIn(mail.text ?? '') as string;
    expect(token).toBeTruthy();
    expect(tokenIn(String(mail.html).replaceAll('&amp;', '&'))).toBe(token);
    expect(verifyLink(t.sigid.secrets.keyring, token, 'verify_email')).toMatchObject({
      ok: true,
      link: { linkId: messageId, tenantId: tenant.tenantId, purpose: 'verify_email', subject: 'usr_ada' },
    });
    // The log names the file, never the recipient or the link.
    const line = logLines.map((text) => JSON.parse(text)).find((entry) => entry.msg === 'e-mail written to the outbox');
    expect(line).toMatchObject({ file, message_id: messageId, tenant_id: tenant.tenantId, template: 'verify-email' });
  });

  it('lets a link be used once; a second use, another purpose, an expired or a tampered token are refused', async () => {
    expect(await checkLink(t.sigid, token, 'verify_email', tenant.tenantId)).toMatchObject({ ok: true });
    const seed = randomBytes(32);
    const at = new Date();
    const first = await consumeLink(t.sigid, token, 'verify_email', asSystem(tenant.tenantId, seededRandom(seed, at)));
    expect(first).toMatchObject({ ok: true, link: { subject: 'usr_ada', linkId: messageId } });
    // The same request retried (the same Idempotency-Key, so the same seed) gets the same answer…
    expect(
      await consumeLink(t.sigid, token, 'verify_email', asSystem(tenant.tenantId, seededRandom(seed, at))),
    ).toMatchObject({ ok: true });
    // …and any other use is refused.
    expect(await consumeLink(t.sigid, token, 'verify_email', asSystem(tenant.tenantId))).toEqual({
      ok: false,
      reason: 'used',
    });
    expect(await checkLink(t.sigid, token, 'verify_email', tenant.tenantId)).toEqual({ ok: false, reason: 'used' });

    const fresh = await queue(tenant.tenantId, {
      subjectId: 'usr_ada',
      to: 'ada@example.com',
      template: 'reset-password',
      params: {},
      link: { url: `https://id.example.test/t/${tenant.slug}/reset-password` },
    });
    await outcome(tenant.tenantId, fresh.messageId);
    const reset = tokenIn((await simpleParser(readFileSync(fileOf(fresh.messageId)))).text ?? '') as string;
    expect(await consumeLink(t.sigid, reset, 'verify_email', asSystem(tenant.tenantId))).toEqual({
      ok: false,
      reason: 'wrong_purpose',
    });
    const other = await t.createTenant('Other');
    expect(await consumeLink(t.sigid, reset, 'reset_password', asSystem(other.tenantId))).toEqual({
      ok: false,
      reason: 'invalid',
    });
    const tampered = `${reset.slice(0, -2)}${reset.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await consumeLink(t.sigid, tampered, 'reset_password', asSystem(tenant.tenantId))).toEqual({
      ok: false,
      reason: 'invalid',
    });
    const expired = signLink(t.sigid.secrets.keyring, {
      linkId: newId('eml'),
      tenantId: tenant.tenantId,
      purpose: 'reset_password',
      subject: 'usr_ada',
      expiresAt: new Date(Date.now() - 1000),
    });
    expect(await consumeLink(t.sigid, expired, 'reset_password', asSystem(tenant.tenantId))).toEqual({
      ok: false,
      reason: 'expired',
    });
    // None of the refusals used the link up.
    expect(await consumeLink(t.sigid, reset, 'reset_password', asSystem(tenant.tenantId))).toMatchObject({ ok: true });
  });

  it('keeps the token out of the stored events, the audit log and the logs, and the recipient sealed', async () => {
    // A request carrying a token in its query string logs it redacted.
    await t.http.get(`/api/v1/api-keys?token=${token}`).set('Authorization', `Bearer ${tenant.key}`);
    const { rows } = await t.sigid.db.query<{ event_type: string; data: unknown }>(
      'select event_type, data from sigid_events where tenant_id = $1',
      [tenant.tenantId],
    );
    const stored = JSON.stringify(rows);
    expect(stored).toContain('email.queued');
    expect(stored).not.toContain(token);
    expect(stored).not.toContain(token.split('.')[1]);
    expect(stored).not.toContain('ada@example.com');
    expect(stored).not.toContain('"Ada"');
    const queuedRow = rows.find((row) => row.event_type === 'email.queued')?.data as Record<string, unknown>;
    expect(queuedRow.to).toMatchObject({ $personal: 'usr_ada' });
    expect(queuedRow.link).toMatchObject({ link_id: messageId, purpose: 'verify_email' });

    const audit = await t.http
      .get('/api/v1/audit-logs?limit=200')
      .set('Authorization', `Bearer ${tenant.key}`)
      .expect(200);
    expect(audit.text).not.toContain(token);
    expect(audit.text).not.toContain(token.split('.')[1]);
    const actions = audit.body.data.map((entry: { action: string }) => entry.action);
    expect(actions).toEqual(expect.arrayContaining(['email.queued', 'email.sent', 'reservation.claimed']));
    const exported = await t.http.get('/api/v1/events').set('Authorization', `Bearer ${tenant.key}`).expect(200);
    expect(exported.text).not.toContain(token);

    const logged = logLines.join('\n');
    expect(logged).toContain('[redacted]');
    expect(logged).not.toContain(token);
    expect(logged).not.toContain(token.split('.')[1]);
    expect(logged).not.toContain('ada@example.com');
  });

  it('reads the recipient and the parameters as null once the subject is erased, and sends nothing to an erased subject', async () => {
    await erasePersonalData(t.sigid, 'usr_ada', asSystem(tenant.tenantId));
    const [queued] = await t.sigid.log.readStream(`${tenant.tenantId}-${messageId}`);
    expect(queued?.data).toMatchObject({ message_id: messageId, to: null, params: null, template: 'verify-email' });
    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${messageId}`)
      .set('Authorization', `Bearer ${tenant.key}`)
      .expect(200);
    expect(audit.text).not.toContain('ada@example.com');
    expect(audit.body.data.find((entry: { action: string }) => entry.action === 'email.queued').data.to).toBeNull();

    const late = await queue(tenant.tenantId, {
      subjectId: 'usr_ada',
      to: 'ada@example.com',
      template: 'sign-in-alert',
      params: { time: new Date().toISOString(), ip: '203.0.113.7' },
    });
    expect(await outcome(tenant.tenantId, late.messageId)).toMatchObject({
      type: 'email.failed',
      data: { reason: 'recipient_erased', attempts: 0 },
    });
    expect(readdirSync(outbox).filter((name) => name.includes(late.messageId))).toEqual([]);
  });

  it('refuses bad input with a 400 and writes nothing', async () => {
    const before = (await t.sigid.db.query('select count(*)::int as n from sigid_events')).rows[0];
    const base = {
      subjectId: 'usr_bob',
      to: 'bob@example.com',
      template: 'verify-email' as const,
      params: {},
      link: { url: 'https://id.example.test/verify' },
    };
    const refused: Array<Omit<EmailRequest, 'tenantId'>> = [
      { ...base, to: 'bob@example.com, eve@example.com' },
      { ...base, to: 'not an address' },
      { ...base, link: undefined },
      { ...base, link: { url: 'javascript:alert(1)' } },
      { ...base, link: { url: 'https://id.example.test/verify?token=mine' } },
      { ...base, link: { url: 'https://id.example.test/verify', expiresAt: new Date(Date.now() - 1) } },
      { ...base, params: { token: 'secret' } },
      { ...base, template: 'sign-in-alert' as const, params: { time: 'yesterday' }, link: undefined },
      { ...base, template: 'no-such-template' as never },
    ];
    for (const bad of refused) {
      await expect(queue(tenant.tenantId, bad), JSON.stringify(bad)).rejects.toMatchObject({
        status: 400,
        code: 'invalid_request',
      });
    }
    expect((await t.sigid.db.query('select count(*)::int as n from sigid_events')).rows[0]).toEqual(before);
  });

  it('queues a message once when the same request is retried', async () => {
    const seed = randomBytes(32);
    const at = new Date();
    const request = {
      tenantId: tenant.tenantId,
      subjectId: 'usr_carol',
      to: 'carol@example.com',
      template: 'sign-in-alert' as const,
      params: { time: at.toISOString() },
    };
    const first = await queueEmail(t.sigid, request, asSystem(tenant.tenantId, seededRandom(seed, at)));
    const again = await queueEmail(t.sigid, request, asSystem(tenant.tenantId, seededRandom(seed, at)));
    expect(again.messageId).toBe(first.messageId);
    expect(again.written.position).toBeNull();
    await outcome(tenant.tenantId, first.messageId);
    const events = await t.sigid.log.readStream(`${tenant.tenantId}-${first.messageId}`);
    expect(events.map((event) => event.type)).toEqual(['email.queued', 'email.sent']);
  });
});
