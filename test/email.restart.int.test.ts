import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useCase } from '../services/context.ts';
import { queueEmail } from '../services/email.ts';
import { loadEmailConfig } from '../src/email/config.ts';
import { newId } from '../src/ids.ts';
import { postgresReachable } from './support/databases.ts';
import { type ServerProcess, startServerProcess } from './support/server-process.ts';
import { OPERATOR_KEY, startSigid, type TestSigid } from './support/sigid.ts';
import { SmtpPeer } from './support/smtp-peer.ts';

/**
 * The e-mail worker runs in `sigid serve` processes of its own, against PostgreSQL, killed with
 * SIGKILL between sending and recording (a failpoint) and in the middle of retrying; a fresh process
 * carries on from the checkpoint and the outbox. This process only queues (its worker is off).
 */
describe.runIf(postgresReachable)('e-mail worker killed and restarted', () => {
  let t: TestSigid;
  const peer = new SmtpPeer();
  const servers: ServerProcess[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    await peer.start();
    t = await startSigid({ backend: 'postgres', config: { email: { ...loadEmailConfig({}), worker: false } } });
    env = {
      DATABASE_URL: t.sigid.config.databaseUrl as string,
      SIGID_MASTER_KEY: t.sigid.config.masterKey as string,
      SIGID_OPERATOR_KEY: OPERATOR_KEY,
      SIGID_SMTP_URL: peer.url,
      SIGID_EMAIL_FROM: 'Acme ID <id@acme.test>',
      SIGID_EMAIL_RETRY_SCHEDULE: Array.from({ length: 20 }, () => '300ms').join(','),
      SIGID_EMAIL_POLL_MS: '50',
      SIGID_SMTP_TIMEOUT_MS: '3000',
    };
  });
  afterEach(async ({ task }) => {
    for (const server of servers.splice(0)) {
      await server.kill();
      if (task.result?.state === 'fail') console.error(`sigid serve:\n${server.output().slice(-8000)}`);
    }
  });
  afterAll(async () => {
    await t?.close();
    await peer.stop();
  });

  async function start(failpoint?: string): Promise<ServerProcess> {
    const server = await startServerProcess({ ...env, ...(failpoint ? { SIGID_FAILPOINTS: failpoint } : {}) });
    servers.push(server);
    return server;
  }

  function queue(tenantId: string, to: string) {
    return queueEmail(
      t.sigid,
      {
        tenantId,
        subjectId: `usr_${to.split('@')[0]}`,
        to,
        template: 'verify-email',
        params: {},
        link: { url: 'https://id.example.test/verify-email' },
      },
      useCase({ tenantId, actor: { type: 'system', id: 'sign-up' }, correlationId: newId('req') }),
    );
  }

  async function outcomes(tenantId: string, messageId: string) {
    const { rows } = await t.sigid.db.query<{ event_type: string; data: Record<string, unknown> }>(
      `select event_type, data from sigid_events where tenant_id = $1 and stream_name = $2 order by global_position`,
      [tenantId, `${tenantId}-${messageId}`],
    );
    return rows.filter((row) => row.event_type !== 'email.queued');
  }

  async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('sends a message cut off between sending and recording once more, with the same Message-ID, and the others once', async () => {
    peer.answer = () => ({ accept: true });
    const tenant = await t.createTenant('Crash after send');
    const first = await queue(tenant.tenantId, 'first@mail.test');
    const doomed = await start('email.send:after-send');
    expect(await doomed.exited).toBe('SIGKILL');
    // It was handed over, and nothing recorded it.
    expect(peer.to('first@mail.test')).toHaveLength(1);
    expect(await outcomes(tenant.tenantId, first.messageId)).toEqual([]);

    // While no worker runs, mail waits in the stream.
    const second = await queue(tenant.tenantId, 'second@mail.test');
    const third = await queue(tenant.tenantId, 'third@mail.test');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(peer.to('second@mail.test')).toHaveLength(0);

    await start();
    for (const message of [first, second, third]) {
      await until(async () => (await outcomes(tenant.tenantId, message.messageId)).length > 0, message.messageId);
    }
    // The at-least-once window: the one message cut off went twice, as the same message.
    const copies = peer.to('first@mail.test');
    expect(copies).toHaveLength(2);
    expect(copies.map((mail) => mail.messageId)).toEqual([
      `<${first.messageId}@acme.test>`,
      `<${first.messageId}@acme.test>`,
    ]);
    expect(peer.to('second@mail.test')).toHaveLength(1);
    expect(peer.to('third@mail.test')).toHaveLength(1);
    expect(await outcomes(tenant.tenantId, first.messageId)).toMatchObject([
      { event_type: 'email.sent', data: { attempts: 2 } },
    ]);
    for (const message of [second, third]) {
      expect(await outcomes(tenant.tenantId, message.messageId)).toMatchObject([
        { event_type: 'email.sent', data: { attempts: 1 } },
      ]);
    }
  });

  it('carries on a message killed mid-retry: nothing lost, nothing sent twice, its attempts counted across processes', async () => {
    let deferring = true;
    peer.answer = (address) => (deferring && address === 'later@mail.test' ? { code: 451 } : { accept: true });
    const tenant = await t.createTenant('Killed mid-retry');
    const later = await queue(tenant.tenantId, 'later@mail.test');
    const worker = await start();
    await until(() => peer.recipients.filter((address) => address === 'later@mail.test').length >= 2, 'two attempts');
    await worker.kill();
    const triedBefore = peer.recipients.filter((address) => address === 'later@mail.test').length;

    const during = await queue(tenant.tenantId, 'during@mail.test');
    deferring = false;
    await start();
    for (const message of [later, during]) {
      await until(async () => (await outcomes(tenant.tenantId, message.messageId)).length > 0, message.messageId);
    }
    expect(peer.to('later@mail.test')).toHaveLength(1);
    expect(peer.to('during@mail.test')).toHaveLength(1);
    const [sent] = await outcomes(tenant.tenantId, later.messageId);
    expect(sent?.event_type).toBe('email.sent');
    expect(Number(sent?.data.attempts)).toBeGreaterThanOrEqual(triedBefore + 1);
    // Its row leaves the outbox once the outcome is recorded.
    await until(
      async () =>
        (await t.sigid.db.query('select 1 from email_outbox where tenant_id = $1', [tenant.tenantId])).rows.length ===
        0,
      'an empty outbox',
    );
  });
});
