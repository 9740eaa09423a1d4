#!/usr/bin/env node
import { createWriteStream, existsSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { suspensionReasonSchema, tenantNameSchema } from '../commands/tenant.ts';
import { slugSchema } from '../events/tenant.ts';
import { listTenants, type TenantRow } from '../read-models/tenants.ts';
import { useCase } from '../services/context.ts';
import {
  finishEmbeddedRotation,
  rotateMasterKey,
  sealedValuesByKey,
  stageEmbeddedMasterKey,
} from '../services/master-key.ts';
import { createTenant, resolveTenant, updateTenant } from '../services/tenants.ts';
import { exportAuditLog } from './audit-export/export.ts';
import { loadConfig } from './config.ts';
import { createOperatorKey, hasOperatorKeys } from './credentials.ts';
import { connectPostgres, openEmbedded } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { ProblemError } from './errors.ts';
import { createApp } from './http/app.ts';
import { tenantJson } from './http/tenants.ts';
import { newId } from './ids.ts';
import { createLogger, createSigid, embeddedMasterKeyPath, type Sigid } from './sigid.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const program = new Command('sigid')
  .description('SigID: the identity control plane for people and AI agents')
  .version(version, '-V, --version', 'print the version');

/** The operator the CLI writes as: the audit log shows `operator:cli`. */
const CLI_ACTOR = { type: 'operator', id: 'cli' } as const;

/** Rows as a plain table with aligned columns, for people (`--json` is for scripts). */
function printTable(rows: readonly Record<string, unknown>[], columns: readonly string[]): void {
  const cells = rows.map((row) => columns.map((column) => String(row[column] ?? '')));
  const widths = columns.map((column, index) =>
    Math.max(column.length, ...cells.map((row) => (row[index] ?? '').length)),
  );
  const line = (values: readonly string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(line(columns));
  for (const row of cells) console.log(line(row));
}

/** Runs a write's use case as the CLI operator, then waits until the read models show it. */
async function asOperator<T extends { position: number | null; types?: readonly string[] }>(
  sigid: Sigid,
  write: () => Promise<T>,
): Promise<T> {
  sigid.projections.start(); // for read-your-writes; this short-lived process delivers no webhooks
  const written = await write();
  // By the types written: a server holding the projections wakes those at once, the others sleep on.
  if (written.position !== null) {
    await sigid.projections.waitFor(written.position, 10_000, written.types ? { types: written.types } : {});
  }
  return written;
}

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
      // The bound port, not the configured one: PORT=0 asks the system for a free port.
      const { port } = server.address() as AddressInfo;
      sigid.logger.info(
        { url: `http://${config.host}:${port}`, backend: sigid.store.backend, embedded: !config.databaseUrl },
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
      const context = useCase({ tenantId: '', actor: CLI_ACTOR, correlationId: newId('req') });
      const created = await createTenant(sigid, options, context);
      await asOperator(sigid, async () => created.written);
      console.log(
        JSON.stringify({ tenant_id: created.tenantId, api_key: { id: created.keyId, key: created.token } }, null, 2),
      );
    });
  });
tenants
  .command('list')
  .description('every tenant (deleted ones with --all)')
  .option('--all', 'include deleted tenants')
  .option('--json', 'one JSON object per line, for scripts')
  .action(async (options: { all?: boolean; json?: boolean }) => {
    await withSigid(async (sigid) => {
      const rows: TenantRow[] = [];
      for (let after: string | undefined; ; ) {
        const batch = await listTenants(sigid.readModels, { limit: 500, after, includeDeleted: options.all === true });
        rows.push(...batch);
        if (batch.length < 500) break;
        after = batch[batch.length - 1]?.tenant_id;
      }
      const shown = rows.map((row) => tenantJson(sigid, row));
      if (options.json) for (const tenant of shown) console.log(JSON.stringify(tenant));
      else printTable(shown, ['id', 'slug', 'name', 'status', 'created_at']);
    });
  });
tenants
  .command('get')
  .argument('<tenant>', 'the tenant: its id (ten_…) or its slug')
  .description("one tenant's details, as JSON")
  .action(async (idOrSlug: string) => {
    await withSigid(async (sigid) => {
      console.log(JSON.stringify(tenantJson(sigid, await resolveTenant(sigid, idOrSlug)), null, 2));
    });
  });
for (const [name, status, description] of [
  ['suspend', 'suspended', 'stop every API key of the tenant from working until it is reactivated'],
  ['reactivate', 'active', 'lift a suspension'],
] as const) {
  const command = tenants
    .command(name)
    .argument('<tenant>', 'the tenant: its id (ten_…) or its slug')
    .description(description);
  if (status === 'suspended') {
    command.option('--reason <reason>', 'why (shown in the audit log)', (value) => {
      const parsed = suspensionReasonSchema.safeParse(value);
      if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues.map((issue) => issue.message).join('; '));
      return parsed.data;
    });
  }
  command.action(async (idOrSlug: string, options: { reason?: string }) => {
    await withSigid(async (sigid) => {
      const tenant = await resolveTenant(sigid, idOrSlug);
      const context = useCase({ tenantId: tenant.tenant_id, actor: CLI_ACTOR, correlationId: newId('req') });
      const written = await asOperator(sigid, () =>
        updateTenant(sigid, tenant.tenant_id, { status, suspensionReason: options.reason }, context),
      );
      console.error(
        written.position === null ? `${tenant.slug} is already ${status}` : `${tenant.slug} is now ${status}`,
      );
    });
  });
}

const projections = program.command('projections').description('read-model projections');
projections
  .command('status')
  .description('checkpoint, lag and set-aside events of every projection')
  .option('--json', 'one JSON object per line, for scripts')
  .action(async (options: { json?: boolean }) => {
    await withSigid(async (sigid) => {
      const status = await sigid.projections.status();
      if (options.json) for (const projection of status) console.log(JSON.stringify(projection));
      else {
        printTable(
          status.map((projection) => ({ ...projection, running_here: projection.running_here ? 'yes' : 'no' })),
          ['name', 'version', 'position', 'lag', 'failures', 'running_here'],
        );
      }
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
  .requiredOption('--tenant <tenant>', 'the tenant: its id (ten_…) or its slug')
  .option('--since <time>', 'from this time (inclusive)', date)
  .option('--until <time>', 'up to this time (exclusive)', date)
  .option('--out <file>', 'write here instead of standard output')
  .action(async (options: { tenant: string; since?: Date; until?: Date; out?: string }) => {
    await withSigid(async (sigid) => {
      const tenant = await resolveTenant(sigid, options.tenant);
      const out = options.out ? createWriteStream(options.out) : process.stdout;
      const bar = progressBar('export');
      bar.start(await sigid.store.headPosition(), 0);
      const { records } = await exportAuditLog(
        sigid,
        tenant.tenant_id,
        { since: options.since, until: options.until },
        out,
        {
          onProgress: (position, head) => {
            bar.setTotal(head);
            bar.update(Math.min(position, head));
          },
        },
      );
      bar.stop();
      if (out !== process.stdout) await new Promise<void>((resolve) => out.end(() => resolve()));
      console.error(`${records} records`);
    });
  });

const masterKey = program.command('master-key').description('the master key that seals every secret and subject key');
masterKey
  .command('rotate')
  .description(
    're-wrap every sealed value under the current key (SIGID_MASTER_KEY), reading the old ones with SIGID_MASTER_KEY_PREVIOUS; embedded, make a new key first (stop the server). Resumable',
  )
  .option('--batch-size <n>', 'values per transaction', (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('a positive integer');
    return parsed;
  })
  .action(async (options: { batchSize?: number }) => {
    const config = loadConfig();
    const embeddedKey = !config.masterKey && !config.databaseUrl && config.dataDir;
    const keyPath = embeddedKey ? embeddedMasterKeyPath(config.dataDir as string) : undefined;
    if (keyPath && existsSync(keyPath)) {
      const staged = stageEmbeddedMasterKey(keyPath);
      console.error(staged.made ? `made a new master key ${staged.keyId}` : `resuming the rotation to ${staged.keyId}`);
    }
    await withSigid(async (sigid) => {
      const result = await rotateMasterKey(sigid.secrets, {
        ...(options.batchSize ? { batchSize: options.batchSize } : {}),
        onProgress: (progress) => console.error(`${progress.table}: ${progress.rewrapped} re-wrapped`),
      });
      const left = (await sealedValuesByKey(sigid.readModels)).filter((row) => row.key_id !== result.keyId);
      console.log(JSON.stringify({ key_id: result.keyId, rewrapped: result.rewrapped, left }, null, 2));
      if (left.length > 0) {
        console.error(
          'some values are still under another key: configure that key in SIGID_MASTER_KEY_PREVIOUS and run this again',
        );
        process.exitCode = 1;
      } else if (keyPath) finishEmbeddedRotation(keyPath);
    });
  });
masterKey
  .command('status')
  .description('how many sealed values each table holds under each master key id')
  .action(async () => {
    await withSigid(async (sigid) => {
      console.log(`current key: ${sigid.secrets.keyring.current.id}`);
      console.table(await sealedValuesByKey(sigid.readModels));
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
  // A refusal (unknown tenant, bad input) is the user's to fix: its message, no stack.
  console.error(
    error instanceof ProblemError ? `sigid: ${error.message}` : error instanceof Error ? error.message : error,
  );
  process.exit(1);
});
