import { randomUUID } from 'node:crypto';
import { Migrator } from 'kysely/migration';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../migrations/index.ts';
import type { ReadModels } from '../read-models/database.ts';
import { listWebhookMessages } from '../read-models/webhook-messages.ts';
import { connectPostgres, type Database, openEmbedded } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { pruneDeliveryLog } from '../src/webhooks/retention.ts';
import { backends, createPostgresDatabase } from './support/databases.ts';

/**
 * The webhook queue as an append-only log per endpoint read through a cursor: what the migration
 * makes of queues written before it, and the ordering its writers keep.
 */

describe.each(backends)('the queue-cursor migration ($name)', (backend) => {
  let db: Database;
  let drop: () => Promise<void>;

  // Not migrated: the test migrates up to just before the change itself.
  beforeAll(async () => {
    if (backend.name === 'postgres') {
      const database = await createPostgresDatabase();
      db = connectPostgres(database.url);
      drop = async () => {
        await db.close();
        await database.drop();
      };
    } else {
      db = await openEmbedded(undefined);
      drop = () => db.close();
    }
  });
  afterAll(() => drop());

  it('keeps every message status, attempt count and pending retry of queues written before it', async () => {
    const migrator = new Migrator({ db: db.kysely<unknown>(), provider: { getMigrations: async () => migrations } });
    const before = await migrator.migrateTo('2026_11_23_1900_webhooks');
    expect(before.error).toBeUndefined();

    const tenant = 'ten_migration';
    const retryAt = new Date(Date.now() + 3_600_000);
    await db.query(
      `insert into webhook_subscriptions (tenant_id, endpoint_id, url, event_types, enabled)
       values ($1, 'whk_live', 'https://example.com/hook', '["*"]', true)`,
      [tenant],
    );
    // whk_live: delivered, given up, being retried (2 attempts so far), waiting behind it.
    // whk_gone: deleted before the migration (no subscription row): one delivered, one cancelled.
    const rows: Array<[string, string, string, number, Date]> = [
      ['msg_delivered', 'whk_live', 'delivered', 1, new Date()],
      ['msg_failed', 'whk_live', 'failed', 7, new Date()],
      ['msg_retrying', 'whk_live', 'pending', 2, retryAt],
      ['msg_waiting', 'whk_live', 'pending', 0, new Date()],
      ['msg_old_delivered', 'whk_gone', 'delivered', 1, new Date()],
      ['msg_old_cancelled', 'whk_gone', 'cancelled', 0, new Date()],
    ];
    for (const [messageId, endpointId, status, attempts, nextAttemptAt] of rows) {
      await db.query(
        `insert into webhook_messages (tenant_id, message_id, endpoint_id, event_id, event_position, event_type,
                                       origin, status, attempts, next_attempt_at)
         values ($1, $2, $3, $4, 1, 'api_key.created', 'stream', $5, $6, $7)`,
        [tenant, messageId, endpointId, randomUUID(), status, attempts, nextAttemptAt],
      );
      for (let attempt = 1; attempt <= attempts; attempt++) {
        await db.query(
          `insert into webhook_attempts (tenant_id, message_id, attempt, endpoint_id, attempted_at, outcome,
                                         response_status, latency_ms, next_attempt_at)
           values ($1, $2, $3, $4, now(), $5, $6, 3, $7)`,
          [
            tenant,
            messageId,
            attempt,
            endpointId,
            status === 'delivered' ? 'succeeded' : 'failed',
            status === 'delivered' ? 200 : 503,
            status === 'pending' ? retryAt : null,
          ],
        );
      }
    }

    await migrateToLatest(db);

    const statuses = async (endpointId: string) =>
      Object.fromEntries(
        (await listWebhookMessages(db.kysely<ReadModels>(), tenant, endpointId, { limit: 10 })).map((message) => [
          message.message_id,
          {
            status: message.status,
            attempts: message.attempts,
            next_attempt_at: message.next_attempt_at?.toISOString() ?? null,
          },
        ]),
      );
    expect(await statuses('whk_live')).toEqual({
      msg_delivered: { status: 'delivered', attempts: 1, next_attempt_at: null },
      msg_failed: { status: 'failed', attempts: 7, next_attempt_at: null },
      msg_retrying: { status: 'pending', attempts: 2, next_attempt_at: retryAt.toISOString() },
      msg_waiting: { status: 'pending', attempts: 0, next_attempt_at: null },
    });
    expect(await statuses('whk_gone')).toEqual({
      msg_old_delivered: { status: 'delivered', attempts: 1, next_attempt_at: null },
      msg_old_cancelled: { status: 'cancelled', attempts: 0, next_attempt_at: null },
    });
    // The dispatcher goes on with the retried message, its two attempts counted.
    const { rows: cursor } = await db.query<{ head_attempts: number; next_attempt_at: Date }>(
      `select head_attempts, next_attempt_at from webhook_subscriptions where endpoint_id = 'whk_live'`,
    );
    expect(cursor[0]).toEqual({ head_attempts: 2, next_attempt_at: retryAt });
    const pending = await listWebhookMessages(db.kysely<ReadModels>(), tenant, 'whk_live', {
      limit: 10,
      status: 'pending',
    });
    expect(pending.map((message) => message.message_id)).toEqual(['msg_waiting', 'msg_retrying']);
  });
});

describe.each(backends)('pruning the delivery log ($name)', (backend) => {
  let opened: Awaited<ReturnType<typeof backend.open>>;
  beforeAll(async () => {
    opened = await backend.open();
  });
  afterAll(() => opened.drop());

  it('removes finished messages older than the retention with their attempts, and keeps pending and recent ones', async () => {
    const { db } = opened;
    const tenant = 'ten_retention';
    const day = 24 * 3600 * 1000;
    const old = new Date(Date.now() - 40 * day);
    await db.query(
      `insert into webhook_subscriptions (tenant_id, endpoint_id, url, event_types, enabled)
       values ($1, 'whk_kept', 'https://example.com/hook', '["*"]', false)`,
      [tenant],
    );
    // whk_kept: two old messages delivered, one old given up, one old still pending (the endpoint is
    // disabled), one recent delivered. whk_deleted: its subscription is gone; one old message.
    const messages: Array<[string, string, Date, string | null]> = [
      ['msg_old_1', 'whk_kept', old, null],
      ['msg_old_2', 'whk_kept', old, null],
      ['msg_old_failed', 'whk_kept', old, 'failed'],
      ['msg_old_pending', 'whk_kept', old, null],
      ['msg_recent', 'whk_kept', new Date(), null],
      ['msg_old_deleted', 'whk_deleted', old, 'cancelled'],
    ];
    const seqs = new Map<string, number>();
    for (const [messageId, endpointId, createdAt, outcome] of messages) {
      const { rows } = await db.query<{ seq: number }>(
        `insert into webhook_messages (tenant_id, message_id, endpoint_id, event_id, event_position, event_type,
                                       origin, outcome, created_at)
         values ($1, $2, $3, $4, 1, 'api_key.created', 'stream', $5, $6) returning seq`,
        [tenant, messageId, endpointId, randomUUID(), outcome, createdAt],
      );
      seqs.set(messageId, rows[0]?.seq ?? 0);
      await db.query(
        `insert into webhook_attempts (tenant_id, message_id, attempt, endpoint_id, attempted_at, outcome, latency_ms)
         values ($1, $2, 1, $3, $4, 'failed', 5)`,
        [tenant, messageId, endpointId, createdAt],
      );
    }
    // The cursor is past the given-up one: the old pending one and the recent one are still queued.
    await db.query(`update webhook_subscriptions set delivered_seq = $1 where endpoint_id = 'whk_kept'`, [
      seqs.get('msg_old_failed'),
    ]);

    const removed = await pruneDeliveryLog(db, new Date(Date.now() - 30 * day));
    expect(removed).toEqual({ messages: 4, attempts: 4 });
    const { rows: left } = await db.query<{ message_id: string; attempts: number }>(
      `select m.message_id, (select count(*)::int from webhook_attempts a where a.message_id = m.message_id) as attempts
       from webhook_messages m where m.tenant_id = $1 order by m.seq`,
      [tenant],
    );
    expect(left).toEqual([
      { message_id: 'msg_old_pending', attempts: 1 },
      { message_id: 'msg_recent', attempts: 1 },
    ]);
    expect(await pruneDeliveryLog(db, new Date(Date.now() - 30 * day))).toEqual({ messages: 0, attempts: 0 });
  });
});

describe.each(backends)('the one-checkpoint-table migration ($name)', (backend) => {
  it('moves the webhook fan-out checkpoint into projection_checkpoints and drops the old table', async () => {
    const { db, drop } = await (backend.name === 'postgres'
      ? createPostgresDatabase().then((database) => {
          const opened = connectPostgres(database.url);
          return {
            db: opened,
            drop: async () => {
              await opened.close();
              await database.drop();
            },
          };
        })
      : openEmbedded(undefined).then((opened) => ({ db: opened, drop: () => opened.close() })));
    try {
      const migrator = new Migrator({ db: db.kysely<unknown>(), provider: { getMigrations: async () => migrations } });
      expect((await migrator.migrateTo('2026_11_24_0002_webhook_retention')).error).toBeUndefined();
      await db.query("insert into webhook_checkpoints (name, position) values ('fanout', 4242)");
      await migrateToLatest(db);
      const { rows } = await db.query<{ name: string; version: number; position: number }>(
        'select name, version, position from projection_checkpoints',
      );
      expect(rows).toEqual([{ name: 'webhook_fanout', version: 1, position: 4242 }]);
      const { rows: tables } = await db.query("select 1 from pg_tables where tablename = 'webhook_checkpoints'");
      expect(tables).toEqual([]);
    } finally {
      await drop();
    }
  });
});
