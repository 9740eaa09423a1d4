import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import pino, { type Logger } from 'pino';
import { catalog as defaultCatalog, type EventCatalog } from '../events/catalog.ts';
import { projections as defaultProjections } from '../projections/index.ts';
import type { Projection } from '../projections/projection.ts';
import type { ReadModels } from '../read-models/database.ts';
import { deliverApprovalsEvery } from '../services/approvals.ts';
import type { Config } from './config.ts';
import { parseMasterKey } from './crypto/aead.ts';
import { SubjectKeys } from './crypto/subject-keys.ts';
import { connectPostgres, type Database, openEmbedded } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { outboxDirOf } from './email/config.ts';
import { EmailWorker } from './email/worker.ts';
import { EventLog } from './event-log.ts';
import type { EventStore } from './event-store/port.ts';
import { PostgresEventStore } from './event-store/postgres.ts';
import { InvitationGrantsWorker } from './invitations/grants-worker.ts';
import { pruneOidcPayloadsEvery } from './oidc/adapter.ts';
import { IssuerPool } from './oidc/issuers.ts';
import { activeTenantBySlug, issuerSources } from './oidc/sources.ts';
import { TokenLog } from './oidc/token-log.ts';
import { resolverAt, type TxtResolver } from './organizations/domains.ts';
import { ProjectionRunner } from './projection-runner.ts';
import { MasterKeyRing } from './secrets/keyring.ts';
import { SealedSecrets } from './secrets/sealed-secrets.ts';
import { pruneThrottleCountersEvery } from './throttle.ts';
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
  /** The sealed-secrets store: API key hashes, webhook signing secrets, and every later kind of secret. */
  secrets: SealedSecrets;
  projections: ProjectionRunner;
  /** The current master key (`secrets.keyring.current`), for keys derived from it. Never logged. */
  masterKey: Buffer;
  /** Webhook delivery: fan-out off the event stream and the dispatcher (run when config.webhooks.worker). */
  webhooks: WebhookWorker;
  /** The token events of every issuer (appended before each token is returned, concurrent ones together). */
  tokens: TokenLog;
  /** The tenants' OIDC issuers at `/t/{slug}`, built on first use and kept in a bounded pool. */
  issuers: IssuerPool;
  /** E-mail: the outbox driven by `email.queued`, sent over SMTP or written as files (run when config.email.worker). */
  email: EmailWorker;
  /** Where organization domains' TXT proofs are looked up: the real DNS unless a test injects a fake. */
  dns: TxtResolver;
  /** Grants what accepted invitations promise when their own request died before it (src/invitations/grants-worker.ts). */
  invitationGrants: InvitationGrantsWorker;
  /** Starts the background workers (projections, webhooks, e-mail, invitation grants, issuer storage and throttle expiry). */
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
  /** The DNS that organization domain proofs are looked up in (a test's fake; the real DNS by default). */
  dns?: TxtResolver;
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
  if (config.databaseUrl) resolveMasterKeys(config);
  const db = config.databaseUrl ? connectPostgres(config.databaseUrl) : await openEmbedded(config.dataDir);
  try {
    if (options.migrate !== false) await migrateToLatest(db);
    const keyring = resolveMasterKeys(config);
    const masterKey = keyring.current.key;
    const secrets = new SealedSecrets(db, keyring);
    // API key hashes a migration moved in bare are sealed once, here (a no-op afterwards).
    if (options.migrate !== false) await secrets.sealMigrated();
    const store = config.eventStoreUrl
      ? await (await import('./event-store/esdb.ts')).connectEventStoreDb(config.eventStoreUrl)
      : await new PostgresEventStore(db).start();
    const subjectKeys = new SubjectKeys(secrets);
    const log = new EventLog(store, options.catalog ?? defaultCatalog, subjectKeys);
    const projections = new ProjectionRunner(db, log, options.projections ?? defaultProjections, { logger });
    const webhooks = new WebhookWorker(db, log, config.webhooks, { secrets, logger });
    const email = new EmailWorker(db, log, { ...config.email, outboxDir: outboxDirOf(config) }, { keyring, logger });
    let started = false;
    let pruning: { stop: () => Promise<void> } | undefined;
    let throttlePruning: { stop: () => Promise<void> } | undefined;
    let approvalDelivery: { stop: () => Promise<void> } | undefined;
    const tokens = new TokenLog(log);
    const sigid: Sigid = {
      config,
      logger,
      db,
      readModels: db.kysely<ReadModels>(),
      store,
      log,
      subjectKeys,
      secrets,
      projections,
      masterKey,
      webhooks,
      tokens,
      // Set right below: the pool's sources read through this very object.
      issuers: undefined as unknown as IssuerPool,
      email,
      dns: options.dns ?? resolverAt(config.dnsServers),
      // Set right below: the worker runs use cases on this very object.
      invitationGrants: undefined as unknown as InvitationGrantsWorker,
      start() {
        if (started) return;
        started = true;
        projections.start();
        sigid.invitationGrants.start();
        if (config.webhooks.worker) webhooks.start();
        pruning = pruneOidcPayloadsEvery(db, { everyMs: 300_000, logger });
        throttlePruning = pruneThrottleCountersEvery(db, { everyMs: 300_000, logger });
        if (config.email.worker) email.start();
        approvalDelivery = deliverApprovalsEvery(sigid, { everyMs: 2000 });
      },
      async close() {
        await sigid.invitationGrants.stop();
        await projections.stop();
        await webhooks.stop();
        await pruning?.stop();
        await throttlePruning?.stop();
        await approvalDelivery?.stop();
        await email.stop();
        await store.close();
        await db.close();
      },
    };
    sigid.invitationGrants = new InvitationGrantsWorker(sigid, { logger });
    sigid.issuers = new IssuerPool({
      db,
      tokens,
      sources: issuerSources(sigid),
      findTenant: (slug) => activeTenantBySlug(sigid, slug),
      publicUrl: () => config.publicUrl,
      masterKeys: [keyring.current.key, ...keyring.previous.map((key) => key.key)],
    });
    return sigid;
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
}

/**
 * The master keys: SIGID_MASTER_KEY seals, SIGID_MASTER_KEY_PREVIOUS is still read. Embedded, a key
 * is made on first start and kept (0600) in the data dir as `master.key`, with `master.key.previous`
 * while a rotation (`sigid master-key rotate`) is under way; with an external database the key must
 * be configured, since losing it loses every secret and all personal data.
 */
export function resolveMasterKeys(config: Config): MasterKeyRing {
  const previous = config.previousMasterKeys.map((key) => parseMasterKey(key, 'SIGID_MASTER_KEY_PREVIOUS'));
  if (config.masterKey) return new MasterKeyRing(parseMasterKey(config.masterKey), previous);
  if (config.databaseUrl) {
    throw new Error(
      'SIGID_MASTER_KEY is required with DATABASE_URL (32 random bytes, base64): `openssl rand -base64 32`',
    );
  }
  if (!config.dataDir) return new MasterKeyRing(randomBytes(32), previous);
  const path = embeddedMasterKeyPath(config.dataDir);
  if (!existsSync(path)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  }
  const previousPath = `${path}.previous`;
  if (existsSync(previousPath)) previous.push(parseMasterKey(readFileSync(previousPath, 'utf8').trim()));
  return new MasterKeyRing(parseMasterKey(readFileSync(path, 'utf8').trim()), previous);
}

/** Where an embedded install keeps its master key. */
export const embeddedMasterKeyPath = (dataDir: string) => join(dataDir, 'master.key');
