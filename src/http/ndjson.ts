import type { Request, Response } from 'express';

/**
 * Streams NDJSON: each page is written as it arrives and the next is read only once the socket has
 * drained, so memory stays flat however long the export. A client that disconnects stops the walk.
 */
export async function streamNdjson<T>(
  request: Request,
  response: Response,
  pages: (signal: AbortSignal) => AsyncIterable<T[]>,
  toJson: (item: T) => unknown,
): Promise<void> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  response.on('close', abort);
  response.status(200).type('application/x-ndjson').set('Cache-Control', 'no-store');
  response.flushHeaders();
  try {
    for await (const items of pages(controller.signal)) {
      let chunk = '';
      for (const item of items) chunk += `${JSON.stringify(toJson(item))}\n`;
      if (!response.write(chunk) && !controller.signal.aborted) await drained(response);
      if (controller.signal.aborted) return;
    }
    response.end();
  } catch (error) {
    request.log?.error({ err: error }, 'export failed midway');
    response.destroy(error as Error);
  } finally {
    response.off('close', abort);
  }
}

/** Resolves when the socket drains or closes, leaving no listener behind. */
function drained(response: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

/**
 * Streams NDJSON that `write` puts on the response itself (it must wait for the socket to drain and
 * stop when `signal` aborts, as `exportAuditLog` does); the response is ended here, or destroyed if
 * `write` fails midway. A client that disconnects aborts the signal.
 */
export async function streamNdjsonFrom(
  request: Request,
  response: Response,
  write: (out: Response, signal: AbortSignal) => Promise<unknown>,
): Promise<void> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  response.on('close', abort);
  response.status(200).type('application/x-ndjson').set('Cache-Control', 'no-store');
  response.flushHeaders();
  try {
    await write(response, controller.signal);
    if (!controller.signal.aborted) response.end();
  } catch (error) {
    request.log?.error({ err: error }, 'export failed midway');
    response.destroy(error as Error);
  } finally {
    response.off('close', abort);
  }
}
