import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventCatalog, catalog as sigidCatalog } from '../events/catalog.ts';
import { defineEvent } from '../events/envelope.ts';
import { erasePersonalData } from '../services/erasure.ts';
import type { AuditFilter } from '../src/audit.ts';
import { type AuditExportOptions, exportAuditLog, exportAuditLogInNode } from '../src/audit-export/export.ts';
import { sqlAuditData } from '../src/audit-export/sql-data.ts';
import type { Actor } from '../src/event-store/port.ts';
import { streamName } from '../src/event-store/port.ts';
import { backends } from './support/databases.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

/** Personal data (sealed, opened in Node) and an older version (upcast in Node). */
const personRegistered = defineEvent({
  type: 'person.registered',
  version: 2,
  description: 'test: a person registered',
  schema: z.object({ person_id: z.string(), email: z.string(), display_name: z.string(), plan: z.string() }),
  personal: { subject: (data) => data.person_id, fields: ['email', 'display_name'] },
});

/** Every shape the SQL rendering writes itself, in a key order jsonb does not keep. */
const sampleRecorded = defineEvent({
  type: 'sample.recorded',
  version: 3,
  description: 'test: every renderable shape',
  schema: z.object({
    zeta: z.string(),
    a: z.string().nullable(),
    count: z.number(),
    position: z.number().int().nonnegative().nullable(),
    flag: z.boolean(),
    kind: z.enum(['manual', 'gone']),
    fixed: z.literal('v'),
    note: z.string().optional(),
    tags: z.array(z.string()),
    items: z.array(z.object({ y: z.string(), x: z.number().optional() })),
    changes: z.object({ url: z.string().optional(), event_types: z.array(z.string()).min(1).optional() }),
    nested: z.object({ b: z.string(), aa: z.object({}) }).nullable(),
    at: z.iso.datetime(),
  }),
});

/** Shapes only Node writes exactly: a record (integer-like keys reorder in JS) and a loose object. */
const sampleLoose = defineEvent({
  type: 'sample.loose',
  version: 1,
  description: 'test: not renderable in SQL',
  schema: z.object({ labels: z.record(z.string(), z.string()), extra: z.looseObject({ k: z.string() }) }),
});

const catalog = new EventCatalog(
  [...sigidCatalog.types().map((type) => sigidCatalog.get(type)), personRegistered, sampleRecorded, sampleLoose],
  [
    {
      type: 'person.registered',
      fromVersion: 1,
      upcast: ({ name, ...rest }) => ({ ...rest, display_name: name, plan: 'free' }),
    },
    { type: 'sample.recorded', fromVersion: 1, upcast: (data) => ({ ...data, kind: 'manual' }) },
    { type: 'sample.recorded', fromVersion: 2, upcast: (data) => ({ ...data, fixed: 'v' }) },
  ],
);

/** Text that JSON escapes: quotes, backslashes, control characters, separators jsonb writes, non-ASCII. */
const awkward = 'say "hi", \\ back\\slash: tab\there\nnew line \u0001\u001f\u007f é ü 😀 \u2028 {"a": 1, "b": [2]}';

function sample(index: number, overrides: Record<string, unknown> = {}) {
  return {
    zeta: `${awkward} #${index}`,
    a: index % 2 === 0 ? null : 'null',
    count: index * 7 - 3,
    position: index % 3 === 0 ? null : 9007199254740991 - index,
    flag: index % 2 === 1,
    kind: index % 2 === 0 ? 'manual' : 'gone',
    fixed: 'v',
    ...(index % 2 === 0 ? { note: `note, ${index}: ok` } : {}),
    tags: index % 3 === 0 ? [] : ['a, b', 'c: d', awkward],
    items: [{ y: 'first' }, { y: 'second', x: index }],
    changes: index % 2 === 0 ? {} : { event_types: ['tenant.*'], url: 'https://example.com/h?a=1&b=2' },
    nested: index % 4 === 0 ? null : { b: 'b', aa: {} },
    at: '2026-12-01T12:00:00.000Z',
    ...overrides,
  };
}

/** Collects what an export writes, as the bytes a client would receive. */
function collector(): { out: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { out, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe.each(backends)('audit export rendered in SQL ($name)', ({ name: backend }) => {
  let t: TestSigid;
  let tenantId: string;
  let otherTenantId: string;
  let midpoint: Date;

  const system: Actor = { type: 'system', id: 'test "runner" ✓' };
  const context = (actor: Actor = system, causationId: string | null = null) => ({
    tenantId,
    actor,
    correlationId: `corr "${randomUUID()}"\n`,
    causationId,
  });

  async function append(entity: string, type: string, data: unknown, actor?: Actor, causationId?: string | null) {
    await t.sigid.log.append(streamName(tenantId, entity), [{ type, data }], 'any', context(actor, causationId));
  }

  /** Writes an event as an older version once was, straight to the store (no sealing, no validation). */
  async function appendRaw(entity: string, type: string, version: number, data: unknown) {
    await t.sigid.store.append(
      streamName(tenantId, entity),
      [{ id: randomUUID(), type, version, data, metadata: { ...context(), causationId: null } }],
      'any',
    );
  }

  async function exportBoth(filter: AuditFilter = {}, options: AuditExportOptions = {}) {
    const sql = collector();
    const node = collector();
    const sqlResult = await exportAuditLog(t.sigid, tenantId, filter, sql.out, options);
    const nodeResult = await exportAuditLogInNode(t.sigid.log, tenantId, filter, node.out, options);
    return { sql: sql.text(), node: node.text(), sqlResult, nodeResult };
  }

  beforeAll(async () => {
    t = await startSigid({ backend, catalog });
    ({ tenantId } = await t.createTenant('Exported'));
    otherTenantId = (await t.createTenant('Another')).tenantId;
    const other = { tenantId: otherTenantId, actor: system, correlationId: 'other' };
    for (let index = 0; index < 12; index++) {
      const entity = ['ten_x', 'key_x', 'whk_x', 'op_x', 'nounderscore', 'with-dash_y', 'constructor_z'][index % 7];
      await append(
        entity as string,
        'sample.recorded',
        sample(index),
        index % 2 ? system : { type: 'api_key', id: 'key_1' },
        index % 3 ? null : `cause-${index}`,
      );
      if (index === 5) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        midpoint = new Date();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await t.sigid.log.append(
        streamName(otherTenantId, 'ten_x'),
        [{ type: 'sample.recorded', data: sample(index) }],
        'any',
        other,
      );
    }
    // Numbers only Node writes as JavaScript does: fractions, exponents; and values jsonb keeps oddly.
    await append('ten_x', 'sample.recorded', sample(20, { count: 1.5 }));
    await append('ten_x', 'sample.recorded', sample(21, { count: 1.5e-7 }));
    await append('ten_x', 'sample.recorded', sample(22, { count: 1e21 }));
    await append('ten_x', 'sample.recorded', sample(23, { items: [{ y: 'n', x: 0.1 }] }));
    await t.sigid.db.query(
      `insert into sigid_events (event_id, stream_name, stream_revision, tenant_id, event_type, event_version, data,
                                 actor_type, actor_id, correlation_id)
       values ($1, $2, 0, $3, 'sample.recorded', 3, $4::jsonb, 'system', 'sql', 'seeded')`,
      [
        randomUUID(),
        streamName(tenantId, 'seeded_1'),
        tenantId,
        JSON.stringify(sample(24)).replace('"count":165', '"count":165.0,"unknown":1'),
      ],
    );
    await t.sigid.db.query(`insert into sigid_streams (stream_name, tenant_id, revision) values ($1, $2, 0)`, [
      streamName(tenantId, 'seeded_1'),
      tenantId,
    ]);
    // Times PostgreSQL writes in every form: no fraction, one digit, six digits (truncated to milliseconds).
    for (const [index, at] of [
      '2026-12-01 12:00:00+00',
      '2026-12-01 12:00:00.5+00',
      '2026-12-01 12:00:00.120000+00',
      '2026-12-01 12:00:00.999999+00',
    ].entries()) {
      await t.sigid.db.query(
        `insert into sigid_events (event_id, stream_name, stream_revision, tenant_id, event_type, event_version, data,
                                   actor_type, actor_id, correlation_id, recorded_at)
         values ($1, $2, 0, $3, 'sample.recorded', 3, $4::jsonb, 'system', 'sql', 'timed', $5::timestamptz)`,
        [randomUUID(), streamName(tenantId, `timed_${index}`), tenantId, JSON.stringify(sample(40 + index)), at],
      );
      await t.sigid.db.query(`insert into sigid_streams (stream_name, tenant_id, revision) values ($1, $2, 0)`, [
        streamName(tenantId, `timed_${index}`),
        tenantId,
      ]);
    }
    // Older versions, upcast in Node.
    const { kind: _kind, fixed: _fixed, ...v1 } = sample(30);
    await appendRaw('ten_x', 'sample.recorded', 1, v1);
    await appendRaw('ten_x', 'sample.recorded', 2, { ...v1, kind: 'gone' });
    await appendRaw('person_old', 'person.registered', 1, {
      person_id: 'person_old',
      email: 'old@example.com',
      name: awkward,
    });
    // Personal data, one subject erased.
    for (const person of ['person_ada', 'person_grace']) {
      await append(person, 'person.registered', {
        person_id: person,
        email: `${person}@example.com`,
        display_name: awkward,
        plan: 'pro',
      });
    }
    await erasePersonalData(t.sigid, 'person_ada', context());
    await append('loose_1', 'sample.loose', {
      labels: { b: '1', '10': 'ten', '2': 'two', a: 'x' },
      extra: { k: 'v', z: 1, a: [1, 2] },
    });
    await append('ten_x', 'sample.recorded', sample(40));
    // Both exports stop at the store's gap-free head as each begins: wait until it covers every event
    // written above (rows inserted by hand can sit behind it for a moment), so both see the same ones.
    const { rows } = await t.sigid.db.query<{ last: string }>('select max(global_position) as last from sigid_events');
    for (let waited = 0; (await t.sigid.log.store.headPosition()) < Number(rows[0]?.last); waited += 20) {
      if (waited > 10_000) throw new Error('the head never reached the last event');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('writes byte for byte what Node writes, in the same order, rendering most records in SQL', async () => {
    const { sql, node, sqlResult, nodeResult } = await exportBoth();
    expect(sql).toBe(node);
    const lines = sql
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(sqlResult.records).toBe(lines.length);
    expect(nodeResult.records).toBe(lines.length);
    // In SQL: 12 samples + the last one, the 4 hand-timed ones, and tenant.created, api_key.created
    // and the erasure (the real catalog's types); in Node: 4 with numbers JS writes its own way, the
    // one seeded with `165.0`, 3 old versions, 2 with personal data and the loose one.
    expect(sqlResult.renderedInSql).toBe(20);
    expect(sqlResult.records).toBe(31);
    expect(lines.every((line) => line.tenant_id === tenantId)).toBe(true);
    expect(lines.map((line) => line.position)).toEqual([...lines.map((line) => line.position)].sort((a, b) => a - b));
    // The erased subject reads as null; the other one, and the upcast old record, read in full.
    const people = lines.filter((line) => line.action === 'person.registered');
    expect(people.map((line) => line.data.email)).toEqual(['old@example.com', null, 'person_grace@example.com']);
    expect(sql).not.toContain('person_ada@example.com');
    expect(lines.find((line) => line.target.id === 'constructor_z').target).toEqual({
      type: 'constructor',
      id: 'constructor_z',
    });
  });

  it('is the same across page boundaries and with every filter', async () => {
    for (const filter of [
      {},
      { since: midpoint },
      { until: midpoint },
      { since: midpoint, until: new Date(Date.now() + 60_000) },
      { actions: ['sample.recorded', 'person.registered'] },
      { actorId: 'key_1' },
      { targetId: 'ten_x' },
    ] satisfies AuditFilter[]) {
      for (const pageSize of [1, 3, 2000]) {
        const { sql, node, sqlResult } = await exportBoth(filter, { pageSize });
        expect(sql, JSON.stringify({ filter, pageSize })).toBe(node);
        expect(sqlResult.complete).toBe(true);
      }
    }
    const { sql } = await exportBoth({ since: midpoint });
    expect(sql.trimEnd().split('\n').length).toBeGreaterThan(5);
  });

  it("never shows another tenant's events", async () => {
    const { sql } = await exportBoth();
    expect(sql).not.toContain(otherTenantId);
    const other = collector();
    await exportAuditLog(t.sigid, otherTenantId, {}, other.out);
    const lines = other
      .text()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.length).toBe(14);
    expect(lines.every((line) => line.tenant_id === otherTenantId)).toBe(true);
  });

  it('serves the same bytes over HTTP', async () => {
    const { key } = await t.createTenant('Over HTTP');
    const response = await t.http.get('/api/v1/audit-logs/export').set('Authorization', `Bearer ${key}`).expect(200);
    const tenant = JSON.parse(response.text.split('\n')[0] as string).tenant_id as string;
    const node = collector();
    await exportAuditLogInNode(t.sigid.log, tenant, {}, node.out);
    expect(response.text).toBe(node.text());
    expect(response.text.trimEnd().split('\n')).toHaveLength(2);
  });

  it('classifies which event types SQL renders', () => {
    const { types } = sqlAuditData(catalog);
    expect(types).toContain('sample.recorded');
    expect(types).toContain('tenant.created');
    expect(types).toContain('webhook.endpoint.updated');
    expect(types).not.toContain('person.registered');
    expect(types).not.toContain('sample.loose');
  });

  if (backend === 'postgres') {
    it('stops at the gap-free head: an event behind an uncommitted one waits for it', async () => {
      const client = new pg.Client({ connectionString: t.sigid.config.databaseUrl });
      await client.connect();
      try {
        const stream = streamName(tenantId, 'ten_late');
        await client.query('begin');
        // Takes a position, as an append in flight does, and holds it.
        await client.query(`insert into sigid_streams (stream_name, tenant_id, revision) values ($1, $2, 0)`, [
          stream,
          tenantId,
        ]);
        await client.query(
          `insert into sigid_events (event_id, stream_name, stream_revision, tenant_id, event_type, event_version, data,
                                     actor_type, actor_id, correlation_id)
           values ($1, $2, 0, $3, 'sample.recorded', 3, $4::jsonb, 'system', 'late', 'late')`,
          [randomUUID(), stream, tenantId, JSON.stringify(sample(50))],
        );
        await append('ten_x', 'sample.recorded', sample(51));
        const before = collector();
        await exportAuditLog(t.sigid, tenantId, {}, before.out);
        expect(before.text()).not.toContain('#51');
        expect(before.text()).not.toContain('#50');
        await client.query('commit');
        const after = collector();
        await exportAuditLog(t.sigid, tenantId, {}, after.out);
        expect(after.text()).toContain('#50');
        expect(after.text()).toContain('#51');
      } finally {
        await client.end();
      }
    });

    it('gives its session back when stopped midway or when its output closes, however often', async () => {
      for (let run = 0; run < 25; run++) {
        const controller = new AbortController();
        const stopped = collector();
        const exporting = exportAuditLog(t.sigid, tenantId, {}, stopped.out, { signal: controller.signal });
        controller.abort();
        expect((await exporting).complete).toBe(false);
        const closed = collector();
        closed.out.destroy();
        expect((await exportAuditLog(t.sigid, tenantId, {}, closed.out)).complete).toBe(false);
      }
      // More stopped exports than the pool has sessions, and the next one still runs to the end.
      const full = collector();
      const node = collector();
      const { records } = await exportAuditLogInNode(t.sigid.log, tenantId, {}, node.out);
      expect(await exportAuditLog(t.sigid, tenantId, {}, full.out)).toMatchObject({ complete: true, records });
      expect(full.text()).toBe(node.text());
    });
  }
});
