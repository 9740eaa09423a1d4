import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '../events/catalog.ts';
import { subjectKeysFor } from '../src/crypto/subject-keys.ts';
import { connectPostgres, type Database } from '../src/db/database.ts';
import { EventLog } from '../src/event-log.ts';
import { PostgresEventStore } from '../src/event-store/postgres.ts';
import { freshPostgres } from './support/databases.ts';

/**
 * How one process announces its appends to the others on PostgreSQL (NOTIFY): at once for the
 * types someone waits for by type (projections, the e-mail intake), within a lazy window for the
 * rest, and never one NOTIFY per append of a stream of such events (token events: a NOTIFY costs the
 * database more than the append). PostgreSQL only: embedded, no other process can listen.
 */
describe('announcing appends to other processes (PostgreSQL)', () => {
  const LAZY_MS = 2000;
  let drop: () => Promise<void>;
  let url: string;
  let writerDb: Database;
  let readerDb: Database;
  let writer: PostgresEventStore;
  let reader: PostgresEventStore;
  let log: EventLog;
  const heard: string[] = [];
  let unlisten: () => Promise<void>;
  const tenantId = 'ten_notify_test';

  beforeAll(async () => {
    let db: Database;
    ({ db, url, drop } = await freshPostgres());
    writerDb = db;
    readerDb = connectPostgres(url);
    writer = await new PostgresEventStore(writerDb, { lazyNotifyMs: LAZY_MS }).start();
    writer.announcePromptly(['tenant.renamed']);
    reader = await new PostgresEventStore(readerDb).start();
    unlisten = await readerDb.listen('sigid_events', (payload) => heard.push(payload));
    log = new EventLog(writer, catalog, subjectKeysFor(writerDb));
  });
  afterAll(async () => {
    await unlisten?.();
    await reader?.close();
    await writer?.close();
    await readerDb?.close();
    await drop?.();
  });

  const context = () => ({ tenantId, actor: { type: 'system' as const, id: 'test' }, correlationId: randomUUID() });
  const keyCreated = (index: number) =>
    log.append(
      `${tenantId}-key_${index}`,
      [{ type: 'api_key.created', data: { key_id: `key_${index}`, name: 'lazy' } }],
      'any',
      context(),
    );

  it('announces a stream of lazy appends a few times, not once each, and within the lazy window', async () => {
    heard.length = 0;
    const woken = reader.waitForAppend(10_000);
    for (let index = 0; index < 20; index++) await keyCreated(index);
    // Nothing yet: no prompt type was appended, and the window (2 s) is far from over.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toEqual([]);
    await woken;
    await expect.poll(() => heard.length, { timeout: LAZY_MS * 2 }).toBeGreaterThan(0);
    expect(heard.length).toBeLessThanOrEqual(2);
    expect(heard[0]?.split(',')).toContain('api_key.created');
  });

  it('announces a prompt type at once, taking the lazy ones waiting with it', async () => {
    // After the previous burst's NOTIFY, nothing is pending.
    await new Promise((resolve) => setTimeout(resolve, 50));
    heard.length = 0;
    await keyCreated(100);
    const typed = reader.waitForAppend(10_000, undefined, ['tenant.renamed']);
    const started = Date.now();
    await log.append(
      `${tenantId}-tenant`,
      [{ type: 'tenant.renamed', data: { name: 'Prompt', previous_name: 'Lazy' } }],
      'any',
      context(),
    );
    await typed;
    await expect.poll(() => heard.length, { timeout: LAZY_MS * 2 }).toBe(1);
    // Well inside the lazy window: the prompt type did not wait for it.
    expect(Date.now() - started).toBeLessThan(LAZY_MS / 2);
    expect(new Set(heard[0]?.split(','))).toEqual(new Set(['api_key.created', 'tenant.renamed']));
  });
});
