import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '../events/catalog.ts';
import { subjectKeysFor } from '../src/crypto/subject-keys.ts';
import type { Database } from '../src/db/database.ts';
import { EventLog } from '../src/event-log.ts';
import type { EventStore } from '../src/event-store/port.ts';
import { streamName } from '../src/event-store/port.ts';
import { PostgresEventStore } from '../src/event-store/postgres.ts';
import { tokenContext, tokenIssued } from '../src/oidc/adapter.ts';
import { TOKEN_STREAM, TokenLog } from '../src/oidc/token-log.ts';
import { freshEmbedded } from './support/databases.ts';

/**
 * Every token's event is in the store before its request answers; concurrent requests share appends,
 * and back-to-back appends of one tenant are spaced so that a burst grows batches instead of appends.
 */
describe('the token log', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let store: PostgresEventStore;
  let log: EventLog;
  /** When each append started, and how many events it carried. */
  const appends: Array<{ at: number; events: number }> = [];

  beforeAll(async () => {
    ({ db, drop } = await freshEmbedded());
    store = new PostgresEventStore(db);
    const append: EventStore['append'] = store.append.bind(store);
    store.append = (stream, events, expected) => {
      appends.push({ at: performance.now(), events: events.length });
      return append(stream, events, expected);
    };
    log = new EventLog(store, catalog, subjectKeysFor(db));
  });
  afterAll(async () => {
    await drop?.();
  });

  let jti = 0;
  const record = (tokens: TokenLog, tenantId: string) =>
    tokens.record(
      tokenIssued(
        'access_token',
        'jwt',
        { jti: `jti_${++jti}`, clientId: 'app_test', scope: 'read', exp: 2e9 },
        'client_credentials',
      ),
      tokenContext(tenantId, null, 'app_test'),
    );
  const stored = async (tenantId: string) => (await log.readStream(streamName(tenantId, TOKEN_STREAM))).length;

  it('appends the event of an idle log at once, and those arriving meanwhile together in the next append', async () => {
    appends.length = 0;
    const tokens = new TokenLog(log);
    const first = record(tokens, 'ten_burst');
    const rest = Array.from({ length: 20 }, () => record(tokens, 'ten_burst'));
    await Promise.all([first, ...rest]);
    expect(appends.map((append) => append.events)).toEqual([1, 20]);
    expect(await stored('ten_burst')).toBe(21);
  });

  it('starts back-to-back appends at most every interval, losing no event', async () => {
    appends.length = 0;
    const tokens = new TokenLog(log, { intervalMs: 25 });
    const recorded: Promise<void>[] = [];
    const until = performance.now() + 300;
    while (performance.now() < until) {
      recorded.push(record(tokens, 'ten_steady'));
      await sleep(1);
    }
    await Promise.all(recorded);
    expect(appends.length).toBeGreaterThan(2);
    // ~300 events over 300 ms: at most one append per 25 ms (and one more at the start), not one per event.
    expect(appends.length).toBeLessThanOrEqual(300 / 25 + 2);
    for (let index = 1; index < appends.length; index++) {
      expect((appends[index] as { at: number }).at - (appends[index - 1] as { at: number }).at).toBeGreaterThanOrEqual(
        23, // a timer may fire a little under its interval
      );
    }
    expect(appends.reduce((sum, append) => sum + append.events, 0)).toBe(recorded.length);
    expect(await stored('ten_steady')).toBe(recorded.length);
  });

  it("keeps tenants apart: one tenant's busy log does not hold up another's first event", async () => {
    appends.length = 0;
    const tokens = new TokenLog(log, { intervalMs: 300 });
    await record(tokens, 'ten_one');
    const busy = record(tokens, 'ten_one'); // waits for the rest of ten_one's interval
    const started = performance.now();
    await record(tokens, 'ten_two');
    expect(performance.now() - started).toBeLessThan(250);
    await busy;
    expect(await stored('ten_one')).toBe(2);
    expect(await stored('ten_two')).toBe(1);
  });
});
