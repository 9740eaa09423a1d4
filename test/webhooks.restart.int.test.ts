import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { postgresReachable } from './support/databases.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';
import { WebhookReceiver } from './support/webhook-receiver.ts';

/**
 * The worker runs in a process of its own, against PostgreSQL, and is killed with SIGKILL in the
 * middle of retrying; a new process takes over from the checkpoint and the queue.
 */
describe.runIf(postgresReachable)('webhook worker killed mid-retry and restarted', () => {
  let t: TestSigid;
  let receiver: WebhookReceiver;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    // The API process runs no webhook worker: only the child processes deliver.
    t = await startSigid({
      backend: 'postgres',
      config: { webhooks: { ...loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' }), worker: false } },
    });
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await t?.close();
    await receiver?.close();
  });

  async function startWorker(): Promise<ChildProcess> {
    // The project's own Node 24 (the worker is TypeScript, run directly), whichever node runs vitest.
    const child = spawn('node_modules/.bin/node', ['test/support/webhook-worker.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: t.sigid.config.databaseUrl,
        SIGID_MASTER_KEY: t.sigid.config.masterKey,
        SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1',
        SIGID_WEBHOOK_RETRY_SCHEDULE: '300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms',
        SIGID_WEBHOOK_POLL_MS: '50',
        SIGID_WEBHOOK_TIMEOUT_MS: '2000',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    });
    return child;
  }

  /** Ids in order of first receipt: at least once means a repeat is allowed, a reordering is not. */
  const firstReceipts = (path: string) => [
    ...new Set(receiver.received(path).map((delivery) => String(delivery.data.key_id))),
  ];

  it('loses nothing and keeps each endpoint in order', async () => {
    const tenant = await t.createTenant('Kill and restart');
    let healthy = false;
    const endpoints: Record<string, string> = {};
    for (const [path, answer] of [
      ['/struggling', () => (healthy ? { status: 204 } : { status: 503 })],
      ['/steady', () => ({ status: 204 })],
    ] as const) {
      receiver.route(path, [], answer);
      const created = await t.http
        .post('/api/v1/webhooks')
        .set('Authorization', `Bearer ${tenant.key}`)
        .send({ url: `${receiver.origin}${path}`, event_types: ['api_key.*'] })
        .expect(201);
      receiver.setSecrets(path, [created.body.secret]);
      endpoints[path] = created.body.id;
    }

    const first = await startWorker();
    const before = await t.issueKeys(tenant.key, 5, 'before');
    await receiver.waitFor(() => receiver.requests('/struggling').length >= 2, 15_000, 'a retry in progress');
    await receiver.waitFor(() => firstReceipts('/steady').length === 5, 15_000, 'the steady endpoint');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const requestsAtKill = receiver.requests('/struggling').length;
    expect(receiver.received('/struggling')).toHaveLength(0);

    // While no worker runs, events pile up in the stream only.
    const during = await t.issueKeys(tenant.key, 5, 'during');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.requests('/struggling')).toHaveLength(requestsAtKill);

    healthy = true;
    await startWorker();
    const after = await t.issueKeys(tenant.key, 2, 'after');
    const all = [...before, ...during, ...after];
    await receiver.waitFor(
      () => firstReceipts('/struggling').length === all.length && firstReceipts('/steady').length === all.length,
      20_000,
      'every event at both endpoints',
    );
    expect(firstReceipts('/struggling')).toEqual(all);
    expect(firstReceipts('/steady')).toEqual(all);
    // Every request was verified by the receiver's third-party library.
    expect(receiver.rejected).toEqual([]);
  });
});
