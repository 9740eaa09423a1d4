import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { findAccountLink } from '../read-models/account-links.ts';
import { findUser } from '../read-models/users.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { deleteUser } from '../services/users.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { runChild } from './support/crash-child.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { settled } from './support/settled.ts';

/**
 * A tenant's user is made after its account's link (two appends), and deleted in three steps (the
 * tombstone, the unlink, the erasure). A process killed between them (SIGKILL at a named step),
 * then the next sign-in or the retried delete: exactly one user per link, and a deleted user's link
 * ended and personal data erased, each once.
 */
describe.runIf(postgresReachable)('tenant users killed between their steps', { timeout: 120_000 }, () => {
  const masterKey = randomBytes(32).toString('base64');
  let database: { url: string; drop: () => Promise<void> };
  let sigid: Sigid;
  const system = { actor: { type: 'system', id: 'test' } as const, correlationId: 'test' };

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const config = loadConfig({}, { databaseUrl: database.url, masterKey, dataDir: undefined, logLevel: 'silent' });
    sigid = await createSigid(config, { logger: pino({ level: 'silent' }) });
    sigid.start();
  });
  afterAll(async () => {
    await sigid?.close();
    await database?.drop();
  });

  const child = (env: Record<string, string>) =>
    runChild('user-child.ts', {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: masterKey,
      ...env,
    });

  const settle = async () => settled(sigid);

  async function account() {
    const email = `crash-${randomBytes(4).toString('hex')}@example.com`;
    const made = await signUpWithPassword(
      sigid,
      { email, password: 'a password to keep' },
      useCase({ tenantId: PLATFORM_TENANT, ...system }),
    );
    if (made.status !== 'created') throw new Error('sign-up');
    await settle();
    return { email, accountId: made.accountId };
  }

  async function count(type: string, where: string, value: string) {
    const { rows } = await sigid.db.query<{ count: number }>(
      `select count(*)::int as count from sigid_events where event_type = $1 and ${where} = $2`,
      [type, value],
    );
    return rows[0]?.count ?? 0;
  }

  /** The e-mail address of the user's `user.created`, as it reads now (null once erased). */
  async function createdEmail(tenantId: string, sub: string) {
    const history = await sigid.log.readStream(`${tenantId}-${sub}`);
    const created = history.find((event) => event.type === 'user.created');
    if (!created) throw new Error('no user.created');
    return (created.data as { email: string | null }).email;
  }

  it('a link killed before its user is made leaves the link, and the next sign-in makes the user, once', async () => {
    const tenantId = newId('ten');
    const { email, accountId } = await account();
    expect(
      await child({
        SIGID_FAILPOINTS: 'account.link:after-link',
        USER_ACTION: 'link',
        USER_TENANT: tenantId,
        USER_ACCOUNT: accountId,
      }),
    ).toBe('SIGKILL');
    await settle();
    const link = await findAccountLink(sigid.readModels, accountId, tenantId);
    expect(link?.sub).toMatch(/^sub_/);
    const sub = link?.sub as string;
    expect(await findUser(sigid.readModels, tenantId, sub)).toBeUndefined();

    const next = await linkAccount(sigid, accountId, tenantId, useCase({ tenantId, ...system }));
    expect(next.sub).toBe(sub);
    await settle();
    expect(await findUser(sigid.readModels, tenantId, sub)).toMatchObject({ status: 'active', email });
    await linkAccount(sigid, accountId, tenantId, useCase({ tenantId, ...system }));
    expect(await count('user.created', "data->>'sub'", sub)).toBe(1);
  });

  it('a delete killed after its tombstone is finished by the next sign-in, which makes a new sub', async () => {
    const tenantId = newId('ten');
    const { email, accountId } = await account();
    const { sub } = await linkAccount(sigid, accountId, tenantId, useCase({ tenantId, ...system }));
    await settle();
    expect(
      await child({
        SIGID_FAILPOINTS: 'user.delete:after-event',
        USER_ACTION: 'delete',
        USER_TENANT: tenantId,
        USER_SUB: sub,
      }),
    ).toBe('SIGKILL');
    await settle();
    expect(await findUser(sigid.readModels, tenantId, sub)).toMatchObject({ status: 'deleted', email: null });
    expect(await count('account.unlinked', "data->>'sub'", sub)).toBe(0);
    expect(await createdEmail(tenantId, sub)).toBe(email);

    const next = await linkAccount(sigid, accountId, tenantId, useCase({ tenantId, ...system }));
    expect(next.sub).not.toBe(sub);
    await settle();
    expect(await count('account.unlinked', "data->>'sub'", sub)).toBe(1);
    expect(await count('subject.personal_data.erased', "data->>'subject_id'", sub)).toBe(1);
    expect(await createdEmail(tenantId, sub)).toBeNull();
    expect(await findUser(sigid.readModels, tenantId, next.sub)).toMatchObject({ status: 'active', email });
  });

  it('a delete killed after its unlink is finished by its retry: erased once, the link ended once', async () => {
    const tenantId = newId('ten');
    const { email, accountId } = await account();
    const { sub } = await linkAccount(sigid, accountId, tenantId, useCase({ tenantId, ...system }));
    await settle();
    expect(
      await child({
        SIGID_FAILPOINTS: 'user.delete:after-unlink',
        USER_ACTION: 'delete',
        USER_TENANT: tenantId,
        USER_SUB: sub,
      }),
    ).toBe('SIGKILL');
    await settle();
    expect(await count('account.unlinked', "data->>'sub'", sub)).toBe(1);
    expect(await createdEmail(tenantId, sub)).toBe(email);

    await deleteUser(sigid, sub, { tenantId, ...system });
    await deleteUser(sigid, sub, { tenantId, ...system });
    await settle();
    expect(await count('account.unlinked', "data->>'sub'", sub)).toBe(1);
    expect(await count('user.deleted', "data->>'sub'", sub)).toBe(1);
    expect(await count('subject.personal_data.erased', "data->>'subject_id'", sub)).toBe(1);
    expect(await createdEmail(tenantId, sub)).toBeNull();
    expect(await findAccountLink(sigid.readModels, accountId, tenantId)).toBeUndefined();
  });
});
