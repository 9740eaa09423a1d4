import { expect } from 'vitest';
import type { Sigid } from '../../src/sigid.ts';

/**
 * Waits until every projection has read every event committed so far. Not `waitFor(headPosition())`:
 * the gap-free head stops below a hole (a position burnt by a refused append, or one still in flight)
 * until every transaction that could fill it has ended, which on a PostgreSQL shared with other suites
 * can be a moment after an append this test just made; the highest committed position is waited for
 * instead (the runners pass the hole once it is known to stay empty).
 */
export async function settled(sigid: Pick<Sigid, 'db' | 'projections' | 'store'>, timeoutMs = 60_000): Promise<void> {
  const head =
    sigid.store.backend === 'esdb'
      ? await sigid.store.headPosition()
      : ((
          await sigid.db.query<{ position: number | null }>('select max(global_position) as position from sigid_events')
        ).rows[0]?.position ?? 0);
  expect(await sigid.projections.waitFor(head, timeoutMs)).toBe(true);
}
