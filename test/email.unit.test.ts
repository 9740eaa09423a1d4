import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { emailDecider } from '../commands/email.ts';
import { loadEmailConfig } from '../src/email/config.ts';
import { linkUrl, type SignedLink, signLink, verifyLink } from '../src/email/links.ts';
import { EmailRenderer } from '../src/email/templates.ts';
import { MasterKeyRing } from '../src/secrets/keyring.ts';
import { specFor } from './support/given-when-then.ts';

const keyring = new MasterKeyRing(randomBytes(32));
const link = (overrides: Partial<SignedLink> = {}): SignedLink => ({
  linkId: 'eml_01jexample0000000000000000',
  tenantId: 'ten_acme',
  purpose: 'verify_email',
  subject: 'usr_ada',
  expiresAt: new Date(Date.now() + 3600_000),
  ...overrides,
});

describe('signed links', () => {
  it('verify what they were signed with, once made, in a URL-safe token', () => {
    const signed = link();
    const token = signLink(keyring, signed);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const verified = verifyLink(keyring, token, 'verify_email');
    expect(verified).toEqual({
      ok: true,
      link: { ...signed, expiresAt: new Date(Math.floor(signed.expiresAt.getTime() / 1000) * 1000) },
    });
    // The same link gives the same token: the worker makes it again from the event, nothing stores it.
    expect(signLink(keyring, signed)).toBe(token);
    expect(new URL(linkUrl('https://id.example.com/t/acme/verify-email', token)).searchParams.get('token')).toBe(token);
  });

  it('refuse a token for another purpose, an expired one, and anything tampered with or made elsewhere', () => {
    const token = signLink(keyring, link());
    expect(verifyLink(keyring, token, 'reset_password')).toEqual({ ok: false, reason: 'wrong_purpose' });
    const expired = signLink(keyring, link({ expiresAt: new Date(Date.now() - 1000) }));
    expect(verifyLink(keyring, expired, 'verify_email')).toEqual({ ok: false, reason: 'expired' });
    expect(verifyLink(keyring, token, 'verify_email', new Date(Date.now() + 2 * 3600_000))).toEqual({
      ok: false,
      reason: 'expired',
    });

    const [payload, tag] = token.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, s: 'usr_mallory' })).toString('base64url');
    const flipped = `${tag.slice(0, 10)}${tag[10] === 'A' ? 'B' : 'A'}${tag.slice(11)}`;
    const otherKey = signLink(new MasterKeyRing(randomBytes(32)), link());
    for (const bad of [
      `${forged}.${tag}`,
      `${payload}.${flipped}`,
      `${payload}.${tag.slice(0, 42)}`,
      `${payload}${tag}`,
      otherKey,
      '',
      'x'.repeat(5000),
      `${payload}.${tag}.extra`,
    ]) {
      expect(verifyLink(keyring, bad, 'verify_email'), bad.slice(0, 40)).toEqual({ ok: false, reason: 'invalid' });
    }
  });

  it('still verify after a master-key rotation, signed under the previous key', () => {
    const before = signLink(keyring, link());
    const rotated = new MasterKeyRing(randomBytes(32), [keyring.current.key]);
    expect(verifyLink(rotated, before, 'verify_email').ok).toBe(true);
    expect(verifyLink(new MasterKeyRing(randomBytes(32)), before, 'verify_email')).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });
});

describe('e-mail decider', () => {
  const email = specFor(emailDecider);
  const queued = {
    type: 'email.queued' as const,
    data: {
      message_id: 'eml_1',
      subject_id: 'usr_ada',
      template: 'verify-email',
      to: 'ada@example.com',
      params: {},
      link: null,
    },
  };

  it('queues a message once; the same id again is the request retried', () => {
    email([])
      .when({ type: 'queue_email', ...queued.data })
      .thenEmits([queued]);
    email([queued])
      .when({ type: 'queue_email', ...queued.data })
      .thenEmits([]);
  });

  it('records one outcome: a second record, of either kind, changes nothing', () => {
    const sent = {
      type: 'email.sent' as const,
      data: { message_id: 'eml_1', attempts: 2, transport: 'smtp' as const },
    };
    email([queued]).when({ type: 'record_sent', attempts: 2, transport: 'smtp' }).thenEmits([sent]);
    email([queued, sent]).when({ type: 'record_sent', attempts: 3, transport: 'smtp' }).thenEmits([]);
    email([queued, sent])
      .when({ type: 'record_failed', attempts: 3, reason: 'unavailable', smtp_code: null, error_code: null })
      .thenEmits([]);
    email([queued])
      .when({ type: 'record_failed', attempts: 1, reason: 'rejected', smtp_code: 550, error_code: 'EENVELOPE' })
      .thenEmits([
        {
          type: 'email.failed',
          data: { message_id: 'eml_1', attempts: 1, reason: 'rejected', smtp_code: 550, error_code: 'EENVELOPE' },
        },
      ]);
    email([]).when({ type: 'record_sent', attempts: 1, transport: 'file' }).thenThrows('not_found');
  });
});

describe('e-mail templates and settings', () => {
  it('escape the tenant name in HTML and leave the text part plain', () => {
    const rendered = new EmailRenderer().render('reset-password', {
      tenantName: '<b>Acme</b> & "co"',
      params: { name: 'Ada' },
      link: { url: 'https://id.example.com/reset?a=1&token=t0k', expiresAt: new Date('2026-12-03T10:15:00Z') },
    });
    expect(rendered.subject).toBe('Reset your <b>Acme</b> & "co" password');
    expect(rendered.html).toContain('&lt;b&gt;Acme&lt;/b&gt; &amp; &quot;co&quot;');
    expect(rendered.html).not.toContain('<b>Acme</b>');
    expect(rendered.html).toContain('href="https://id.example.com/reset?a=1&amp;token=t0k"');
    expect(rendered.text).toContain('<b>Acme</b> & "co"');
    expect(rendered.text).toContain('https://id.example.com/reset?a=1&token=t0k');
    expect(rendered.text).toContain('3 December 2026 at 10:15 UTC');
  });

  it('refuse a template parameter the template does not declare', () => {
    expect(() =>
      new EmailRenderer().render('sign-in-alert', {
        tenantName: 'Acme',
        params: { time: '2026-12-02T10:15:00Z', token: 'secret' },
        link: null,
      }),
    ).toThrow();
  });

  it('read SMTP and the sender from the environment, refusing what is not an address or an SMTP URL', () => {
    expect(loadEmailConfig({})).toMatchObject({
      smtpUrl: undefined,
      from: 'SigID <no-reply@localhost>',
      fromDomain: 'localhost',
    });
    expect(loadEmailConfig({ SIGID_EMAIL_FROM: 'Acme <id@acme.example>' }).fromDomain).toBe('acme.example');
    expect(() => loadEmailConfig({ SIGID_EMAIL_FROM: 'nobody' })).toThrow(/SIGID_EMAIL_FROM/);
    expect(() => loadEmailConfig({ SIGID_SMTP_URL: 'https://user:hunter2@mail.example' })).toThrow(/SIGID_SMTP_URL/);
    expect(() => loadEmailConfig({ SIGID_SMTP_URL: 'https://user:hunter2@mail.example' })).not.toThrow(/hunter2/);
    // With a database server and no data directory, the files go to a directory of this user's.
    expect(loadEmailConfig({ DATABASE_URL: 'postgres://db/sigid' }).outboxDir).toMatch(/sigid-.*outbox$/);
    expect(loadEmailConfig({ DATABASE_URL: 'postgres://db/sigid', SIGID_DATA_DIR: '/srv/sigid' }).outboxDir).toBe(
      undefined,
    );
  });
});
