import type { Request } from 'express';
import type { Sigid } from '../sigid.ts';

/**
 * What a write appended, as read your writes needs it: the position of its last event (null: it
 * appended nothing) and, when known, the event types it appended.
 */
export type AppendedWrite = { position: number | null; types?: readonly string[] | undefined };

/**
 * Read your writes: a write answers only once the projections that handle the event types it
 * appended have applied it (every projection when the types are not given, or `write` is a bare
 * position), so the caller's next read sees it. If they are far behind (a rebuild), the answer goes
 * out after the timeout with `SigID-Consistency: pending` rather than hang.
 */
export async function consistent(sigid: Sigid, request: Request, write: number | null | AppendedWrite): Promise<void> {
  const { position, types } =
    typeof write === 'object' && write !== null ? write : { position: write, types: undefined };
  if (position === null) return;
  const caughtUp = await sigid.projections.waitFor(
    position,
    sigid.config.readYourWritesTimeoutMs,
    types ? { types } : {},
  );
  if (!caughtUp) {
    request.res?.set('SigID-Consistency', 'pending');
    request.log?.warn({ position }, 'projections did not reach the write in time');
  }
}
