import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountDecider } from '../commands/account.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { findAccount } from '../read-models/accounts.ts';
import {
  accountOfEmail,
  checkPasswordSignIn,
  linkAccount,
  setPassword,
  signUpWithPassword,
} from '../services/accounts.ts';
import { useCase, type Written } from '../services/context.ts';
import { erasePersonalData } from '../services/erasure.ts';
import { verifyPassword } from '../src/crypto/password.ts';
import { specFor } from './support/given-when-then.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const person = { type: 'system', id: 'test' } as const;

describe('account decider', () => {
  const account = specFor(accountDecider);
  const created = {
    type: 'account.created' as const,
    data: { account_id: 'acc_1', email: 'ada@example.com', method: 'password' as const },
  };
  const password = {
    type: 'account.password_set' as const,
    data: { account_id: 'acc_1', password_id: 'pwd_1', reason: 'sign_up' as const },
  };

  it('opens an account with its password once, and links each tenant once under its first sub', () => {
    const create = {
      type: 'create_account' as const,
      account_id: 'acc_1',
      email: 'ada@example.com',
      method: 'password' as const,
      password_id: 'pwd_1',
    };
    account([]).when(create).thenEmits([created, password]);
    account([created, password]).when(create).thenEmits([]);
    account([created, password])
      .when({ ...create, password_id: 'pwd_2' })
      .thenThrows('account_exists');
    const linked = { type: 'account.linked' as const, data: { account_id: 'acc_1', tenant_id: 'ten_a', sub: 'sub_1' } };
    account([created]).when({ type: 'link_tenant', tenant_id: 'ten_a', sub: 'sub_1' }).thenEmits([linked]);
    account([created, linked]).when({ type: 'link_tenant', tenant_id: 'ten_a', sub: 'sub_2' }).thenEmits([]);
  });

  it('refuses everything once erased', () => {
    const erased = { type: 'subject.personal_data.erased' as const, data: { subject_id: 'acc_1' } };
    account([created, password, erased]).when({ type: 'verify_email' }).thenThrows('not_found');
    account([created, password, erased])
      .when({
        type: 'create_account',
        account_id: 'acc_1',
        email: 'x@example.com',
        method: 'password',
        password_id: 'p',
      })
      .thenThrows('account_exists');
  });
});

describe('global accounts, tenant-local subjects', () => {
  let t: TestSigid;
  const context = () => useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: 'test' });
  const settled = (written: Written) =>
    written.position === null ? Promise.resolve(true) : t.sigid.projections.waitFor(written.position);

  beforeAll(async () => {
    t = await startSigid();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function signUp(email: string, password: string): Promise<string> {
    const result = await signUpWithPassword(t.sigid, { email, password }, context());
    if (result.status !== 'created') throw new Error(`${email} exists`);
    await settled(result.written);
    return result.accountId;
  }

  it('signs a person up once per address (however it is written), and signs them in with that password only', async () => {
    const accountId = await signUp('Ada.Lovelace@Example.com ', 'correct horse battery staple');
    expect(await checkPasswordSignIn(t.sigid, 'ada.lovelace@example.com', 'correct horse battery staple')).toBe(
      accountId,
    );
    expect(await checkPasswordSignIn(t.sigid, 'ada.lovelace@example.com', 'wrong horse battery staple')).toBeNull();
    expect(await checkPasswordSignIn(t.sigid, 'nobody@example.com', 'correct horse battery staple')).toBeNull();
    // The same address again, in another case: no second account.
    expect(
      await signUpWithPassword(t.sigid, { email: 'ADA.LOVELACE@example.com', password: 'another password' }, context()),
    ).toEqual({ status: 'exists' });
    expect(await accountOfEmail(t.sigid, 'ada.lovelace@EXAMPLE.com')).toBe(accountId);
    expect(await checkPasswordSignIn(t.sigid, 'ada.lovelace@example.com', 'another password')).toBeNull();
    await expect(
      signUpWithPassword(t.sigid, { email: 'short@example.com', password: 'short' }, context()),
    ).rejects.toThrow(/8 to 256 characters/);
  });

  it('keeps the address sealed and the password out of every event; the hash is argon2id at OWASP parameters', async () => {
    const accountId = await signUp('grace@example.com', 'compilers are fun');
    const { rows } = await t.sigid.db.query<{ data: unknown; stream_name: string; tenant_id: string }>(
      'select data, stream_name, tenant_id from sigid_events',
    );
    const text = JSON.stringify(rows);
    expect(text).not.toContain('grace@example.com');
    expect(text).not.toContain('compilers are fun');
    expect(text).not.toContain('argon2');
    // The address is reserved as a keyed hash, never as itself, in a platform stream.
    expect(rows.some((row) => row.stream_name.includes('grace'))).toBe(false);
    expect(
      rows.filter((row) => row.stream_name === `platform-${accountId}`).every((row) => row.tenant_id === 'platform'),
    ).toBe(true);
    const account = await findAccount(t.sigid.readModels, accountId);
    const hash = (await t.sigid.secrets.get(PLATFORM_TENANT, 'password', account?.password_id as string))?.toString();
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(hash as string, 'compilers are fun')).toBe(true);
    // Decoded, the account's own events show the address.
    const events = await t.sigid.log.readStream(`platform-${accountId}`);
    expect(events[0]).toMatchObject({ type: 'account.created', data: { email: 'grace@example.com' } });
  });

  it('gives each tenant its own random sub for one person, stable for that tenant, and no tenant sees the account', async () => {
    const accountId = await signUp('linked@example.com', 'one person, two tenants');
    const a = await t.createTenant('Tenant A');
    const b = await t.createTenant('Tenant B');
    const atA = await linkAccount(t.sigid, accountId, a.tenantId, context());
    const atB = await linkAccount(t.sigid, accountId, b.tenantId, context());
    await settled(atA.written);
    await settled(atB.written);
    expect(atA.sub).toMatch(/^sub_/);
    expect(atB.sub).not.toBe(atA.sub);
    expect(atA.sub).not.toContain(accountId.slice(4));
    expect((await linkAccount(t.sigid, accountId, a.tenantId, context())).sub).toBe(atA.sub);
    for (const tenant of [a, b]) {
      const audit = await t.http.get('/api/v1/audit-logs').set('Authorization', `Bearer ${tenant.key}`).expect(200);
      expect(JSON.stringify(audit.body)).not.toContain(accountId);
    }
  });

  it('replaces a password: the old one stops, the new one works', async () => {
    const accountId = await signUp('changes@example.com', 'the first password');
    await settled(await setPassword(t.sigid, accountId, 'the second password', 'changed', context()));
    expect(await checkPasswordSignIn(t.sigid, 'changes@example.com', 'the first password')).toBeNull();
    expect(await checkPasswordSignIn(t.sigid, 'changes@example.com', 'the second password')).toBe(accountId);
  });

  it('erased, an account reads as erased in its events and signs in nowhere', async () => {
    const accountId = await signUp('forget-me@example.com', 'please forget me');
    const erased = await erasePersonalData(t.sigid, accountId, {
      tenantId: PLATFORM_TENANT,
      actor: person,
      correlationId: 'erase',
    });
    await t.sigid.projections.waitFor(erased.position);
    const events = await t.sigid.log.readStream(`platform-${accountId}`);
    expect(events[0]).toMatchObject({ type: 'account.created', data: { email: null } });
    expect(await checkPasswordSignIn(t.sigid, 'forget-me@example.com', 'please forget me')).toBeNull();
  });
});
