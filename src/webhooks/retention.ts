import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import { build, column, table } from '../db/typed-query.ts';
import { startWorkerLoop } from '../worker-loop.ts';

/** Rows removed per statement, so pruning never holds locks or bloats one transaction for long. */
const PRUNE_BATCH = 5000;

/**
 * Removes the delivery log's messages queued before `olderThan` that are finished (delivered, given
 * up or cancelled, or of a deleted endpoint), with their attempts. A message still pending is
 * kept, however old (an endpoint disabled for months still has its queue). The audit trail is
 * not touched: it is the event stream.
 */
export async function pruneDeliveryLog(db: Database, olderThan: Date): Promise<{ messages: number; attempts: number }> {
  let messages = 0;
  let attempts = 0;
  for (;;) {
    const messagesTable = table('webhook_messages');
    const statement = sql<{ messages: number; attempts: number }>`
      with old as (
        select m.${column('webhook_messages', 'tenant_id')}, m.${column('webhook_messages', 'message_id')}
        from ${messagesTable} m
        left join ${table('webhook_subscriptions')} s
          on s.${column('webhook_subscriptions', 'tenant_id')} = m.tenant_id
         and s.${column('webhook_subscriptions', 'endpoint_id')} = m.${column('webhook_messages', 'endpoint_id')}
        where m.${column('webhook_messages', 'created_at')} < ${olderThan}
          and (m.${column('webhook_messages', 'outcome')} is not null or s.endpoint_id is null
               or m.${column('webhook_messages', 'seq')} <= s.${column('webhook_subscriptions', 'delivered_seq')})
        limit ${PRUNE_BATCH}
      ),
      attempts as (
        delete from ${table('webhook_attempts')} a using old
        where a.${column('webhook_attempts', 'tenant_id')} = old.tenant_id
          and a.${column('webhook_attempts', 'message_id')} = old.message_id
        returning 1
      ),
      messages as (
        delete from ${messagesTable} m using old
        where m.tenant_id = old.tenant_id and m.message_id = old.message_id
        returning 1
      )
      select (select count(*) from messages) as messages, (select count(*) from attempts) as attempts`.compile(build);
    const { rows } = await db.query<{ messages: number; attempts: number }>(
      statement.sql,
      statement.parameters as unknown[],
    );
    const removed = rows[0] ?? { messages: 0, attempts: 0 };
    messages += removed.messages;
    attempts += removed.attempts;
    if (removed.messages < PRUNE_BATCH) return { messages, attempts };
  }
}

/**
 * Prunes the delivery log every `everyMs` (and once soon after it starts), keeping `retentionMs` of
 * it, until stopped. An advisory lock keeps it to one process at a time.
 */
export function pruneDeliveryLogEvery(
  db: Database,
  options: { retentionMs: number; everyMs: number; logger?: Logger | undefined },
): { stop: () => Promise<void> } {
  return startWorkerLoop({
    db,
    lock: 'webhooks:prune',
    startAfterMs: Math.min(options.everyMs, 10_000),
    everyMs: options.everyMs,
    lockRetryMs: options.everyMs,
    restartMs: options.everyMs,
    logger: options.logger,
    describe: { worker: 'webhook delivery-log pruning' },
    async work() {
      const removed = await pruneDeliveryLog(db, new Date(Date.now() - options.retentionMs));
      if (removed.messages > 0) options.logger?.info(removed, 'webhook delivery log pruned');
    },
  });
}
