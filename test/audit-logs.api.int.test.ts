import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSigid, type TestSigid } from './support/sigid.ts';

interface Entry {
  id: string;
  position: number;
  action: string;
  time: string;
  actor: { type: string; id: string };
  target: { type: string; id: string };
  tenant_id: string;
}

describe('audit log and event export, straight off the event stream', () => {
  let t: TestSigid;
  let tenant: Awaited<ReturnType<TestSigid['createTenant']>>;
  let other: Awaited<ReturnType<TestSigid['createTenant']>>;
  let secondKeyId: string;
  let midpoint: string;

  const auth = () => `Bearer ${tenant.key}`;

  beforeAll(async () => {
    t = await startSigid({ backend: 'pglite' });
    tenant = await t.createTenant('Audited');
    other = await t.createTenant('Someone else');
    const second = await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', auth())
      .send({ name: 'second' })
      .expect(201);
    secondKeyId = second.body.id;
    await new Promise((resolve) => setTimeout(resolve, 20));
    midpoint = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (let index = 0; index < 5; index++) {
      await t.http
        .patch(`/api/v1/tenants/${tenant.tenantId}`)
        .set('Authorization', t.operator)
        .send({ name: `Audited ${index}` })
        .expect(200);
    }
    await t.http.delete(`/api/v1/api-keys/${secondKeyId}`).set('Authorization', auth()).expect(204);
    // Noise in the other tenant, interleaved.
    await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${other.key}`)
      .send({ name: 'noise' })
      .expect(201);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function all(query = ''): Promise<Entry[]> {
    const response = await t.http.get(`/api/v1/audit-logs?limit=200${query}`).set('Authorization', auth()).expect(200);
    return response.body.data;
  }

  it('shows every change of the tenant, newest first, with actor, target, time and correlation', async () => {
    const entries = await all();
    expect(entries.map((entry) => entry.action)).toEqual([
      'api_key.revoked',
      ...Array(5).fill('tenant.renamed'),
      'api_key.created',
      'api_key.created',
      'tenant.created',
    ]);
    const positions = entries.map((entry) => entry.position);
    expect([...positions].sort((a, b) => b - a)).toEqual(positions);
    expect(entries[0]).toMatchObject({
      actor: { type: 'api_key', id: tenant.keyId },
      target: { type: 'api_key', id: secondKeyId },
      tenant_id: tenant.tenantId,
    });
    expect(entries.every((entry) => entry.tenant_id === tenant.tenantId)).toBe(true);
  });

  it('filters by action, actor, target and time range', async () => {
    expect((await all('&action=tenant.renamed')).length).toBe(5);
    expect((await all('&action=tenant.created,api_key.revoked')).map((entry) => entry.action)).toEqual([
      'api_key.revoked',
      'tenant.created',
    ]);
    const byKey = await all(`&actor=${tenant.keyId}`);
    expect(byKey.map((entry) => entry.action)).toEqual(['api_key.revoked', 'api_key.created']);
    const onSecondKey = await all(`&target=${secondKeyId}`);
    expect(onSecondKey.map((entry) => entry.action)).toEqual(['api_key.revoked', 'api_key.created']);
    const after = await all(`&since=${encodeURIComponent(midpoint)}`);
    expect(after.map((entry) => entry.action)).toEqual(['api_key.revoked', ...Array(5).fill('tenant.renamed')]);
    const before = await all(`&until=${encodeURIComponent(midpoint)}`);
    expect(before.map((entry) => entry.action)).toEqual(['api_key.created', 'api_key.created', 'tenant.created']);
    // Another tenant's actor is simply not in this log.
    expect(await all(`&actor=${other.keyId}`)).toEqual([]);
  });

  it('pages by cursor forwards and back without losing or repeating an entry', async () => {
    const everything = await all();
    const seen: Entry[] = [];
    let cursor: string | null = null;
    const pages: Array<{ data: Entry[]; next: string | null; previous: string | null }> = [];
    do {
      const query: string = cursor ? `&starting_after=${cursor}` : '';
      const response = await t.http.get(`/api/v1/audit-logs?limit=4${query}`).set('Authorization', auth()).expect(200);
      pages.push({
        data: response.body.data,
        next: response.body.next_cursor,
        previous: response.body.previous_cursor,
      });
      seen.push(...response.body.data);
      cursor = response.body.next_cursor;
    } while (cursor);
    expect(seen.map((entry) => entry.id)).toEqual(everything.map((entry) => entry.id));
    expect(pages.length).toBe(3);
    expect(pages[0]?.previous).toBeNull();

    // Back from the last page to the one before it.
    const back = await t.http
      .get(`/api/v1/audit-logs?limit=4&ending_before=${pages[2]?.previous}`)
      .set('Authorization', auth())
      .expect(200);
    expect(back.body.data.map((entry: Entry) => entry.id)).toEqual(pages[1]?.data.map((entry) => entry.id));

    // Oldest first works the same way.
    const ascending = await t.http
      .get('/api/v1/audit-logs?limit=200&order=asc')
      .set('Authorization', auth())
      .expect(200);
    expect(ascending.body.data.map((entry: Entry) => entry.id)).toEqual(
      [...everything].reverse().map((entry) => entry.id),
    );
  });

  it('exports the same records as NDJSON, filtered the same way', async () => {
    const response = await t.http.get('/api/v1/audit-logs/export').set('Authorization', auth()).expect(200);
    expect(response.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = response.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Entry);
    const everything = await all();
    expect(lines).toEqual([...everything].reverse());
    const filtered = await t.http
      .get('/api/v1/audit-logs/export?action=tenant.renamed')
      .set('Authorization', auth())
      .expect(200);
    expect(filtered.text.trim().split('\n')).toHaveLength(5);
  });

  it('streams raw events from a position for auditors, resumable', async () => {
    const response = await t.http.get('/api/v1/events').set('Authorization', auth()).expect(200);
    const events = response.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.map((event: { type: string }) => event.type)).toEqual(
      [...(await all())].reverse().map((e) => e.action),
    );
    expect(events[0]).toMatchObject({ type: 'tenant.created', version: 1, revision: 0, tenant_id: tenant.tenantId });
    expect(events[0].stream).toBe(`${tenant.tenantId}-${tenant.tenantId}`);
    const resumeFrom = events[3].position;
    const rest = await t.http
      .get(`/api/v1/events?from_position=${resumeFrom}`)
      .set('Authorization', auth())
      .expect(200);
    const restEvents = rest.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(restEvents.map((event: { id: string }) => event.id)).toEqual(
      events.slice(4).map((event: { id: string }) => event.id),
    );
  });
});
