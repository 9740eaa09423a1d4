import { randomUUID } from 'node:crypto';
import { firstValueFrom, take, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiKeyEvents } from '../events/api-key.ts';
import { EventCatalog } from '../events/catalog.ts';
import { defineEvent } from '../events/envelope.ts';
import { reservationEvents } from '../events/reservation.ts';
import { subjectEvents } from '../events/subject.ts';
import { tenantEvents } from '../events/tenant.ts';
import { erasePersonalData } from '../services/erasure.ts';
import { streamName } from '../src/event-store/port.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

/**
 * A catalog with one extra event that carries personal data and has an older version, standing in
 * for the user events of a later issue: the mechanism under test is the catalog's, not the event's.
 */
const personRegistered = defineEvent({
  type: 'person.registered',
  version: 2,
  description: 'test: a person registered',
  schema: z.object({ person_id: z.string(), email: z.string(), display_name: z.string(), plan: z.string() }),
  personal: { subject: (data) => data.person_id, fields: ['email', 'display_name'] },
});

const catalog = new EventCatalog(
  [...tenantEvents, ...apiKeyEvents, ...subjectEvents, ...reservationEvents, personRegistered],
  [
    {
      type: 'person.registered',
      fromVersion: 1,
      // v1 called it `name` and had no plan.
      upcast: ({ name, ...rest }) => ({ ...rest, display_name: name, plan: 'free' }),
    },
  ],
);

describe('event log: validation, upcasting and crypto-shredding', () => {
  let t: TestSigid;
  let tenant: Awaited<ReturnType<TestSigid['createTenant']>>;
  const context = () => ({
    tenantId: tenant.tenantId,
    actor: { type: 'system' as const, id: 'test' },
    correlationId: randomUUID(),
  });

  beforeAll(async () => {
    t = await startSigid({ backend: 'pglite', catalog });
    tenant = await t.createTenant('Shredding');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses an event whose data does not match its schema, and appends nothing', async () => {
    const stream = streamName(tenant.tenantId, 'person_invalid');
    await expect(
      t.sigid.log.append(stream, [{ type: 'person.registered', data: { person_id: 'p' } }], 'any', context()),
    ).rejects.toThrow();
    await expect(t.sigid.log.append(stream, [{ type: 'no.such.event', data: {} }], 'any', context())).rejects.toThrow(
      /unknown event type/,
    );
    expect(await t.sigid.store.readStream(stream)).toEqual([]);
  });

  it('reads an old version through its upcaster', async () => {
    const personId = 'person_old';
    const stream = streamName(tenant.tenantId, personId);
    // Written as v1 was, before `display_name` and `plan` existed (no personal-data sealing then).
    await t.sigid.store.append(
      stream,
      [
        {
          id: randomUUID(),
          type: 'person.registered',
          version: 1,
          data: { person_id: personId, email: 'old@example.com', name: 'Old Timer' },
          metadata: { ...context(), causationId: null },
        },
      ],
      'no_stream',
    );
    const [event] = await t.sigid.log.readStream(stream);
    expect(event?.version).toBe(2);
    expect(event?.data).toEqual({
      person_id: personId,
      email: 'old@example.com',
      display_name: 'Old Timer',
      plan: 'free',
    });
  });

  it('stores personal fields sealed, and after erasure reads them as null everywhere while the event stays', async () => {
    const personId = 'person_ada';
    const stream = streamName(tenant.tenantId, personId);
    await t.sigid.log.append(
      stream,
      [
        {
          type: 'person.registered',
          data: { person_id: personId, email: 'ada@example.com', display_name: 'Ada Lovelace', plan: 'pro' },
        },
      ],
      'no_stream',
      context(),
    );
    const raw = await t.sigid.store.readStream(stream);
    expect(JSON.stringify(raw)).not.toContain('ada@example.com');
    expect(JSON.stringify(raw)).not.toContain('Ada Lovelace');
    const [readable] = await t.sigid.log.readStream(stream);
    expect(readable?.data).toMatchObject({ email: 'ada@example.com', display_name: 'Ada Lovelace' });

    await erasePersonalData(t.sigid, personId, context());

    // Reads.
    const [erased, erasure] = await t.sigid.log.readStream(stream);
    expect(erased?.data).toEqual({ person_id: personId, email: null, display_name: null, plan: 'pro' });
    expect(erasure?.type).toBe('subject.personal_data.erased');
    // Replays: decoding the stream again from zero.
    const replayed = await firstValueFrom(
      t.sigid.store.subscribe({ tenantId: tenant.tenantId, types: ['person.registered'] }).pipe(take(2), toArray()),
    );
    const decoded = await t.sigid.log.decodeAll(replayed);
    expect(decoded.find((event) => event.stream === stream)?.data).toMatchObject({ email: null, display_name: null });
    // Exports, through the API, and the audit log.
    const exported = await t.http.get('/api/v1/events').set('Authorization', `Bearer ${tenant.key}`).expect(200);
    expect(exported.text).not.toContain('ada@example.com');
    const lines = exported.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.find((line) => line.stream === stream && line.type === 'person.registered').data).toEqual({
      person_id: personId,
      email: null,
      display_name: null,
      plan: 'pro',
    });
    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${personId}`)
      .set('Authorization', `Bearer ${tenant.key}`)
      .expect(200);
    expect(audit.body.data.map((entry: { action: string }) => entry.action)).toEqual([
      'subject.personal_data.erased',
      'person.registered',
    ]);
    expect(audit.body.data[1].data.email).toBeNull();

    // Nothing new about an erased subject is ever written readable.
    await t.sigid.log.append(
      stream,
      [
        {
          type: 'person.registered',
          data: { person_id: personId, email: 'again@example.com', display_name: 'A', plan: 'x' },
        },
      ],
      'any',
      context(),
    );
    const raw2 = await t.sigid.store.readStream(stream);
    expect(JSON.stringify(raw2)).not.toContain('again@example.com');
  });

  it("keeps one subject's erasure from touching another's data", async () => {
    const stream = streamName(tenant.tenantId, 'person_grace');
    await t.sigid.log.append(
      stream,
      [
        {
          type: 'person.registered',
          data: { person_id: 'person_grace', email: 'grace@example.com', display_name: 'Grace', plan: 'pro' },
        },
      ],
      'no_stream',
      context(),
    );
    await erasePersonalData(t.sigid, 'person_someone_else', context());
    const [event] = await t.sigid.log.readStream(stream);
    expect(event?.data).toMatchObject({ email: 'grace@example.com' });
  });
});
