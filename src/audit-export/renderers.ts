import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EventCatalog } from '../../events/catalog.ts';
import { PageRenderer, type RenderPlan, renderPlan } from './render-plan.ts';
import type { RenderAnswer, RenderTask } from './render-worker.ts';

/** A page rendered by a worker: its bytes, or (when some records are the event log's to write) its segments and holes. */
export type RenderedChunk =
  | { bytes: Buffer; rendered: number }
  | { segments: string[]; holes: number[]; rendered: number };

export interface AuditRenderersOptions {
  /**
   * Worker threads (default: one less than the cores, at least one, at most two). 0 renders on the
   * calling thread (no worker).
   */
  threads?: number;
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (chunk: RenderedChunk) => void; reject: (error: Error) => void }>;
}

/**
 * The audit export's render workers (`node:worker_threads`), started on the first page and kept for
 * the process's later exports; `close()` (called by `sigid.close()`) ends them. An idle worker does
 * not keep the process alive. A worker that fails fails the pages it held and is replaced on the next.
 */
export class AuditRenderers {
  readonly catalog: EventCatalog;
  readonly threads: number;
  readonly #plan: RenderPlan;
  readonly #slots: Slot[] = [];
  #next = 0;
  #closed = false;
  #local: PageRenderer | undefined;

  constructor(catalog: EventCatalog, options: AuditRenderersOptions = {}) {
    this.catalog = catalog;
    this.threads = Math.max(0, Math.floor(options.threads ?? Math.min(2, Math.max(1, availableParallelism() - 1))));
    this.#plan = renderPlan(catalog);
  }

  /** Renders a page's rows (see `PageRenderer.render`) on the least busy worker. */
  render(rows: string, tenantJson: string): Promise<RenderedChunk> {
    if (this.#closed) return Promise.reject(new Error('the audit export renderers are closed'));
    if (this.threads === 0) {
      this.#local ??= new PageRenderer(this.#plan);
      const page = this.#local.render(rows, tenantJson);
      return Promise.resolve(
        page.holes.length === 0 ? { bytes: Buffer.from(page.segments[0] ?? ''), rendered: page.rendered } : page,
      );
    }
    const slot = this.#slot();
    const id = ++this.#next;
    return new Promise<RenderedChunk>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, rows, tenantJson } satisfies RenderTask);
    });
  }

  /** Ends the workers; pages still rendering fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const slots = this.#slots.splice(0);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
    for (const slot of slots) this.#fail(slot, new Error('the audit export renderers are closed'));
  }

  /** Workers running now (for tests). */
  get running(): number {
    return this.#slots.length;
  }

  #slot(): Slot {
    if (this.#slots.length < this.threads) return this.#start();
    let best = this.#slots[0] as Slot;
    for (const slot of this.#slots) if (slot.pending.size < best.pending.size) best = slot;
    return best;
  }

  #start(): Slot {
    const worker = new Worker(new URL('./render-worker.ts', import.meta.url), { workerData: { plan: this.#plan } });
    const slot: Slot = { worker, pending: new Map() };
    worker.unref();
    worker.on('message', (answer: RenderAnswer) => {
      const task = slot.pending.get(answer.id);
      if (!task) return;
      slot.pending.delete(answer.id);
      if (slot.pending.size === 0) worker.unref();
      if ('error' in answer) task.reject(new Error(`rendering an audit export page failed: ${answer.error}`));
      else if ('bytes' in answer) {
        task.resolve({
          bytes: Buffer.from(answer.bytes.buffer, answer.bytes.byteOffset, answer.bytes.byteLength),
          rendered: answer.rendered,
        });
      } else task.resolve(answer);
    });
    const gone = (error: Error) => {
      const at = this.#slots.indexOf(slot);
      if (at !== -1) this.#slots.splice(at, 1);
      this.#fail(slot, error);
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`an audit export render worker exited (code ${code})`)));
    this.#slots.push(slot);
    return slot;
  }

  #fail(slot: Slot, error: Error): void {
    for (const task of slot.pending.values()) task.reject(error);
    slot.pending.clear();
  }
}
