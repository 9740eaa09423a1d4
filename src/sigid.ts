import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import pino, { type Logger } from 'pino';
import { catalog as defaultCatalog, type EventCatalog } from '../events/catalog.ts';
import { projections as defaultProjections } from '../projections/index.ts';
import type { Projection } from '../projections/projection.ts';
import type { ReadModels } from '../read-models/database.ts';
import type { Config } from './config.ts';
import { parseMasterKey } from './crypto/aead.ts';
import { SubjectKeys } from './crypto/subject-keys.ts';
import { connectPostgres, type Database, openEmbedded } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { EventLog } from './event-log.ts';
import type { EventStore } from './event-store/port.ts';
import { PostgresEventStore } from './event-store/postgres.ts';
import { ProjectionRunner } from './projection-runner.ts';
import { WebhookWorker } from './webhooks/worker.ts';

/** Everything a SigID process runs on, wired once: the HTTP app, the CLI and the tests all use it. */
export interface Sigid {
  config: Config;
  logger: Logger;
  db: Database;
  /** The read models, through kysely. */
  readModels: Kysely<ReadModels>;
  store: EventStore;
  log: EventLog;
  subjectKeys: SubjectKeys;
  projections: ProjectionRunner;
  /** Wraps secrets kept at rest (stored idempotent responses, webhook signing secrets). Never logged. */
  masterKey: Buffer;
  /** Webhook delivery: fan-out off the event stream and the dispatcher (run when config.webhooks.worker). */
  webhooks: WebhookWorker;
  /** Starts the background workers (projections). */
  start(): void;
  /** Stops the workers (each finishes its batch and saves its checkpoint), then closes the stores. */
  close(): Promise<void>;
}

export interface SigidOptions {
  logger?: Logger;
  catalog?: EventCatalog;
  projections?: readonly Projection[];
  /** Skip migrations (the CLI's `migrate` runs them itself). */
  migrate?: boolean;
}

export function createLogger(level: Config['logLevel']): Logger {
  return pino({
    level,
    // Belt and braces: credentials are never logged even if a header ends up in a log line.
    redact: ['req.headers.authorization', 'req.headers.cookie', '*.secret', '*.token', '*.api_key'],
  });
}

/**
 * Opens the database (PostgreSQL at DATABASE_URL, else embedded PGlite in the data dir), migrates it,
 * and builds the event store (EventStoreDB at EVENTSTORE_URL, else the same database).
 */
export async function createSigid(config: Config, options: SigidOptions = {}): Promise<Sigid> {
  const logger = options.logger ?? createLogger(config.logLevel);
  // A missing or malformed master key must stop the process before it migrates someone's database.
  if (config.databaseUrl) resolveMasterKey(config);
  const db = config.databaseUrl ? connectPostgres(config.databaseUrl) : await openEmbedded(config.dataDir);
  try {
    if (options.migrate !== false) await migrateToLatest(db);
    const masterKey = resolveMasterKey(config);
    const store = config.eventStoreUrl
      ? await (await import('./event-store/esdb.ts')).connectEventStoreDb(config.eventStoreUrl)
      : await new PostgresEventStore(db).start();
    const subjectKeys = new SubjectKeys(db, masterKey);
    const log = new EventLog(store, options.catalog ?? defaultCatalog, subjectKeys);
    const projections = new ProjectionRunner(db, log, options.projections ?? defaultProjections, { logger });
    const webhooks = new WebhookWorker(db, log, config.webhooks, { masterKey, logger });
    let started = false;
    return {
      config,
      logger,
      db,
      readModels: db.kysely<ReadModels>(),
      store,
      log,
      subjectKeys,
      projections,
      masterKey,
      webhooks,
      start() {
        if (started) return;
        started = true;
        projections.start();
        if (config.webhooks.worker) webhooks.start();
      },
      async close() {
        await projections.stop();
        await webhooks.stop();
        await store.close();
        await db.close();
      },
    };
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
}

/**
 * The key that wraps every subject key. Embedded, one is made on first start and kept (0600) in the
 * data dir; with an external database it must be configured, since losing it loses all personal data.
 */
function resolveMasterKey(config: Config): Buffer {
  if (config.masterKey) return parseMasterKey(config.masterKey);
  if (config.databaseUrl) {
    throw new Error(
      'SIGID_MASTER_KEY is required with DATABASE_URL (32 random bytes, base64): `openssl rand -base64 32`',
    );
  }
  if (!config.dataDir) return randomBytes(32);
  const path = join(config.dataDir, 'master.key');
  if (!existsSync(path)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  }
  return parseMasterKey(readFileSync(path, 'utf8').trim());
}
