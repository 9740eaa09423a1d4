import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import pino, { type Logger } from 'pino';
import supertest from 'supertest';
import type { EventCatalog } from '../../events/catalog.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { createApp } from '../../src/http/app.ts';
import type { TxtResolver } from '../../src/organizations/domains.ts';
import { createSigid, type Sigid } from '../../src/sigid.ts';
import { type Backend, createPostgresDatabase } from './databases.ts';

export const OPERATOR_KEY = 'test-operator-key-0123456789abcdef0123456789';

export interface TestSigid {
  sigid: Sigid;
  app: Express;
  http: ReturnType<typeof supertest>;
  /** `Authorization` header value of the platform operator. */
  operator: string;
  /** Creates a tenant through the API; returns its id, slug and first admin key. */
  createTenant(name?: string): Promise<{ tenantId: string; slug: string; key: string; keyId: string }>;
  /** Issues `count` API keys with a tenant's key (each one an `api_key.created` event); returns their ids. */
  issueKeys(key: string, count: number, prefix?: string): Promise<string[]>;
  close(): Promise<void>;
}

let slugCounter = 0;

/**
 * A whole SigID (database, event store, projections, HTTP app) on a fresh database of the given
 * backend: in-memory PGlite, or a new PostgreSQL database. One per test file; tests use their own
 * tenants, so they do not see each other.
 */
export async function startSigid(
  options: {
    backend?: Backend['name'];
    config?: Partial<Config>;
    catalog?: EventCatalog;
    /** Where the server logs (silent by default): a test that reads what SigID logs passes its own. */
    logger?: Logger;
    /** The DNS organization domain proofs are looked up in (a fake: a customer's DNS cannot run here). */
    dns?: TxtResolver;
  } = {},
): Promise<TestSigid> {
  const backend = options.backend ?? 'pglite';
  const database = backend === 'postgres' ? await createPostgresDatabase() : undefined;
  const config = loadConfig(
    {},
    {
      databaseUrl: database?.url,
      dataDir: undefined,
      operatorKey: OPERATOR_KEY,
      masterKey: randomBytes(32).toString('base64'),
      logLevel: 'silent',
      ...options.config,
    },
  );
  const sigid = await createSigid(config, {
    logger: options.logger ?? pino({ level: 'silent' }),
    ...(options.catalog ? { catalog: options.catalog } : {}),
    ...(options.dns ? { dns: options.dns } : {}),
  });
  sigid.start();
  const app = createApp(sigid);
  const http = supertest(app);
  const operator = `Bearer ${OPERATOR_KEY}`;
  return {
    sigid,
    app,
    http,
    operator,
    async createTenant(name = 'Test tenant') {
      const slug = `t-${process.pid}-${++slugCounter}-${randomBytes(3).toString('hex')}`;
      const response = await http
        .post('/api/v1/tenants')
        .set('Authorization', operator)
        .send({ name, slug })
        .expect(201);
      return {
        tenantId: response.body.tenant.id,
        slug,
        key: response.body.api_key.key,
        keyId: response.body.api_key.id,
      };
    },
    async issueKeys(key, count, prefix = 'key') {
      const ids: string[] = [];
      for (let index = 0; index < count; index++) {
        const response = await http
          .post('/api/v1/api-keys')
          .set('Authorization', `Bearer ${key}`)
          .send({ name: `${prefix} ${index}` })
          .expect(201);
        ids.push(response.body.id);
      }
      return ids;
    },
    async close() {
      await sigid.close();
      await database?.drop();
    },
  };
}
