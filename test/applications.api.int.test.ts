import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationAggregate } from '../commands/application.ts';
import { verifyClientSecret } from '../services/applications.ts';
import { useCase } from '../services/context.ts';
import { handleCommand } from '../src/command-handler.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;
const redirect_uris = ['https://app.example.com/callback'];

type Tenant = { tenantId: string; key: string; keyId: string };
type AuditEntry = {
  action: string;
  actor: { type: string; id: string };
  target: { type: string; id: string };
  data: Record<string, unknown>;
};

describe('applications API', () => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  /** Every line the server logged, at every level. */
  const logged: string[] = [];
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logged.push(String(chunk));
        done();
      },
    });
    t = await startSigid({
      logger: pino({ level: 'trace' }, sink),
      config: { webhooks: { ...loadWebhookConfig({}), worker: false } },
    });
    tenant = await t.createTenant('Applications');
    other = await t.createTenant('Someone else');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function count(sql: string, parameters: unknown[] = []): Promise<number> {
    const { rows } = await t.sigid.db.query<{ count: number }>(sql, parameters);
    return rows[0]?.count ?? 0;
  }

  /** What a write leaves anywhere: events, stored secrets, application rows. */
  async function footprint() {
    return {
      events: await count('select count(*)::int as count from sigid_events'),
      secrets: await count('select count(*)::int as count from sealed_secrets'),
      applications: await count('select count(*)::int as count from applications'),
    };
  }

  async function audit(who: Tenant = tenant): Promise<AuditEntry[]> {
    const response = await t.http.get('/api/v1/audit-logs?limit=200&order=asc').set('Authorization', auth(who));
    expect(response.status).toBe(200);
    return response.body.data;
  }

  function create(body: Record<string, unknown>, who: Tenant = tenant) {
    return t.http.post('/api/v1/applications').set('Authorization', auth(who)).send(body);
  }

  async function created(body: Record<string, unknown>, who: Tenant = tenant) {
    const response = await create(body, who);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response;
  }

  it('gives each kind its defaults, and a client secret once to the confidential ones', async () => {
    const web = await created({ kind: 'web', client_name: 'Dashboard', redirect_uris });
    expect(web.body).toMatchObject({
      object: 'application',
      kind: 'web',
      client_name: 'Dashboard',
      application_type: 'web',
      redirect_uris,
      post_logout_redirect_uris: [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      require_pkce: true,
      logo_uri: null,
      allowed_origins: [],
      access_token_ttl_seconds: 3600,
      id_token_ttl_seconds: 3600,
      refresh_token_ttl_seconds: 2592000,
      previous_secret_expires_at: null,
      revision: 0,
      client_secret_expires_at: 0,
    });
    expect(web.body.id).toMatch(/^app_[0-9a-z]{26}$/);
    expect(web.body.client_id).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(web.body.client_secret).toMatch(/^sigid_cs_[A-Za-z0-9_-]{43}$/);
    expect(web.headers.location).toBe(`/api/v1/applications/${web.body.id}`);
    expect(web.headers.etag).toBe('"0"');

    const spa = await created({
      kind: 'spa',
      client_name: 'Browser app',
      redirect_uris: ['https://spa.example.com/cb', 'http://localhost:5173/cb'],
      allowed_origins: ['https://spa.example.com', 'http://localhost:5173'],
    });
    expect(spa.body).toMatchObject({
      application_type: 'web',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      require_pkce: true,
      allowed_origins: ['https://spa.example.com', 'http://localhost:5173'],
    });
    expect(spa.body.client_secret).toBeUndefined();

    const native = await created({
      kind: 'native',
      client_name: 'Phone app',
      redirect_uris: ['com.example.app:/oauth2redirect', 'http://127.0.0.1/callback'],
    });
    expect(native.body).toMatchObject({
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      require_pkce: true,
    });
    expect(native.body.client_secret).toBeUndefined();

    const m2m = await created({ kind: 'm2m', client_name: 'Nightly sync', access_token_ttl_seconds: 600 });
    expect(m2m.body).toMatchObject({
      application_type: 'web',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      require_pkce: false,
      access_token_ttl_seconds: 600,
    });
    expect(m2m.body.client_secret).toMatch(/^sigid_cs_/);

    // Given values win over the defaults, within what the kind allows.
    const posted = await created({
      kind: 'web',
      client_name: 'Posts its secret',
      redirect_uris,
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
      require_pkce: false,
      logo_uri: 'https://cdn.example.com/logo.png',
      client_id: 'legacy-portal.v2',
    });
    expect(posted.body).toMatchObject({
      client_id: 'legacy-portal.v2',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      require_pkce: false,
      logo_uri: 'https://cdn.example.com/logo.png',
    });
  });

  it('shows the client secret exactly once: never in a read, an event, the audit log, a stored answer or the log', async () => {
    const response = await t.http
      .post('/api/v1/applications')
      .set('Authorization', auth())
      .set('Idempotency-Key', 'create-secret-once')
      .send({ kind: 'web', client_name: 'Secretive', redirect_uris });
    expect(response.status).toBe(201);
    const secret: string = response.body.client_secret;
    const id: string = response.body.id;
    const rotated = await t.http.post(`/api/v1/applications/${id}/secrets`).set('Authorization', auth()).expect(201);
    const secrets = [secret, rotated.body.client_secret as string];
    const hashes = secrets.flatMap((value) => {
      const digest = createHash('sha256').update(value).digest();
      return [digest.toString('hex'), digest.toString('base64'), digest.toString('base64url')];
    });
    const leaks = (text: string) => [...secrets, ...hashes].filter((value) => text.includes(value));

    const fetched = await t.http.get(`/api/v1/applications/${id}`).set('Authorization', auth()).expect(200);
    expect(fetched.body.client_secret).toBeUndefined();
    const listed = await t.http.get('/api/v1/applications?limit=100').set('Authorization', auth()).expect(200);
    expect(leaks(JSON.stringify([fetched.body, listed.body]))).toEqual([]);

    const { rows } = await t.sigid.db.query<{ data: unknown; type: string }>(
      'select data, event_type as type from sigid_events',
    );
    expect(leaks(JSON.stringify(rows))).toEqual([]);
    const createdEvent = rows.find(
      (row) => row.type === 'application.created' && (row.data as { application_id: string }).application_id === id,
    );
    expect((createdEvent?.data as { secret_id?: string } | undefined)?.secret_id).toMatch(/^cls_[0-9a-z]{26}$/);

    expect(leaks(JSON.stringify(await audit()))).toEqual([]);
    const exported = await t.http.get('/api/v1/audit-logs/export').set('Authorization', auth()).expect(200);
    expect(leaks(exported.text)).toEqual([]);
    const events = await t.http.get('/api/v1/events?from_position=0').set('Authorization', auth()).expect(200);
    expect(leaks(events.text)).toEqual([]);

    // Stored only sealed: the hash in the store and the idempotent answer are ciphertext.
    const stored = await t.sigid.db.query<{ sealed: Uint8Array }>(
      `select sealed from sealed_secrets where kind = 'client-secret' and owner_id = $1`,
      [id],
    );
    expect(stored.rows).toHaveLength(2);
    const answers = await t.sigid.db.query<{ response: Uint8Array | null }>('select response from idempotency_keys');
    const raw = [
      ...stored.rows.map((row) => row.sealed),
      ...answers.rows.map((row) => row.response ?? new Uint8Array()),
    ];
    for (const bytes of raw) {
      const text = Buffer.from(bytes).toString('latin1');
      expect(leaks(text)).toEqual([]);
      for (const value of secrets) {
        expect(Buffer.from(bytes).includes(createHash('sha256').update(value).digest())).toBe(false);
      }
    }
    // The retried create answers the same secret, from its sealed stored answer.
    const again = await t.http
      .post('/api/v1/applications')
      .set('Authorization', auth())
      .set('Idempotency-Key', 'create-secret-once')
      .send({ kind: 'web', client_name: 'Secretive', redirect_uris });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.client_secret).toBe(secret);

    expect(logged.length).toBeGreaterThan(0);
    expect(leaks(logged.join(''))).toEqual([]);
  });

  it('refuses every combination that makes no sense with a clear problem, and changes nothing', async () => {
    const before = await footprint();
    const cases: Array<[string, Record<string, unknown>, number, string]> = [
      ['no kind', { client_name: 'x', redirect_uris }, 400, 'invalid_request'],
      ['an unknown kind', { kind: 'desktop', client_name: 'x', redirect_uris }, 400, 'invalid_request'],
      ['an unknown field', { kind: 'web', client_name: 'x', redirect_uris, scope: 'openid' }, 400, 'invalid_request'],
      ['no name', { kind: 'web', redirect_uris }, 400, 'invalid_request'],
      [
        'an unknown grant',
        { kind: 'web', client_name: 'x', redirect_uris, grant_types: ['magic'] },
        400,
        'invalid_request',
      ],
      ['a lifetime too short', { kind: 'm2m', client_name: 'x', access_token_ttl_seconds: 10 }, 400, 'invalid_request'],
      [
        'a lifetime too long',
        { kind: 'm2m', client_name: 'x', refresh_token_ttl_seconds: 10 ** 9 },
        400,
        'invalid_request',
      ],
      ['a client_id with a space', { kind: 'm2m', client_name: 'x', client_id: 'my app' }, 400, 'invalid_request'],
      ['a client_id too short', { kind: 'm2m', client_name: 'x', client_id: 'ab' }, 400, 'invalid_request'],
      ['a client_id with a colon', { kind: 'm2m', client_name: 'x', client_id: 'a:b:c' }, 400, 'invalid_request'],
      ['web with no redirect URI', { kind: 'web', client_name: 'x' }, 422, 'invalid_client_metadata'],
      [
        'a public client with a secret method',
        { kind: 'spa', client_name: 'x', redirect_uris, token_endpoint_auth_method: 'client_secret_basic' },
        422,
        'invalid_client_metadata',
      ],
      [
        'a native client with a secret method',
        { kind: 'native', client_name: 'x', redirect_uris, token_endpoint_auth_method: 'client_secret_post' },
        422,
        'invalid_client_metadata',
      ],
      [
        'a confidential client with none',
        { kind: 'web', client_name: 'x', redirect_uris, token_endpoint_auth_method: 'none' },
        422,
        'invalid_client_metadata',
      ],
      ['m2m with redirect URIs', { kind: 'm2m', client_name: 'x', redirect_uris }, 422, 'invalid_client_metadata'],
      [
        'm2m with none (and so client_credentials with none)',
        { kind: 'm2m', client_name: 'x', token_endpoint_auth_method: 'none' },
        422,
        'invalid_client_metadata',
      ],
      [
        'm2m with the code grant',
        { kind: 'm2m', client_name: 'x', grant_types: ['client_credentials', 'authorization_code'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'm2m with origins',
        { kind: 'm2m', client_name: 'x', allowed_origins: ['https://app.example.com'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'a public client with client_credentials',
        { kind: 'spa', client_name: 'x', redirect_uris, grant_types: ['authorization_code', 'client_credentials'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'the implicit grant',
        { kind: 'web', client_name: 'x', redirect_uris, grant_types: ['authorization_code', 'implicit'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'the password grant',
        { kind: 'web', client_name: 'x', redirect_uris, grant_types: ['authorization_code', 'password'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'a token response type',
        { kind: 'web', client_name: 'x', redirect_uris, response_types: ['token'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'a hybrid response type',
        { kind: 'web', client_name: 'x', redirect_uris, response_types: ['code id_token'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'refresh tokens without the code grant',
        { kind: 'web', client_name: 'x', redirect_uris, grant_types: ['refresh_token'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'a public client without PKCE',
        { kind: 'spa', client_name: 'x', redirect_uris, require_pkce: false },
        422,
        'invalid_client_metadata',
      ],
      [
        'client_secret_jwt (only a hash is kept)',
        { kind: 'web', client_name: 'x', redirect_uris, token_endpoint_auth_method: 'client_secret_jwt' },
        422,
        'invalid_client_metadata',
      ],
      [
        'the wrong application_type',
        { kind: 'native', client_name: 'x', redirect_uris, application_type: 'web' },
        422,
        'invalid_client_metadata',
      ],
      [
        'an origin with a path',
        { kind: 'spa', client_name: 'x', redirect_uris, allowed_origins: ['https://spa.example.com/'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'a plain http origin',
        { kind: 'spa', client_name: 'x', redirect_uris, allowed_origins: ['http://spa.example.com'] },
        422,
        'invalid_client_metadata',
      ],
      [
        'an http logo',
        { kind: 'web', client_name: 'x', redirect_uris, logo_uri: 'http://cdn.example.com/logo.png' },
        422,
        'invalid_client_metadata',
      ],
      [
        'plain http to a public host',
        { kind: 'web', client_name: 'x', redirect_uris: ['http://app.example.com/cb'] },
        422,
        'invalid_redirect_uri',
      ],
      [
        'a fragment',
        { kind: 'web', client_name: 'x', redirect_uris: ['https://app.example.com/cb#x'] },
        422,
        'invalid_redirect_uri',
      ],
      ['a relative URI', { kind: 'spa', client_name: 'x', redirect_uris: ['/callback'] }, 422, 'invalid_redirect_uri'],
      [
        'a private-use scheme for a web app',
        { kind: 'web', client_name: 'x', redirect_uris: ['com.example.app:/cb'] },
        422,
        'invalid_redirect_uri',
      ],
      [
        'a private-use scheme with no domain',
        { kind: 'native', client_name: 'x', redirect_uris: ['myapp:/cb'] },
        422,
        'invalid_redirect_uri',
      ],
      [
        'a javascript: URI',
        { kind: 'native', client_name: 'x', redirect_uris: ['javascript:alert(1)'] },
        422,
        'invalid_redirect_uri',
      ],
      [
        'a wildcard',
        { kind: 'spa', client_name: 'x', redirect_uris: ['https://*.example.com/cb'] },
        422,
        'invalid_redirect_uri',
      ],
      [
        'a bad post-logout URI',
        { kind: 'web', client_name: 'x', redirect_uris, post_logout_redirect_uris: ['http://app.example.com/'] },
        422,
        'invalid_redirect_uri',
      ],
      [
        'a redirect URI listed twice',
        { kind: 'web', client_name: 'x', redirect_uris: [...redirect_uris, ...redirect_uris] },
        422,
        'invalid_redirect_uri',
      ],
    ];
    const wrong: string[] = [];
    for (const [label, body, status, code] of cases) {
      for (const idempotencyKey of [undefined, `refused-${label}`]) {
        let request = t.http.post('/api/v1/applications').set('Authorization', auth());
        if (idempotencyKey) request = request.set('Idempotency-Key', idempotencyKey);
        const response = await request.send(body);
        if (
          response.status !== status ||
          response.body.code !== code ||
          !problem.test(response.headers['content-type'] ?? '')
        ) {
          wrong.push(`${label}: ${response.status} ${response.body.code}`);
        }
      }
    }
    expect(wrong).toEqual([]);

    // Every issue is listed, by field.
    const both = await create({
      kind: 'm2m',
      client_name: 'x',
      redirect_uris,
      token_endpoint_auth_method: 'none',
    }).expect(422);
    expect(both.body.errors.map((issue: { path: string }) => issue.path)).toEqual([
      'token_endpoint_auth_method',
      'redirect_uris',
    ]);
    const uri = await create({
      kind: 'web',
      client_name: 'x',
      redirect_uris: [...redirect_uris, 'http://x.example/cb'],
    });
    expect(uri.body.errors).toEqual([
      expect.objectContaining({
        path: 'redirect_uris.1',
        code: 'invalid_redirect_uri',
        message: expect.stringContaining('https'),
      }),
    ]);
    expect(await footprint()).toEqual(before);

    // The same rules hold for a change, checked against what the application would become.
    const { body: m2m } = await created({ kind: 'm2m', client_name: 'Sync' });
    const { body: spa } = await created({ kind: 'spa', client_name: 'SPA', redirect_uris });
    const afterCreates = await footprint();
    const changes: Array<[string, string, Record<string, unknown>, number, string]> = [
      ['patch', m2m.id, { redirect_uris }, 422, 'invalid_client_metadata'],
      ['patch', m2m.id, { grant_types: ['authorization_code'] }, 422, 'invalid_client_metadata'],
      ['patch', spa.id, { token_endpoint_auth_method: 'client_secret_basic' }, 422, 'invalid_client_metadata'],
      ['patch', spa.id, { require_pkce: false }, 422, 'invalid_client_metadata'],
      ['patch', spa.id, { redirect_uris: [] }, 422, 'invalid_client_metadata'],
      ['patch', spa.id, { redirect_uris: ['http://spa.example.com/cb'] }, 422, 'invalid_redirect_uri'],
      ['patch', spa.id, { kind: 'web' }, 400, 'invalid_request'],
      ['patch', spa.id, { client_id: 'renamed' }, 400, 'invalid_request'],
      ['patch', spa.id, {}, 400, 'invalid_request'],
      ['post', spa.id, {}, 422, 'public_client'],
      ['post', m2m.id, { overlap_seconds: -1 }, 400, 'invalid_request'],
      ['post', m2m.id, { overlap_seconds: 31 * 24 * 3600 }, 400, 'invalid_request'],
    ];
    for (const [method, id, body, status, code] of changes) {
      const path = method === 'post' ? `/api/v1/applications/${id}/secrets` : `/api/v1/applications/${id}`;
      const response = await t.http[method as 'post' | 'patch'](path).set('Authorization', auth()).send(body);
      expect({ method, body, status: response.status, code: response.body.code }).toEqual({
        method,
        body,
        status,
        code,
      });
    }
    expect(await footprint()).toEqual(afterCreates);
  });

  it('pages the list in id order', async () => {
    const lister = await t.createTenant('Lister');
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      ids.push((await created({ kind: 'm2m', client_name: `Job ${index}` }, lister)).body.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    const pages: number[] = [];
    do {
      const response: { body: { data: Array<{ id: string }>; has_more: boolean; next_cursor: string | null } } =
        await t.http
          .get(`/api/v1/applications?limit=2${cursor ? `&starting_after=${cursor}` : ''}`)
          .set('Authorization', auth(lister))
          .expect(200);
      pages.push(response.body.data.length);
      seen.push(...response.body.data.map((row: { id: string }) => row.id));
      expect(response.body.has_more).toBe(response.body.next_cursor !== null);
      cursor = response.body.next_cursor;
    } while (cursor);
    expect(pages).toEqual([2, 2, 1]);
    expect(seen).toEqual([...ids].sort());
    for (const row of (await t.http.get('/api/v1/applications').set('Authorization', auth(lister))).body.data) {
      expect(row.client_secret).toBeUndefined();
    }
  });

  it('changes metadata with If-Match, refuses a stale ETag, and audits only what changed with the previous values', async () => {
    const { body } = await created({ kind: 'spa', client_name: 'Editor', redirect_uris });
    const updated = await t.http
      .patch(`/api/v1/applications/${body.id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({
        client_name: 'Editor',
        redirect_uris: [...redirect_uris, 'http://localhost:5173/cb'],
        allowed_origins: ['https://app.example.com'],
        id_token_ttl_seconds: 300,
      })
      .expect(200);
    expect(updated.body).toMatchObject({
      client_name: 'Editor',
      redirect_uris: [...redirect_uris, 'http://localhost:5173/cb'],
      allowed_origins: ['https://app.example.com'],
      id_token_ttl_seconds: 300,
      revision: 1,
    });
    expect(updated.headers.etag).toBe('"1"');
    expect(Date.parse(updated.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(updated.body.created_at));

    const before = await footprint();
    const stale = await t.http
      .patch(`/api/v1/applications/${body.id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ client_name: 'Lost update' })
      .expect(412);
    expect(stale.body.code).toBe('precondition_failed');
    // Nothing to change: nothing recorded, the same revision.
    const same = await t.http
      .patch(`/api/v1/applications/${body.id}`)
      .set('Authorization', auth())
      .send({ client_name: 'Editor', id_token_ttl_seconds: 300 })
      .expect(200);
    expect(same.headers.etag).toBe('"1"');
    expect(await footprint()).toEqual(before);

    const entry = (await audit()).find(
      (record) => record.action === 'application.updated' && record.target.id === body.id,
    );
    expect(entry?.data).toEqual({
      application_id: body.id,
      changes: {
        redirect_uris: [...redirect_uris, 'http://localhost:5173/cb'],
        allowed_origins: ['https://app.example.com'],
        id_token_ttl_seconds: 300,
      },
      previous: { redirect_uris, allowed_origins: [], id_token_ttl_seconds: 3600 },
    });
  });

  it('deletes: then 404, its secrets gone, and its client_id free to register again', async () => {
    const { body } = await created({ kind: 'web', client_name: 'Retired', redirect_uris, client_id: 'retired-app' });
    await t.http
      .delete(`/api/v1/applications/${body.id}`)
      .set('Authorization', auth())
      .set('If-Match', '"5"')
      .expect(412);
    await t.http
      .delete(`/api/v1/applications/${body.id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .expect(204);
    await t.http.get(`/api/v1/applications/${body.id}`).set('Authorization', auth()).expect(404);
    await t.http.delete(`/api/v1/applications/${body.id}`).set('Authorization', auth()).expect(404);
    await t.http.post(`/api/v1/applications/${body.id}/secrets`).set('Authorization', auth()).expect(404);
    const listed = await t.http.get('/api/v1/applications?limit=100').set('Authorization', auth()).expect(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).not.toContain(body.id);
    expect(await verifyClientSecret(t.sigid, tenant.tenantId, 'retired-app', body.client_secret)).toBe(false);
    expect(await count('select count(*)::int as count from sealed_secrets where owner_id = $1', [body.id])).toBe(0);

    const again = await created({ kind: 'm2m', client_name: 'Reborn', client_id: 'retired-app' });
    expect(again.body.id).not.toBe(body.id);
    expect(await verifyClientSecret(t.sigid, tenant.tenantId, 'retired-app', again.body.client_secret)).toBe(true);
  });

  it('registers a client_id whose application was deleted even when its release never landed', async () => {
    const { body } = await created({ kind: 'm2m', client_name: 'Crashed delete', client_id: 'half-deleted' });
    // The delete's event alone, as when the process died before releasing the client_id.
    const system = useCase({
      tenantId: tenant.tenantId,
      actor: { type: 'system', id: 'test' },
      correlationId: 'req_t',
    });
    const deleted = await handleCommand(
      t.sigid.log,
      applicationAggregate,
      body.id,
      { type: 'delete_application' },
      system,
    );
    await t.sigid.projections.waitFor(deleted.position as number, 10_000);
    const again = await created({ kind: 'm2m', client_name: 'Takes it over', client_id: 'half-deleted' });
    const late = await create({ kind: 'm2m', client_name: 'Too late', client_id: 'half-deleted' });
    expect([late.status, late.body.code]).toEqual([409, 'client_id_taken']);
    const reservation = (await audit())
      .filter((record) => record.target.id === 'client_id.half-deleted')
      .map((record) => [record.action, record.data.owner_id]);
    expect(reservation).toEqual([
      ['reservation.claimed', body.id],
      ['reservation.released', body.id],
      ['reservation.claimed', again.body.id],
    ]);
  });

  it('refuses a client_id taken in the tenant (409, nothing stored), and allows it in another tenant', async () => {
    await created({ kind: 'web', client_name: 'First', redirect_uris, client_id: 'shared-portal' });
    const before = await footprint();
    for (const kind of ['web', 'm2m']) {
      const taken = await create({
        kind,
        client_name: 'Second',
        redirect_uris: kind === 'web' ? redirect_uris : [],
        client_id: 'shared-portal',
      });
      expect([taken.status, taken.body.code]).toEqual([409, 'client_id_taken']);
      expect(taken.body.detail).toContain('shared-portal');
    }
    expect(await footprint()).toEqual(before);
    // Case matters in a client_id (RFC 6749): another one.
    await created({ kind: 'm2m', client_name: 'Other case', client_id: 'Shared-Portal' });
    await created({ kind: 'm2m', client_name: 'Elsewhere', client_id: 'shared-portal' }, other);
  });

  it("answers 404 to another tenant's key for an application, whatever the route, and lists none", async () => {
    const { body } = await created({ kind: 'web', client_name: 'Private', redirect_uris });
    const isolated = await t.createTenant('Isolated');
    const before = await footprint();
    const stranger = auth(other);
    const path = `/api/v1/applications/${body.id}`;
    await t.http.get(path).set('Authorization', stranger).expect(404);
    await t.http.patch(path).set('Authorization', stranger).send({ client_name: 'Mine now' }).expect(404);
    await t.http.post(`${path}/secrets`).set('Authorization', stranger).send({ overlap_seconds: 0 }).expect(404);
    await t.http.delete(path).set('Authorization', stranger).expect(404);
    await t.http.get('/api/v1/applications/app_nope').set('Authorization', stranger).expect(404);
    const listed = await t.http.get('/api/v1/applications').set('Authorization', auth(isolated)).expect(200);
    expect(listed.body.data).toEqual([]);
    expect(await footprint()).toEqual(before);
    expect(await verifyClientSecret(t.sigid, other.tenantId, body.client_id, body.client_secret)).toBe(false);
    expect(await verifyClientSecret(t.sigid, tenant.tenantId, body.client_id, body.client_secret)).toBe(true);
    await t.http.get(path).set('Authorization', auth()).expect(200);
  });

  it('verifies the current client secret, and the previous one only until its overlap ends', async () => {
    const { body } = await created({ kind: 'web', client_name: 'Rotating', redirect_uris });
    const clientId: string = body.client_id;
    const verify = (secret: string) => verifyClientSecret(t.sigid, tenant.tenantId, clientId, secret);
    const first: string = body.client_secret;
    expect(await verify(first)).toBe(true);
    expect(await verify(`${first}x`)).toBe(false);
    expect(await verify('')).toBe(false);
    expect(await verify('x'.repeat(10_000))).toBe(false);

    const rotated = await t.http
      .post(`/api/v1/applications/${body.id}/secrets`)
      .set('Authorization', auth())
      .send({ overlap_seconds: 2 })
      .expect(201);
    expect(rotated.body).toMatchObject({ object: 'client_secret', application_id: body.id, client_id: clientId });
    const second: string = rotated.body.client_secret;
    expect(second).not.toBe(first);
    const overlapEnds = Date.parse(rotated.body.previous_secret_expires_at);
    expect(await verify(first)).toBe(true);
    expect(await verify(second)).toBe(true);
    const during = await t.http.get(`/api/v1/applications/${body.id}`).set('Authorization', auth()).expect(200);
    expect(during.body.previous_secret_expires_at).toBe(rotated.body.previous_secret_expires_at);
    expect(during.body.revision).toBe(1);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, overlapEnds - Date.now()) + 100));
    expect(await verify(first)).toBe(false);
    expect(await verify(second)).toBe(true);
    const after = await t.http.get(`/api/v1/applications/${body.id}`).set('Authorization', auth()).expect(200);
    expect(after.body.previous_secret_expires_at).toBeNull();

    // Overlap 0: the previous one stops at once.
    const third = await t.http
      .post(`/api/v1/applications/${body.id}/secrets`)
      .set('Authorization', auth())
      .send({ overlap_seconds: 0 })
      .expect(201);
    expect(await verify(second)).toBe(false);
    expect(await verify(third.body.client_secret)).toBe(true);

    // No body: 24 hours.
    const fourth = await t.http
      .post(`/api/v1/applications/${body.id}/secrets`)
      .set('Authorization', auth())
      .expect(201);
    const overlap = Date.parse(fourth.body.previous_secret_expires_at) - Date.now();
    expect(overlap).toBeGreaterThan(86_390_000);
    expect(overlap).toBeLessThanOrEqual(86_400_000);
    expect(await verify(third.body.client_secret)).toBe(true);
    expect(await verify(fourth.body.client_secret)).toBe(true);
  });

  it('verifies no secret for a public or unknown client', async () => {
    const { body } = await created({ kind: 'native', client_name: 'Public', redirect_uris: ['com.example.app:/cb'] });
    expect(await verifyClientSecret(t.sigid, tenant.tenantId, body.client_id, '')).toBe(false);
    expect(await verifyClientSecret(t.sigid, tenant.tenantId, body.client_id, 'sigid_cs_anything')).toBe(false);
    expect(await verifyClientSecret(t.sigid, tenant.tenantId, 'no-such-client', 'sigid_cs_anything')).toBe(false);
    const m2m = await created({ kind: 'm2m', client_name: 'Machine' });
    expect(await verifyClientSecret(t.sigid, tenant.tenantId, m2m.body.client_id, m2m.body.client_secret)).toBe(true);
  });

  it('lists every change in the audit log with its actor', async () => {
    const { body } = await created({ kind: 'web', client_name: 'Audited', redirect_uris });
    await t.http
      .patch(`/api/v1/applications/${body.id}`)
      .set('Authorization', auth())
      .send({ client_name: 'Audited Inc' })
      .expect(200);
    await t.http
      .post(`/api/v1/applications/${body.id}/secrets`)
      .set('Authorization', auth())
      .send({ overlap_seconds: 60 })
      .expect(201);
    await t.http.delete(`/api/v1/applications/${body.id}`).set('Authorization', auth()).expect(204);
    const entries = await audit();
    const actor = { type: 'api_key', id: tenant.keyId };
    expect(
      entries
        .filter((record) => record.target.id === body.id)
        .map((record) => [record.action, record.actor, record.target.type]),
    ).toEqual([
      ['application.created', actor, 'application'],
      ['application.updated', actor, 'application'],
      ['application.secret_rotated', actor, 'application'],
      ['application.deleted', actor, 'application'],
    ]);
    expect(
      entries
        .filter((record) => record.target.id === `client_id.${body.client_id}`)
        .map((record) => [record.action, record.actor]),
    ).toEqual([
      ['reservation.claimed', actor],
      ['reservation.released', actor],
    ]);
    const filtered = await t.http
      .get(`/api/v1/audit-logs?target=${body.id}&action=application.secret_rotated`)
      .set('Authorization', auth())
      .expect(200);
    expect(filtered.body.data).toHaveLength(1);
    expect(filtered.body.data[0].data).toMatchObject({
      application_id: body.id,
      previous_secret_expires_at: expect.any(String),
    });
  });
});
