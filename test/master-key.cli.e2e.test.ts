import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { masterKeyId } from '../src/secrets/keyring.ts';
import { startServerProcess } from './support/server-process.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const CLI = join(ROOT, 'src', 'cli.ts');

/** Runs `sigid …` on an embedded data dir, with no other SigID setting from the test's environment. */
async function sigid(args: string[], dataDir: string) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('SIGID_') && name !== 'DATABASE_URL'),
  );
  const child = spawn(NODE, [CLI, ...args], {
    cwd: ROOT,
    env: { ...env, SIGID_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

const keyIdOf = (path: string) => masterKeyId(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'));

describe('sigid master-key rotate, embedded', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('makes a new data/master.key, re-wraps everything under it, forgets the old one, and the keys still work', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sigid-rotate-'));
    dirs.push(dataDir);
    const created = await sigid(['tenants', 'create', '--name', 'Rotate', '--slug', 'rotate-me'], dataDir);
    expect(created.code).toBe(0);
    const apiKey: string = JSON.parse(created.stdout).api_key.key;
    const keyPath = join(dataDir, 'master.key');
    const oldId = keyIdOf(keyPath);

    const rotated = await sigid(['master-key', 'rotate'], dataDir);
    expect(rotated.code, rotated.stderr).toBe(0);
    const newId = keyIdOf(keyPath);
    expect(newId).not.toBe(oldId);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ key_id: newId, left: [] });
    expect(existsSync(`${keyPath}.previous`)).toBe(false);

    const status = await sigid(['master-key', 'status'], dataDir);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`current key: ${newId}`);
    expect(status.stdout).toContain(newId);
    expect(status.stdout).not.toContain(oldId);

    const server = await startServerProcess({ SIGID_DATA_DIR: dataDir });
    try {
      const answer = await fetch(`${server.url}/api/v1/api-keys`, { headers: { authorization: `Bearer ${apiKey}` } });
      expect(answer.status).toBe(200);
    } finally {
      await server.kill();
    }
    // Four cold PGlite starts, each several seconds on a busy machine.
  }, 180_000);
});
