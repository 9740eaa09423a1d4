import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { type AddressInfo, createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { migrations } from '../migrations/index.ts';
import { parseKey } from '../src/credentials.ts';
import { connectPostgres } from '../src/db/database.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';

/**
 * The `sigid` CLI as a user runs it: real child processes of `node src/cli.ts …` on the project's
 * Node 24, configured only through environment variables, judged by what they print, the files they
 * write, their exit codes and what their HTTP server answers.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const CLI = join(ROOT, 'src', 'cli.ts');

const OP_KEY = /^sigid_op_[0-9a-z]{26}_[A-Za-z0-9_-]{43}$/;
const SK_KEY = /^sigid_sk_[0-9a-z]{26}_[A-Za-z0-9_-]{43}$/;

/** Every child this file starts; any still running at the end is killed (by its own pid). */
const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

/** The test runner's environment without any SigID setting, plus `settings`. */
function cliEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        !name.startsWith('SIGID_') &&
        !['DATABASE_URL', 'EVENTSTORE_URL', 'PORT', 'HOST', 'PUBLIC_URL', 'LOG_LEVEL'].includes(name),
    ),
  );
  return { ...inherited, ...settings };
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function spawnCli(args: string[], settings: Record<string, string>): ChildProcess {
  const child = spawn(NODE, [CLI, ...args], { cwd: ROOT, env: cliEnv(settings), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to its end. */
async function runCli(args: string[], settings: Record<string, string>): Promise<CliResult> {
  const child = spawnCli(args, settings);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

interface LogLine {
  msg?: string;
  level?: number;
  [field: string]: unknown;
}

/** A running `sigid serve`. */
class Served {
  stdout = '';
  stderr = '';
  readonly logs: LogLine[] = [];
  readonly exited: Promise<number | null>;
  readonly #waiters = new Set<() => void>();

  readonly child: ChildProcess;
  /** The port it bound, read from its "SigID is serving" line. */
  port = 0;

  constructor(child: ChildProcess) {
    this.child = child;
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // Not a log line.
        }
      }
      this.#notify();
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      child.once('close', (code: number | null) => {
        this.#notify();
        resolve(code);
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get output(): string {
    return this.stdout + this.stderr;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  #notify() {
    for (const waiter of this.#waiters) waiter();
  }

  /** Resolves with the first log line whose `msg` is `msg`; rejects if the process ends first. */
  async waitForLog(msg: string, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.logs.find((line) => line.msg === msg);
      if (found) return found;
      if (!this.running) throw new Error(`serve exited before logging "${msg}":\n${this.output}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`serve did not log "${msg}" in ${timeoutMs} ms:\n${this.output}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 200));
        this.#waiters.add(done);
      });
    }
  }

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }
}

/**
 * Starts `sigid serve` on a port the system picks (PORT=0: no other process can take it between
 * choosing and binding) and resolves once it says it is serving, and where.
 */
async function serve(settings: Record<string, string>): Promise<Served> {
  const served = new Served(spawnCli(['serve'], { ...settings, PORT: '0' }));
  try {
    // PGlite's first start compiles its WASM: seconds on a quiet machine, far more on a busy one.
    const serving = await served.waitForLog('SigID is serving', 90_000);
    served.port = Number(new URL(String(serving.url)).port);
  } catch (error) {
    served.child.kill('SIGKILL');
    await served.exited;
    throw error;
  }
  return served;
}

async function api(served: Served, path: string, init: { key?: string; method?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${served.url}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/** Whether a new TCP connection to `port` is refused. */
async function connectionRefused(port: number): Promise<boolean> {
  const socket = netConnect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  } finally {
    socket.destroy();
  }
}

const uniqueSlug = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

interface AuditEntry {
  action: string;
  tenant_id: string;
  target: { type: string; id: string };
  actor: { type: string; id: string };
}

/**
 * The embedded and the PostgreSQL suites share nothing, so they run side by side (`concurrent`);
 * within each, a test builds on the one before, so `step`s run one after another, in order.
 */
const step = (name: string, fn: () => Promise<void>) => test(name, { concurrent: false, timeout: 120_000 }, fn);

describe('sigid serve, embedded (PGlite in SIGID_DATA_DIR)', { concurrent: true }, () => {
  let dataDir: string;
  let first: Served;
  let operatorKey: string;
  const tenants: Array<{ id: string; slug: string; key: string; keyId: string }> = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sigid-cli-e2e-'));
    tempDirs.push(dataDir);
  });

  afterAll(async () => {
    await first?.stop();
  });

  step('first start migrates and serves; it writes operator.key (0600) and never logs a key', async () => {
    first = await serve({ SIGID_DATA_DIR: dataDir });

    const keyFile = join(dataDir, 'operator.key');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    operatorKey = (await readFile(keyFile, 'utf8')).trim();
    expect(operatorKey).toMatch(OP_KEY);
    // The log names the file, not the key.
    expect(first.logs.find((line) => line.path === keyFile)?.msg).toMatch(/operator key/);
    expect(first.port).toBeGreaterThan(0);
    expect(first.logs.find((line) => line.msg === 'SigID is serving')).toMatchObject({
      url: `http://127.0.0.1:${first.port}`,
      backend: 'pglite',
      embedded: true,
    });

    const health = await fetch(`${first.url}/healthz`, { headers: { 'x-request-id': 'e2e-health-1' } });
    expect(health.status).toBe(200);
    expect(health.headers.get('x-request-id')).toBe('e2e-health-1');
    expect(await health.json()).toEqual({ status: 'ok' });

    const ready = await api(first, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.headers.get('x-request-id')).toMatch(/^req_/);
    expect(ready.body).toEqual({
      status: 'ready',
      checks: { database: { ok: true }, event_store: { ok: true }, projections: { ok: true, lag: 0 } },
    });

    expect((await api(first, '/api/v1/tenants')).status).toBe(401);
    const slug = uniqueSlug('acme');
    const created = await api(first, '/api/v1/tenants', {
      key: operatorKey,
      method: 'POST',
      body: { name: 'Acme', slug },
    });
    expect(created.status).toBe(201);
    const tenantId = created.body.tenant.id as string;
    const tenantKey = created.body.api_key.key as string;
    expect(tenantKey).toMatch(SK_KEY);
    tenants.push({ id: tenantId, slug, key: tenantKey, keyId: created.body.api_key.id });

    const shown = await api(first, `/api/v1/tenants/${tenantId}`, { key: operatorKey });
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ id: tenantId, object: 'tenant', slug, name: 'Acme', status: 'active' });

    const audit = await api(first, '/api/v1/audit-logs?order=asc', { key: tenantKey });
    expect(audit.status).toBe(200);
    const entries = audit.body.data as AuditEntry[];
    expect(entries.map((entry) => entry.action)).toEqual(['tenant.created', 'api_key.created']);
    expect(entries[0]).toMatchObject({ tenant_id: tenantId, target: { type: 'tenant', id: tenantId } });
    expect(entries[0]?.actor.type).toBe('operator');

    // Neither the operator key nor the tenant key ever reaches the logs.
    // The secret is base64url and may itself hold `_`: take it from the parser, not the last `_`.
    const secretOf = (key: string) => {
      const parsed = parseKey(key);
      if (!parsed) throw new Error('not a SigID key');
      return parsed.secret;
    };
    for (const key of [operatorKey, tenantKey]) {
      expect(first.output).not.toContain(key);
      expect(first.output).not.toContain(secretOf(key));
    }
    expect(first.output).not.toMatch(/sigid_(op|sk)_/);
  });

  step('a second serve on the same data dir refuses to start, clearly, and leaves the first alone', async () => {
    const port = await freePort();
    const second = await runCli(['serve'], { SIGID_DATA_DIR: dataDir, PORT: String(port) });
    expect(second.code).not.toBe(0);
    expect(second.code).not.toBeNull();
    expect(second.stderr).toContain(
      `data directory ${dataDir} is in use by process ${first.child.pid}; stop it or set SIGID_DATA_DIR to another directory`,
    );
    expect(second.stdout).not.toContain('SigID is serving');
    expect(await connectionRefused(port)).toBe(true);

    expect(first.running).toBe(true);
    expect((await readFile(join(dataDir, 'sigid.lock'), 'utf8')).trim()).toBe(String(first.child.pid));
    expect((await api(first, `/api/v1/tenants/${tenants[0]?.id}`, { key: operatorKey })).status).toBe(200);
  });

  step(
    'SIGTERM: the in-flight request completes, new connections are refused, exit 0 with checkpoints saved',
    async () => {
      const slug = uniqueSlug('inflight');
      const body = JSON.stringify({ name: 'In flight', slug });
      // A request the server has begun (it answered `100 Continue` to the headers) but whose body is
      // still to come: in flight for exactly as long as the test holds the body back.
      const socket = netConnect(first.port, '127.0.0.1');
      await once(socket, 'connect');
      let received = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        received += chunk;
      });
      const closed = once(socket, 'close');
      const until = async (done: () => boolean, what: string) => {
        const deadline = Date.now() + 20_000;
        while (!done()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received:\n${received}`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };
      socket.write(
        [
          'POST /api/v1/tenants HTTP/1.1',
          `Host: 127.0.0.1:${first.port}`,
          `Authorization: Bearer ${operatorKey}`,
          'Content-Type: application/json',
          `Content-Length: ${Buffer.byteLength(body)}`,
          'Expect: 100-continue',
          'X-Request-Id: e2e-in-flight',
          '',
          '',
        ].join('\r\n'),
      );
      await until(() => received.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), '100 Continue');

      first.child.kill('SIGTERM');
      await first.waitForLog('shutting down: finishing in-flight requests');
      // The listener closes at once; the process stays up for the request it owes an answer.
      const deadline = Date.now() + 5_000;
      while (!(await connectionRefused(first.port)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(await connectionRefused(first.port)).toBe(true);
      expect(first.running).toBe(true);
      expect(first.logs.some((line) => line.msg === 'stopped; checkpoints saved')).toBe(false);

      socket.write(body);
      const finalResponse = () => received.slice('HTTP/1.1 100 Continue\r\n\r\n'.length);
      await until(() => {
        const text = finalResponse();
        const headEnd = text.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: (\d+)/i.exec(text)?.[1];
        return headEnd >= 0 && length !== undefined && Buffer.byteLength(text.slice(headEnd + 4)) >= Number(length);
      }, 'the in-flight response');
      const text = finalResponse();
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 201 Created');
      expect(head).toMatch(/\r\nx-request-id: e2e-in-flight\r\n/i);
      const created = JSON.parse(text.slice(head.length + 4));
      expect(created.tenant).toMatchObject({ slug, name: 'In flight', status: 'active' });
      expect(created.api_key.key).toMatch(SK_KEY);
      tenants.push({ id: created.tenant.id, slug, key: created.api_key.key, keyId: created.api_key.id });
      socket.end();
      await closed;

      expect(await first.exited).toBe(0);
      const messages = first.logs.map((line) => line.msg);
      const answered = first.logs.findIndex((line) => line.request_id === 'e2e-in-flight');
      expect(answered).toBeGreaterThan(messages.indexOf('shutting down: finishing in-flight requests'));
      expect(messages.indexOf('stopped; checkpoints saved')).toBeGreaterThan(answered);
      expect(first.stderr).toBe('');
      // A clean stop gives the data directory back.
      expect(existsSync(join(dataDir, 'sigid.lock'))).toBe(false);
    },
  );

  step('a restart on the same data dir keeps the data and the operator key', async () => {
    const keyFile = join(dataDir, 'operator.key');
    const again = await serve({ SIGID_DATA_DIR: dataDir });
    try {
      expect(again.logs.some((line) => line.path === keyFile)).toBe(false);
      expect((await readFile(keyFile, 'utf8')).trim()).toBe(operatorKey);
      expect(tenants).toHaveLength(2);
      for (const tenant of tenants) {
        const shown = await api(again, `/api/v1/tenants/${tenant.id}`, { key: operatorKey });
        expect(shown.status).toBe(200);
        expect(shown.body.slug).toBe(tenant.slug);
        const audit = await api(again, '/api/v1/audit-logs?order=asc', { key: tenant.key });
        expect(audit.status).toBe(200);
        expect((audit.body.data as AuditEntry[]).map((entry) => [entry.action, entry.target.id])).toEqual([
          ['tenant.created', tenant.id],
          ['api_key.created', tenant.keyId],
        ]);
      }
      expect((await api(again, '/readyz')).body.checks.projections).toEqual({ ok: true, lag: 0 });
    } finally {
      expect(await again.stop()).toBe(0);
    }
    expect(again.output).not.toMatch(/sigid_(op|sk)_/);
  });
});

describe.runIf(postgresReachable)('sigid CLI against PostgreSQL (DATABASE_URL)', { concurrent: true }, () => {
  let database: { url: string; drop: () => Promise<void> };
  let settings: Record<string, string>;
  let operatorKey: string;
  let server: Served | undefined;
  let tenant: { id: string; slug: string; keyId: string; key: string };
  let otherTenantId: string;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    settings = { DATABASE_URL: database.url, SIGID_MASTER_KEY: randomBytes(32).toString('base64') };
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  async function sql<R>(text: string, params: unknown[] = []): Promise<R[]> {
    const db = connectPostgres(database.url, { max: 1 });
    try {
      return (await db.query<R>(text, params)).rows;
    } finally {
      await db.close();
    }
  }

  async function headPosition(): Promise<number> {
    const [row] = await sql<{ head: number }>('select max(global_position)::int as head from sigid_events');
    return row?.head ?? 0;
  }

  step('without SIGID_MASTER_KEY every command that needs it fails clearly, before touching the database', async () => {
    const port = await freePort();
    const results = await Promise.all([
      runCli(['operator-key', 'create'], { DATABASE_URL: database.url }),
      runCli(['serve'], { DATABASE_URL: database.url, PORT: String(port) }),
    ]);
    for (const result of results) {
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('SIGID_MASTER_KEY is required with DATABASE_URL');
      expect(result.stdout).not.toMatch(/sigid_op_|SigID is serving/);
    }
    expect(await sql("select table_name from information_schema.tables where table_schema = 'public'")).toEqual([]);
  });

  step('migrate applies every migration, then says the schema is up to date', async () => {
    const applied = await runCli(['migrate'], settings);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toBe(`applied: ${Object.keys(migrations).join(', ')}\n`);
    const again = await runCli(['migrate'], settings);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('the schema is up to date\n');
  });

  step('operator-key create prints a sigid_op_ key that a serve process accepts', async () => {
    const made = await runCli(['operator-key', 'create'], settings);
    expect(made.code).toBe(0);
    operatorKey = made.stdout.trim();
    expect(operatorKey).toMatch(OP_KEY);
    expect(made.stdout).toBe(`${operatorKey}\n`);
    expect(made.stderr).toMatch(/operator key op_[0-9a-z]{26} \(store it now; it is not shown again\)/);

    server = await serve(settings);
    expect(server.logs.find((line) => line.msg === 'SigID is serving')).toMatchObject({
      backend: 'postgres',
      embedded: false,
    });
    const listed = await api(server, '/api/v1/tenants', { key: operatorKey });
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ object: 'list', data: [] });
    const forged = `${operatorKey.slice(0, -4)}AAAA`;
    expect((await api(server, '/api/v1/tenants', { key: forged })).status).toBe(401);

    const other = await api(server, '/api/v1/tenants', {
      key: operatorKey,
      method: 'POST',
      body: { name: 'Other', slug: uniqueSlug('other') },
    });
    expect(other.status).toBe(201);
    otherTenantId = other.body.tenant.id;
  });

  step('tenants create prints the tenant id and a working admin key; a bad slug is refused', async () => {
    const slug = uniqueSlug('globex');
    const created = await runCli(['tenants', 'create', '--name', 'Globex', '--slug', slug], settings);
    expect(created.code).toBe(0);
    const printed = JSON.parse(created.stdout);
    expect(printed).toEqual({
      tenant_id: expect.stringMatching(/^ten_[0-9a-z]{26}$/),
      api_key: { id: expect.stringMatching(/^key_[0-9a-z]{26}$/), key: expect.stringMatching(SK_KEY) },
    });
    tenant = { id: printed.tenant_id, slug, keyId: printed.api_key.id, key: printed.api_key.key };

    if (!server) throw new Error('the serve process of the previous test is not running');
    const shown = await api(server, `/api/v1/tenants/${tenant.id}`, { key: operatorKey });
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ id: tenant.id, slug, name: 'Globex', status: 'active' });
    const audit = await api(server, '/api/v1/audit-logs?order=asc', { key: tenant.key });
    expect(audit.status).toBe(200);
    expect((audit.body.data as AuditEntry[]).map((entry) => [entry.action, entry.actor])).toEqual([
      ['tenant.created', { type: 'operator', id: 'cli' }],
      ['api_key.created', { type: 'operator', id: 'cli' }],
    ]);

    const [badSlug, takenSlug, badName] = await Promise.all([
      runCli(['tenants', 'create', '--name', 'Bad', '--slug', 'Not A Slug'], settings),
      runCli(['tenants', 'create', '--name', 'Again', '--slug', slug], settings),
      runCli(['tenants', 'create', '--name', 'Bell\u0007Corp', '--slug', uniqueSlug('bell')], settings),
    ]);
    // The same text rule as the HTTP API, before anything is reserved.
    expect(badName.code).not.toBe(0);
    expect(badName.stdout).toBe('');
    expect(badName.stderr).toContain('U+0007');
    expect(badSlug.code).not.toBe(0);
    expect(badSlug.code).not.toBeNull();
    expect(badSlug.stdout).toBe('');
    expect(badSlug.stderr).toContain(
      "option '--slug <slug>' argument 'Not A Slug' is invalid. lowercase letters, digits and inner hyphens, 3 to 40",
    );
    expect(takenSlug.code).toBe(1);
    expect(takenSlug.stdout).toBe('');
    expect(takenSlug.stderr).toContain(`The slug "${slug}" is already taken.`);
    const names = (await api(server, '/api/v1/tenants', { key: operatorKey })).body.data.map(
      (row: { name: string }) => row.name,
    );
    expect(names.sort()).toEqual(['Globex', 'Other']);
  });

  step('tenants list, get, suspend and reactivate take an id or a slug; an unknown tenant is an error', async () => {
    const version = await runCli(['--version'], settings);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);

    const listed = await runCli(['tenants', 'list'], settings);
    expect(listed.code).toBe(0);
    const [header, ...lines] = listed.stdout.trimEnd().split('\n');
    expect(header?.split(/\s+/)).toEqual(['id', 'slug', 'name', 'status', 'created_at']);
    expect(lines.map((line) => line.split(/\s+/).slice(0, 2)).sort()).toEqual(
      [
        [tenant.id, tenant.slug],
        [otherTenantId, expect.any(String)],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    const json = await runCli(['tenants', 'list', '--json'], settings);
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).id)
        .sort(),
    ).toEqual([tenant.id, otherTenantId].sort());

    for (const name of [tenant.id, tenant.slug]) {
      const got = await runCli(['tenants', 'get', name], settings);
      expect(got.code).toBe(0);
      expect(JSON.parse(got.stdout)).toMatchObject({ id: tenant.id, slug: tenant.slug, name: 'Globex' });
    }

    const suspended = await runCli(['tenants', 'suspend', otherTenantId, '--reason', 'unpaid'], settings);
    expect(suspended.code).toBe(0);
    if (!server) throw new Error('the serve process is not running');
    expect((await api(server, `/api/v1/tenants/${otherTenantId}`, { key: operatorKey })).body.status).toBe('suspended');
    const reactivated = await runCli(['tenants', 'reactivate', otherTenantId], settings);
    expect(reactivated.code).toBe(0);
    expect((await api(server, `/api/v1/tenants/${otherTenantId}`, { key: operatorKey })).body.status).toBe('active');

    const unknown = await Promise.all([
      runCli(['tenants', 'get', 'no-such-tenant'], settings),
      runCli(['tenants', 'suspend', 'ten_00000000000000000000000000'], settings),
      runCli(['audit', 'export', '--tenant', 'no-such-tenant'], settings),
    ]);
    for (const result of unknown) {
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/sigid: The tenant "[^"]+" was not found\./);
    }
  });

  step('projections status lists tenants and api_keys at the head with lag 0', async () => {
    const head = await headPosition();
    expect(head).toBeGreaterThan(0);
    const status = await runCli(['projections', 'status'], settings);
    expect(status.code).toBe(0);
    // A plain aligned table: a header line, then one line per projection, columns split by spaces.
    const [header, ...lines] = status.stdout.trimEnd().split('\n');
    expect(header?.split(/\s+/)).toEqual(['name', 'version', 'position', 'lag', 'failures', 'running_here']);
    const rows = lines.map((line) => line.split(/\s+/));
    const byName = new Map(rows.map((row) => [row[0], { position: row[2], lag: row[3], failures: row[4] }]));
    for (const name of ['tenants', 'api_keys']) {
      expect(byName.get(name)).toEqual({ position: String(head), lag: '0', failures: '0' });
    }
    // Whatever other projections there are, none lags; the columns line up.
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) expect(row[3]).toBe('0');
    const lagColumn = header?.indexOf('lag');
    for (const line of lines) expect(line.slice(lagColumn, lagColumn === undefined ? 0 : lagColumn + 1)).toBe('0');

    const json = await runCli(['projections', 'status', '--json'], settings);
    expect(json.code).toBe(0);
    const parsed = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { name: string; position: number; lag: number });
    expect(parsed.find((row) => row.name === 'tenants')).toMatchObject({ position: head, lag: 0 });
  });

  /** Empties the read models behind the projections' backs: only a replay can bring the rows back. */
  async function wreckReadModels() {
    await sql('delete from tenants');
    await sql('delete from api_keys');
    expect(await sql('select tenant_id from tenants')).toEqual([]);
  }

  async function expectReadModelsWhole() {
    const rows = await sql<{ tenant_id: string; slug: string; name: string }>(
      'select tenant_id, slug, name from tenants order by name',
    );
    expect(rows).toEqual([
      { tenant_id: tenant.id, slug: tenant.slug, name: 'Globex' },
      { tenant_id: otherTenantId, slug: expect.stringMatching(/^other-/), name: 'Other' },
    ]);
    const keys = await sql<{ key_id: string }>('select key_id from api_keys where tenant_id = $1', [tenant.id]);
    expect(keys).toEqual([{ key_id: tenant.keyId }]);
    const head = await headPosition();
    expect(
      await sql(
        "select name, position from projection_checkpoints where name in ('tenants', 'api_keys') order by name",
      ),
    ).toEqual([
      { name: 'api_keys', position: head },
      { name: 'tenants', position: head },
    ]);
  }

  step('projections rebuild, while serve runs them, has the server replay and waits for it', async () => {
    if (!server) throw new Error('the serve process of the previous tests is not running');
    await wreckReadModels();
    const rebuilt = await runCli(['projections', 'rebuild'], settings);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stderr).toContain('tenants: emptied; the running SigID process is replaying it');
    expect(rebuilt.stderr).toContain('api_keys: emptied; the running SigID process is replaying it');
    await expectReadModelsWhole();
    const shown = await api(server, `/api/v1/tenants/${tenant.id}`, { key: operatorKey });
    expect(shown.status).toBe(200);

    expect(await server.stop()).toBe(0);
    server = undefined;
  });

  step('projections rebuild, with no server running, replays the events itself', async () => {
    await wreckReadModels();
    const rebuilt = await runCli(['projections', 'rebuild'], settings);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stderr).not.toContain('running SigID process');
    await expectReadModelsWhole();
  });

  step("audit export writes the tenant's audit records as NDJSON, and nothing of another tenant", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sigid-cli-e2e-export-'));
    tempDirs.push(dir);
    const out = join(dir, 'audit.ndjson');
    // By slug: the same tenant as by id.
    const exported = await runCli(['audit', 'export', '--tenant', tenant.slug, '--out', out], settings);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toBe('');
    expect(exported.stderr).toMatch(/(^|\n)2 records\n$/);
    const text = await readFile(out, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const records = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEntry & { object: string });
    expect(records.map((record) => [record.object, record.action, record.tenant_id, record.target])).toEqual([
      ['audit_log_entry', 'tenant.created', tenant.id, { type: 'tenant', id: tenant.id }],
      ['audit_log_entry', 'api_key.created', tenant.id, { type: 'api_key', id: tenant.keyId }],
    ]);
    expect(text).not.toContain(otherTenantId);
    expect(text).not.toMatch(/sigid_(op|sk)_/);
  });
});
