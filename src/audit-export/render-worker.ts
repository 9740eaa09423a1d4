/**
 * A render worker of the audit export (`renderers.ts` starts it): it renders pages of raw rows into
 * NDJSON with the render plan it was started with, so that neither PostgreSQL nor the main thread
 * writes the records. A page without holes comes back as UTF-8 bytes, transferred (not copied).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PageRenderer, type RenderPlan } from './render-plan.ts';

/** A page to render, as the main thread posts it. */
export interface RenderTask {
  id: number;
  rows: string;
  tenantJson: string;
}

/** The answer to a task: the page's bytes when it has no hole, else its segments and holes. */
export type RenderAnswer =
  | { id: number; bytes: Uint8Array; rendered: number }
  | { id: number; segments: string[]; holes: number[]; rendered: number }
  | { id: number; error: string };

const port = parentPort;
if (!port) throw new Error('render-worker.ts runs as a worker thread');
const renderer = new PageRenderer((workerData as { plan: RenderPlan }).plan);

port.on('message', ({ id, rows, tenantJson }: RenderTask) => {
  let answer: RenderAnswer;
  try {
    const page = renderer.render(rows, tenantJson);
    if (page.holes.length === 0) {
      // Faster than TextEncoder here. A small Buffer lives in Node's shared pool: copied, not transferred.
      const bytes = Buffer.from(page.segments[0] ?? '');
      const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      port.postMessage({ id, bytes, rendered: page.rendered } satisfies RenderAnswer, own ? [bytes.buffer] : []);
      return;
    }
    answer = { id, segments: page.segments, holes: page.holes, rendered: page.rendered };
  } catch (error) {
    answer = { id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  port.postMessage(answer);
});
