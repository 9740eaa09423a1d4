#!/usr/bin/env node
import { once } from 'node:events';
import { createWriteStream, existsSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { tenantNameSchema } from '../commands/tenant.ts';
import { slugSchema } from '../events/tenant.ts';
import { auditRecord, walkTenantEvents } from './audit.ts';
import { loadConfig } from './config.ts';
import { createOperatorKey, hasOperatorKeys } from './credentials.ts';
import { connectPostgres, openEmbedded } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { createApp } from './http/app.ts';
import { newId } from './ids.ts';
import { provisionTenant } from './provision-tenant.ts';
import { createLogger, createSigid, type Sigid } from './sigid.ts';

const program = new Command('sigid').description('SigID: the identity control plane for people and AI agents');

function progressBar(label: string): SingleBar {
  return new SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total}`,
    stream: process.stderr,
    hideCursor: true,
    noTTYOutput: false,
    notTTYSchedule: 2000,
  });
}

async function withSigid<T>(work: (sigid: Sigid) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const sigid = await createSigid(config, {
    logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel),
  });
  try {
    return await work(sigid);
  } finally {
    await sigid.close();
  }
}

function date(value: string): Date {
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) throw new InvalidArgumentError('expected an ISO 8601 date or time');
  return parsed;
}

program
  .command('serve')
  .description('migrate, then serve the API and run the projections')
  .action(async () => {
    const config = loadConfig();
    const sigid = await createSigid(config);
    await bootstrapOperatorKey(sigid);
    sigid.start();
    const server: Server = createApp(sigid).listen(config.port, config.host, () => {
      sigid.logger.info(
        { url: `http://${config.host}:${config.port}`, backend: sigid.store.backend, embedded: !config.databaseUrl },
        'SigID is serving',
      );
    });
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      sigid.logger.info({ signal }, 'shutting down: finishing in-flight requests');
      const forced = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      clearTimeout(forced);
      await sigid.close();
      sigid.logger.info('stopped; checkpoints saved');
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });

program
  .command('migrate')
  .description('bring the database schema to the latest version')
  .action(async () => {
    const config = loadConfig();
    const db = config.databaseUrl ? connectPostgres(config.databaseUrl) : await openEmbedded(config.dataDir);
    try {
      const applied = await migrateToLatest(db);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'the schema is up to date');
    } finally {
      await db.close();
    }
  });

program
  .command('operator-key')
  .description('platform operator keys')
  .command('create')
  .description('make a new operator key and print it (shown once)')
  .action(async () => {
    await withSigid(async (sigid) => {
      const { keyId, token } = await createOperatorKey(sigid.db);
      console.error(`operator key ${keyId} (store it now; it is not shown again):`);
      console.log(token);
    });
  });

const tenants = program.command('tenants').description('tenants');
tenants
  .command('create')
  .description('create a tenant and print its first admin API key (shown once)')
  .requiredOption('--name <name>', 'display name', (value) => {
    const parsed = tenantNameSchema.safeParse(value);
    if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues.map((issue) => issue.message).join('; '));
    return parsed.data;
  })
  .requiredOption('--slug <slug>', 'unique, permanent slug (part of the OIDC issuer)', (value) => {
    const parsed = slugSchema.safeParse(value);
    if (!parsed.success) throw new InvalidArgumentError('lowercase letters, digits and inner hyphens, 3 to 40');
    return value;
  })
  .action(async (options: { name: string; slug: string }) => {
    await withSigid(async (sigid) => {
      sigid.projections.start(); // for read-your-writes; this short-lived process delivers no webhooks
      const created = await provisionTenant(sigid, options, { type: 'operator', id: 'cli' }, newId('req'));
      if (created.position !== null) await sigid.projections.waitFor(created.position);
      console.log(
        JSON.stringify({ tenant_id: created.tenantId, api_key: { id: created.keyId, key: created.token } }, null, 2),
      );
    });
  });

const projections = program.command('projections').description('read-model projections');
projections
  .command('status')
  .description('checkpoint, lag and set-aside events of every projection')
  .action(async () => {
    await withSigid(async (sigid) => {
      console.table(await sigid.projections.status());
    });
  });
projections
  .command('rebuild')
  .argument('[name]', 'one projection (default: all)')
  .description('empty a projection and replay every event into it')
  .action(async (name: string | undefined) => {
    await withSigid(async (sigid) => {
      const names = name ? [name] : sigid.projections.projections.map((projection) => projection.name);
      let replayedElsewhere = false;
      for (const projectionName of names) {
        // A running SigID process holds the projection: empty it here, and that process replays it.
        const probe = await sigid.db.tryLock(`projection:${projectionName}`);
        await probe?.();
        await sigid.projections.rebuild(projectionName);
        if (!probe) {
          console.error(`${projectionName}: emptied; the running SigID process is replaying it`);
          replayedElsewhere = true;
          continue;
        }
        const bar = progressBar(projectionName.padEnd(12));
        bar.start(await sigid.store.headPosition(), 0);
        await sigid.projections.catchUp(projectionName, (position, head) => {
          bar.setTotal(head);
          bar.update(Math.min(position, head));
        });
        bar.stop();
      }
      if (replayedElsewhere)
        await sigid.projections.waitFor(await sigid.store.headPosition(), Number.POSITIVE_INFINITY);
    });
  });

const audit = program.command('audit').description('the audit log');
audit
  .command('export')
  .description("write a tenant's audit log as NDJSON")
  .requiredOption('--tenant <tenant_id>', 'the tenant')
  .option('--since <time>', 'from this time (inclusive)', date)
  .option('--until <time>', 'up to this time (exclusive)', date)
  .option('--out <file>', 'write here instead of standard output')
  .action(async (options: { tenant: string; since?: Date; until?: Date; out?: string }) => {
    await withSigid(async (sigid) => {
      const out = options.out ? createWriteStream(options.out) : process.stdout;
      const bar = progressBar('export');
      const head = await sigid.store.headPosition();
      bar.start(head, 0);
      let count = 0;
      for await (const events of walkTenantEvents(sigid.log, options.tenant, {
        since: options.since,
        until: options.until,
      })) {
        const chunk = events.map((event) => JSON.stringify(auditRecord(event))).join('\n');
        if (!out.write(`${chunk}\n`)) await once(out, 'drain');
        count += events.length;
        bar.update((events[events.length - 1]?.position ?? 0) as number);
      }
      bar.update(head);
      bar.stop();
      if (out !== process.stdout) await new Promise<void>((resolve) => out.end(() => resolve()));
      console.error(`${count} records`);
    });
  });

/**
 * On a first embedded start with no operator key configured, make one and keep it in the data dir
 * (0600) so the README's quick start works; its path, never the key, goes to the log.
 */
async function bootstrapOperatorKey(sigid: Sigid): Promise<void> {
  const { config } = sigid;
  if (config.operatorKey || config.databaseUrl || !config.dataDir) return;
  const path = join(config.dataDir, 'operator.key');
  if (existsSync(path) || (await hasOperatorKeys(sigid.db))) return;
  const { token } = await createOperatorKey(sigid.db);
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  sigid.logger.info({ path }, 'made a platform operator key for this embedded install; it is in this file');
}

await program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
