import { createHmac } from 'node:crypto';
import { Writable } from 'node:stream';
import { CompactSign, compactVerify, importJWK } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signingKeysProjection } from '../projections/signing-keys.ts';
import { nextRetireAt, publicJwks } from '../read-models/signing-keys.ts';
import { useCase } from '../services/context.ts';
import { ensureSigningKeys, rotateSigningKeys, signingKeySet } from '../services/signing-keys.ts';
import { exportAuditLogInNode } from '../src/audit-export/export.ts';
import { seededRandom } from '../src/random.ts';
import { openProjectionSpecs, SPEC_TENANT, SPEC_TIME } from './support/projection-spec.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const RETENTION_SECONDS = 3;

interface Key {
  id: string;
  alg: 'ES256' | 'RS256';
  status: 'next' | 'active' | 'retiring' | 'retired';
  public_jwk: Record<string, string>;
  retire_at: string | null;
  activated_at: string | null;
  retired_at: string | null;
}

/** What SigID logs, at every level, to look for private parts in. */
function capturedLog() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8');
      callback();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), text: () => text };
}

describe('signing keys API', () => {
  let t: TestSigid;
  const log = capturedLog();

  beforeAll(async () => {
    t = await startSigid({ config: { signingKeyRetentionSeconds: RETENTION_SECONDS }, logger: log.logger });
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = (key: string, query = '') =>
    t.http.get(`/api/v1/signing-keys${query}`).set('Authorization', `Bearer ${key}`).expect(200);
  const rotate = (key: string, body?: object) => {
    const request = t.http.post('/api/v1/signing-keys/rotate').set('Authorization', `Bearer ${key}`);
    return (body ? request.send(body) : request).expect(200);
  };
  const statuses = (keys: Key[]) =>
    Object.fromEntries(keys.map((key) => [key.id, `${key.alg} ${key.status}`])) as Record<string, string>;
  const byStatus = (keys: Key[], alg: string, status: string) =>
    keys.filter((key) => key.alg === alg && key.status === status).map((key) => key.id);

  it('lists no keys for a tenant without any; a rotation makes its first ones, an active and a next per algorithm', async () => {
    const tenant = await t.createTenant('First keys');
    expect((await get(tenant.key)).body).toEqual({ object: 'list', data: [], has_more: false, next_cursor: null });
    expect((await publicJwks(t.sigid.readModels, tenant.tenantId)).keys).toEqual([]);

    const made = await rotate(tenant.key);
    expect(made.body).toMatchObject({ object: 'signing_key_rotation', initialized: true });
    const keys = made.body.keys as Key[];
    expect(keys.map((key) => `${key.alg} ${key.status}`).sort()).toEqual([
      'ES256 active',
      'ES256 next',
      'RS256 active',
      'RS256 next',
    ]);
    for (const key of keys) {
      expect(key.id).toMatch(/^kid_[0-9a-z]{26}$/);
      expect(key.public_jwk).toMatchObject({ kid: key.id, alg: key.alg, use: 'sig' });
      expect(key.public_jwk.kty).toBe(key.alg === 'ES256' ? 'EC' : 'RSA');
      expect(key.public_jwk).not.toHaveProperty('d');
      expect(key.activated_at === null).toBe(key.status === 'next');
    }
    const listed = await get(tenant.key);
    expect(listed.body.data).toEqual(expect.arrayContaining(keys));
    expect(listed.body.data).toHaveLength(4);
    const active = await get(tenant.key, '?status=active');
    expect((active.body.data as Key[]).map((key) => key.status)).toEqual(['active', 'active']);

    // The JWKS: active keys first, then the next ones, each with kid, alg and use.
    const jwks = await publicJwks(t.sigid.readModels, tenant.tenantId);
    expect(jwks.keys.map((key) => [key.alg, statuses(keys)[key.kid]])).toEqual([
      ['ES256', 'ES256 active'],
      ['RS256', 'RS256 active'],
      ['ES256', 'ES256 next'],
      ['RS256', 'RS256 next'],
    ]);
    for (const key of jwks.keys)
      expect(Object.keys(key).sort()).toEqual(
        Object.keys(
          key.kty === 'EC'
            ? { alg: 1, crv: 1, kid: 1, kty: 1, use: 1, x: 1, y: 1 }
            : { alg: 1, e: 1, kid: 1, kty: 1, n: 1, use: 1 },
        ).sort(),
      );
  });

  it('rotates twice: the next key signs, the active one is published until retire_at, then retired and destroyed', async () => {
    const tenant = await t.createTenant('Rotations');
    const first = (await rotate(tenant.key)).body.keys as Key[];
    const [es1, es2, rs1, rs2] = [
      ...byStatus(first, 'ES256', 'active'),
      ...byStatus(first, 'ES256', 'next'),
      ...byStatus(first, 'RS256', 'active'),
      ...byStatus(first, 'RS256', 'next'),
    ] as [string, string, string, string];

    const once = await rotate(tenant.key);
    expect(once.body.initialized).toBe(false);
    const afterOnce = once.body.keys as Key[];
    expect(byStatus(afterOnce, 'ES256', 'active')).toEqual([es2]);
    expect(byStatus(afterOnce, 'RS256', 'active')).toEqual([rs2]);
    expect(byStatus(afterOnce, 'ES256', 'retiring')).toEqual([es1]);
    expect(byStatus(afterOnce, 'RS256', 'retiring')).toEqual([rs1]);
    const [es3, rs3] = [...byStatus(afterOnce, 'ES256', 'next'), ...byStatus(afterOnce, 'RS256', 'next')] as [
      string,
      string,
    ];
    const retiring = afterOnce.find((key) => key.id === es1) as Key;
    const retireAt = Date.parse(retiring.retire_at as string);
    expect(retireAt - Date.now()).toBeGreaterThan(0);
    expect(retireAt - Date.now()).toBeLessThanOrEqual(RETENTION_SECONDS * 1000);

    // Only ES256 this time: RS256 is left as it is.
    const twice = await rotate(tenant.key, { alg: 'ES256' });
    const afterTwice = twice.body.keys as Key[];
    expect(byStatus(afterTwice, 'ES256', 'active')).toEqual([es3]);
    expect(byStatus(afterTwice, 'ES256', 'retiring').sort()).toEqual([es1, es2].sort());
    const es4 = byStatus(afterTwice, 'ES256', 'next')[0] as string;
    expect(byStatus(afterTwice, 'RS256', 'active')).toEqual([rs2]);
    expect(byStatus(afterTwice, 'RS256', 'next')).toEqual([rs3]);
    expect(byStatus(afterTwice, 'RS256', 'retiring')).toEqual([rs1]);

    // Before the first retire_at every key is published; after it, the first rotation's retiring keys are not.
    const published = async (at: number) =>
      (await publicJwks(t.sigid.readModels, tenant.tenantId, new Date(at))).keys.map((key) => key.kid);
    expect(await published(retireAt - 1)).toEqual([es3, rs2, es4, rs3, ...[es1, es2].sort(), rs1]);
    expect(await published(retireAt)).toEqual([es3, rs2, es4, rs3, es2]);
    // The set changes by itself at each retire_at: the OIDC layer rebuilds its provider then.
    expect(await nextRetireAt(t.sigid.readModels, tenant.tenantId, new Date(retireAt - 1))).toEqual(new Date(retireAt));
    const es2RetireAt = Date.parse(afterTwice.find((key) => key.id === es2)?.retire_at as string);
    expect(await nextRetireAt(t.sigid.readModels, tenant.tenantId, new Date(retireAt))).toEqual(new Date(es2RetireAt));

    // Once every retire_at has passed, the next rotation retires those keys and destroys their private parts.
    const latest = Math.max(...afterTwice.map((key) => Date.parse(key.retire_at ?? '0')));
    await new Promise((resolve) => setTimeout(resolve, latest - Date.now() + 50));
    const third = (await rotate(tenant.key)).body.keys as Key[];
    expect(third.map((key) => key.id)).not.toContain(es1);
    expect(statuses(third)).toEqual({
      [es3]: 'ES256 retiring',
      [es4]: 'ES256 active',
      [rs2]: 'RS256 retiring',
      [rs3]: 'RS256 active',
      ...Object.fromEntries(byStatus(third, 'ES256', 'next').map((kid) => [kid, 'ES256 next'])),
      ...Object.fromEntries(byStatus(third, 'RS256', 'next').map((kid) => [kid, 'RS256 next'])),
    });
    expect(third).toHaveLength(6);
    const retired = (await get(tenant.key, '?status=retired')).body.data as Key[];
    expect(retired.map((key) => key.id).sort()).toEqual([es1, es2, rs1].sort());
    for (const key of retired) expect(key.retired_at).not.toBeNull();
    const jwks = await publicJwks(t.sigid.readModels, tenant.tenantId);
    expect(jwks.keys.map((key) => key.kid)).not.toEqual(expect.arrayContaining([es1]));
    expect(jwks.keys).toHaveLength(6);
    expect(await nextRetireAt(t.sigid.readModels, tenant.tenantId, new Date(latest))).toEqual(
      new Date(
        Math.min(...third.filter((key) => key.status === 'retiring').map((key) => Date.parse(key.retire_at as string))),
      ),
    );

    const sealed = await t.sigid.readModels
      .selectFrom('sealed_secrets')
      .select(['id', 'activated_at'])
      .where('tenant_id', '=', tenant.tenantId)
      .where('kind', '=', 'signing-key')
      .execute();
    expect(sealed.map((row) => row.id).sort()).toEqual(third.map((key) => key.id).sort());
    for (const row of sealed) expect(row.activated_at).not.toBeNull();

    // The audit log has every change, done by the admin key, on the tenant's signing keys.
    const audit = await t.http
      .get(
        '/api/v1/audit-logs?action=signing_key.created,signing_key.activated,signing_key.superseded,signing_key.retired&limit=200',
      )
      .set('Authorization', `Bearer ${tenant.key}`)
      .expect(200);
    const entries = audit.body.data as Array<{
      action: string;
      actor: { type: string; id: string };
      target: unknown;
      data: { kid: string };
    }>;
    expect(entries.map((entry) => entry.action).reverse()).toEqual([
      ...Array(4).fill('signing_key.created'),
      ...['created', 'activated', 'superseded', 'created', 'activated', 'superseded'].map(
        (verb) => `signing_key.${verb}`,
      ),
      ...['created', 'activated', 'superseded'].map((verb) => `signing_key.${verb}`),
      ...Array(3).fill('signing_key.retired'),
      ...['created', 'activated', 'superseded', 'created', 'activated', 'superseded'].map(
        (verb) => `signing_key.${verb}`,
      ),
    ]);
    for (const entry of entries) {
      expect(entry.actor).toEqual({ type: 'api_key', id: tenant.keyId });
      expect(entry.target).toEqual({ type: 'signing_keys', id: 'signing_keys' });
    }
  });

  it('never lets a private part into an event, the audit log or its export, the event export, an answer or a log line', async () => {
    const tenant = await t.createTenant('No leaks');
    const answers = [(await rotate(tenant.key)).text, (await rotate(tenant.key)).text];
    answers.push((await rotate(tenant.key, { alg: 'RS256' })).text, (await get(tenant.key)).text);
    const { keys } = await signingKeySet(t.sigid, tenant.tenantId);
    // 4 first keys, 2 next ones from the full rotation, 1 from the RS256 one.
    expect(keys).toHaveLength(7);
    const secrets = keys.flatMap((key) => {
      const { kid: _k, alg: _a, use: _u, key_ops: _o, kty: _t, ...members } = key as unknown as Record<string, string>;
      // Every private member, and a public-looking slice of each, must be nowhere.
      return Object.entries(members)
        .filter(([name]) => !['x', 'y', 'n', 'e', 'crv'].includes(name))
        .map(([, value]) => value.slice(0, 32));
    });
    expect(secrets.length).toBe(3 * 1 + 4 * 6);

    const { rows } = await t.sigid.db.query<{ data: string }>(
      `select data::text as data from sigid_events where tenant_id = $1`,
      [tenant.tenantId],
    );
    const places: Record<string, string> = {
      events: rows.map((row) => row.data).join('\n'),
      answers: answers.join('\n'),
      audit: (await t.http.get('/api/v1/audit-logs?limit=200').set('Authorization', `Bearer ${tenant.key}`)).text,
      auditExport: (await t.http.get('/api/v1/audit-logs/export').set('Authorization', `Bearer ${tenant.key}`)).text,
      eventExport: (await t.http.get('/api/v1/events').set('Authorization', `Bearer ${tenant.key}`)).text,
      log: log.text(),
    };
    expect(places.events).toContain('public_jwk');
    expect(places.log).toContain('/api/v1/signing-keys/rotate');
    for (const [place, text] of Object.entries(places)) {
      for (const secret of secrets) expect(text.includes(secret), `a private member in ${place}`).toBe(false);
    }
    const sealed = await t.sigid.readModels
      .selectFrom('sealed_secrets')
      .select('sealed')
      .where('tenant_id', '=', tenant.tenantId)
      .where('kind', '=', 'signing-key')
      .execute();
    for (const row of sealed) {
      const bytes = Buffer.from(row.sealed).toString('latin1');
      for (const secret of secrets) expect(bytes.includes(secret)).toBe(false);
    }

    // The audit export PostgreSQL renders is byte for byte what Node renders for these events.
    let node = '';
    await exportAuditLogInNode(
      t.sigid.log,
      tenant.tenantId,
      {},
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          node += chunk.toString('utf8');
          callback();
        },
      }),
    );
    expect(places.auditExport).toBe(node);
  });

  it('gives oidc-provider private keys that sign what the published public keys verify', async () => {
    const tenant = await t.createTenant('Key set');
    await rotate(tenant.key);
    await rotate(tenant.key);
    const { keys } = await signingKeySet(t.sigid, tenant.tenantId);
    const jwks = await publicJwks(t.sigid.readModels, tenant.tenantId);
    // The same keys in the same order: active (they sign), then next and retiring (published only).
    expect(keys.map((key) => key.kid)).toEqual(jwks.keys.map((key) => key.kid));
    expect(keys.map((key) => key.key_ops ?? null)).toEqual([
      null,
      null,
      ['verify'],
      ['verify'],
      ['verify'],
      ['verify'],
    ]);
    for (const key of keys) {
      const published = jwks.keys.find((candidate) => candidate.kid === key.kid);
      const { key_ops: _ops, ...privateJwk } = key;
      const signed = await new CompactSign(new TextEncoder().encode('proof'))
        .setProtectedHeader({ alg: key.alg, kid: key.kid })
        .sign(await importJWK(privateJwk, key.alg));
      const verified = await compactVerify(signed, await importJWK(published as never, key.alg));
      expect(verified.protectedHeader.kid).toBe(key.kid);
    }
  });

  it("keeps tenants apart: one tenant sees, publishes and signs with none of another's keys", async () => {
    const a = await t.createTenant('Tenant A');
    const b = await t.createTenant('Tenant B');
    const aKeys = ((await rotate(a.key)).body.keys as Key[]).map((key) => key.id);
    expect((await get(b.key)).body.data).toEqual([]);
    expect((await publicJwks(t.sigid.readModels, b.tenantId)).keys).toEqual([]);
    expect((await signingKeySet(t.sigid, b.tenantId)).keys).toEqual([]);
    await rotate(b.key);
    const bKeys = ((await get(b.key)).body.data as Key[]).map((key) => key.id);
    expect(bKeys).toHaveLength(4);
    expect(bKeys.filter((kid) => aKeys.includes(kid))).toEqual([]);
    expect((await signingKeySet(t.sigid, b.tenantId)).keys.map((key) => key.kid).sort()).toEqual([...bKeys].sort());
    // B's rotation left A's keys as they were.
    expect(((await get(a.key)).body.data as Key[]).map((key) => key.id).sort()).toEqual([...aKeys].sort());
    const audit = await t.http.get('/api/v1/audit-logs?limit=200').set('Authorization', `Bearer ${b.key}`).expect(200);
    expect(JSON.stringify(audit.body)).not.toContain(aKeys[0]);
  });

  it('refuses a bad body with 400 and writes nothing', async () => {
    const tenant = await t.createTenant('Refused rotations');
    for (const body of [{ alg: 'HS256' }, { alg: 'es256' }, { alg: 256 }, { alg: 'ES256', overlap_seconds: 1 }, []]) {
      const response = await t.http
        .post('/api/v1/signing-keys/rotate')
        .set('Authorization', `Bearer ${tenant.key}`)
        .send(body as object);
      expect([response.status, response.body.code]).toEqual([400, 'invalid_request']);
    }
    await t.http.get('/api/v1/signing-keys?status=gone').set('Authorization', `Bearer ${tenant.key}`).expect(400);
    expect((await get(tenant.key)).body.data).toEqual([]);
    await t.http.post('/api/v1/signing-keys/rotate').expect(401);
  });

  it('answers a rotation retried with the same Idempotency-Key once, and rotates again for a new key', async () => {
    const tenant = await t.createTenant('Retried rotations');
    await rotate(tenant.key);
    const send = (idempotencyKey: string) =>
      t.http
        .post('/api/v1/signing-keys/rotate')
        .set('Authorization', `Bearer ${tenant.key}`)
        .set('Idempotency-Key', idempotencyKey)
        .send({})
        .expect(200);
    const first = await send('rotate-1');
    const again = await send('rotate-1');
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    const other = await send('rotate-2');
    expect(byStatus(other.body.keys, 'ES256', 'active')).toEqual(byStatus(first.body.keys, 'ES256', 'next'));
  });

  it('ensures keys idempotently: a first set once, even for concurrent callers, then nothing more', async () => {
    const tenant = await t.createTenant('Ensured');
    const context = useCase({
      tenantId: tenant.tenantId,
      actor: { type: 'system', id: 'oidc' },
      correlationId: 'req_x',
    });
    const [one, two] = await Promise.all([
      ensureSigningKeys(t.sigid, tenant.tenantId, context),
      ensureSigningKeys(t.sigid, tenant.tenantId, context),
    ]);
    expect([one.initialized, two.initialized].sort()).toEqual([false, true]);
    const { rows } = await t.sigid.db.query<{ count: number }>(
      `select count(*)::int as count from sigid_events where tenant_id = $1 and event_type = 'signing_key.created'`,
      [tenant.tenantId],
    );
    expect(rows[0]?.count).toBe(4);
    const again = await ensureSigningKeys(t.sigid, tenant.tenantId, context);
    expect(again).toEqual({ initialized: false, written: expect.objectContaining({ position: null }) });
    expect((await signingKeySet(t.sigid, tenant.tenantId)).keys).toHaveLength(4);
  });

  it('repeats a rotation run again with the same ids (a retry whose first answer was lost) as a no-op, with the keys it sealed', async () => {
    const tenant = await t.createTenant('Same ids');
    await rotate(tenant.key);
    const seed = createHmac('sha256', 'test').update(tenant.tenantId).digest();
    const at = new Date();
    const run = () =>
      rotateSigningKeys(
        t.sigid,
        tenant.tenantId,
        useCase(
          { tenantId: tenant.tenantId, actor: { type: 'system', id: 'test' }, correlationId: 'req_y' },
          seededRandom(seed, at),
        ),
      );
    const first = await run();
    expect(first.written.position).not.toBeNull();
    const keysAfterFirst = await signingKeySet(t.sigid, tenant.tenantId);
    const second = await run();
    expect(second).toEqual({ initialized: false, written: expect.objectContaining({ position: null }) });
    expect(await signingKeySet(t.sigid, tenant.tenantId)).toEqual(keysAfterFirst);
    const sealed = await t.sigid.readModels
      .selectFrom('sealed_secrets')
      .select('id')
      .where('tenant_id', '=', tenant.tenantId)
      .where('kind', '=', 'signing-key')
      .execute();
    expect(sealed).toHaveLength(6);
  });
});

describe('signing_keys projection', () => {
  let specs: Awaited<ReturnType<typeof openProjectionSpecs>>;
  beforeAll(async () => {
    specs = await openProjectionSpecs();
  });
  afterAll(() => specs?.close());

  const stream = `${SPEC_TENANT}-signing_keys`;
  const jwk = { kty: 'EC' as const, crv: 'P-256' as const, x: 'eA', y: 'eQ' };
  const row = (kid: string, values: Record<string, unknown>) => ({
    tenant_id: SPEC_TENANT,
    kid,
    alg: 'ES256',
    public_jwk: jwk,
    created_at: SPEC_TIME,
    activated_at: null,
    retire_at: null,
    retired_at: null,
    ...values,
  });

  it('follows each key from next to retired, applying each event once', async () => {
    const retireAt = '2026-12-02T12:00:00.000Z';
    await specs
      .specFor(signingKeysProjection)([
        {
          type: 'signing_key.created',
          stream,
          data: { kid: 'kid_a', alg: 'ES256', use: 'sig', public_jwk: jwk, status: 'active' },
        },
        {
          type: 'signing_key.created',
          stream,
          data: { kid: 'kid_b', alg: 'ES256', use: 'sig', public_jwk: jwk, status: 'next' },
        },
        { type: 'signing_key.activated', stream, data: { kid: 'kid_b', alg: 'ES256' } },
        {
          type: 'signing_key.superseded',
          stream,
          data: { kid: 'kid_a', alg: 'ES256', superseded_by: 'kid_b', retire_at: retireAt },
        },
        { type: 'signing_key.retired', stream, data: { kid: 'kid_a', alg: 'ES256' } },
      ])
      .thenRows('signing_keys', [
        row('kid_a', {
          status: 'retired',
          activated_at: SPEC_TIME,
          retire_at: new Date(retireAt),
          retired_at: SPEC_TIME,
          revision: 4,
        }),
        row('kid_b', { status: 'active', activated_at: SPEC_TIME, revision: 2 }),
      ]);
  });
});
