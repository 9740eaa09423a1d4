import type { Request } from 'express';
import type { Sigid } from '../sigid.ts';

/**
 * Read your writes: a write answers only once every projection has applied it, so the caller's next
 * read sees it. If the projections are far behind (a rebuild), the answer goes out after the timeout
 * with `SigID-Consistency: pending` rather than hang.
 */
export async function consistent(sigid: Sigid, request: Request, position: number | null): Promise<void> {
  if (position === null) return;
  const caughtUp = await sigid.projections.waitFor(position, sigid.config.readYourWritesTimeoutMs);
  if (!caughtUp) {
    request.res?.set('SigID-Consistency', 'pending');
    request.log?.warn({ position }, 'projections did not reach the write in time');
  }
}
