import { sql } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import { applyInvitationGrants, INVITATION_ACTOR } from '../../services/invitations.ts';
import { build, run } from '../db/typed-query.ts';
import type { Sigid } from '../sigid.ts';
import { startWorkerLoop } from '../worker-loop.ts';

/** The worker's row in `projection_checkpoints`, the one checkpoint table. */
export const INVITATION_GRANTS_CHECKPOINT = 'invitation_grants';
const PAGE = 100;

const acceptedData = z.object({ invitation_id: z.string() });

/**
 * The invitation grants worker: a reactor on `invitation.accepted`. The acceptance's own request
 * grants what the invitation promises right after recording it (services/invitations.ts); a process
 * that dies in between, or midway through the grants, leaves an accepted invitation whose grants are
 * not recorded. This worker reads every `invitation.accepted` off the global order from its
 * checkpoint and runs the same idempotent `applyInvitationGrants` for it (a no-op once recorded),
 * then moves its checkpoint past it: so after any crash, each accepted invitation's grants are made
 * and recorded exactly once. One process runs it (the worker loop's advisory lock).
 */
export class InvitationGrantsWorker {
  readonly #sigid: Sigid;
  readonly #pollMs: number;
  readonly #logger: Logger | undefined;
  #loop: { stop(): Promise<void> } | undefined;

  constructor(sigid: Sigid, options: { pollMs?: number; logger?: Logger | undefined } = {}) {
    this.#sigid = sigid;
    this.#pollMs = options.pollMs ?? 1000;
    this.#logger = options.logger;
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = startWorkerLoop({
      db: this.#sigid.db,
      lock: 'invitations:grants',
      lockRetryMs: this.#pollMs * 2,
      restartMs: this.#pollMs,
      logger: this.#logger,
      describe: { worker: 'invitation-grants' },
      work: async (signal) => {
        await run(
          this.#sigid.db,
          build
            .insertInto('projection_checkpoints')
            .values({ name: INVITATION_GRANTS_CHECKPOINT, version: 1, position: 0, updated_at: sql`now()` })
            .onConflict((oc) => oc.column('name').doNothing()),
        );
        while (!signal.aborted) {
          if (!(await this.step()))
            await this.#sigid.log.store.waitForAppend(this.#pollMs, signal, ['invitation.accepted']);
        }
      },
    });
  }

  async stop(): Promise<void> {
    await this.#loop?.stop();
    this.#loop = undefined;
  }

  /** Where the worker has read up to. */
  async checkpoint(): Promise<number> {
    const { rows } = await run(
      this.#sigid.db,
      build.selectFrom('projection_checkpoints').select('position').where('name', '=', INVITATION_GRANTS_CHECKPOINT),
    );
    return Number(rows[0]?.position ?? 0);
  }

  /** Applies one page of acceptances and moves the checkpoint past it; true when it took any (there may be more). */
  async step(): Promise<boolean> {
    const from = await this.checkpoint();
    const page = await this.#sigid.log.store.readAll({
      after: from,
      types: ['invitation.accepted'],
      limit: PAGE,
      direction: 'forwards',
    });
    for (const event of page.events) {
      const { invitation_id } = acceptedData.parse(event.data);
      await applyInvitationGrants(this.#sigid, event.tenantId, invitation_id, {
        tenantId: event.tenantId,
        actor: INVITATION_ACTOR,
        correlationId: event.correlationId,
        causationId: event.id,
      });
    }
    if (page.checkpoint > from) {
      await run(
        this.#sigid.db,
        build
          .updateTable('projection_checkpoints')
          .set({ position: page.checkpoint, updated_at: sql`now()` })
          .where('name', '=', INVITATION_GRANTS_CHECKPOINT)
          .where('position', '=', from),
      );
    }
    return page.events.length > 0;
  }
}
