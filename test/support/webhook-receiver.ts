import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One delivery as a receiver saw it, after verifying it with the third-party `standardwebhooks` library. */
export interface Delivery {
  path: string;
  id: string;
  timestamp: number;
  signature: string;
  type: string;
  eventTimestamp: string;
  data: Record<string, unknown>;
  body: string;
  verifiedWith: number;
  receivedAt: number;
  /** For a request left hanging: when the sender gave up on it and closed the connection. */
  closedAt?: number;
}

/** What a route answers; `delayMs` holds the answer back that long (a slow receiver). */
export type Answer = { status: number; headers?: Record<string, string>; body?: string; delayMs?: number } | 'hang';

/**
 * A real receiver: an HTTP server on 127.0.0.1 whose routes each have the signing secrets they accept
 * and a behaviour (answer, fail, hang). Every request is verified with `standardwebhooks`; an
 * unverifiable one is answered 400 and kept in `rejected`.
 */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  readonly rejected: Array<{ path: string; headers: IncomingHttpHeaders; error: string }> = [];
  readonly #routes = new Map<string, { secrets: string[]; answer: (delivery: Delivery) => Answer }>();
  readonly #waiters = new Set<() => void>();
  #server: Server | undefined;
  #hanging = new Set<() => void>();
  origin = '';

  async start(): Promise<this> {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '/';
        const route = this.#routes.get(path);
        const body = Buffer.concat(chunks).toString('utf8');
        if (!route) {
          response.writeHead(404).end();
          return;
        }
        if (route.secrets.length === 0) {
          // Created, but the test has not been handed the secret yet: "try again" (SigID retries 503s).
          response.writeHead(503).end('not ready');
          return;
        }
        let payload: { type: string; timestamp: string; data: Record<string, unknown> } | undefined;
        let verifiedWith = -1;
        let lastError = '';
        for (const [index, secret] of route.secrets.entries()) {
          try {
            payload = new Webhook(secret).verify(body, {
              'webhook-id': String(request.headers['webhook-id']),
              'webhook-timestamp': String(request.headers['webhook-timestamp']),
              'webhook-signature': String(request.headers['webhook-signature']),
            }) as typeof payload;
            verifiedWith = index;
            break;
          } catch (error) {
            lastError = String(error);
          }
        }
        if (!payload) {
          this.rejected.push({ path, headers: request.headers, error: lastError });
          response.writeHead(400).end('bad signature');
          this.#notify();
          return;
        }
        const delivery: Delivery = {
          path,
          id: String(request.headers['webhook-id']),
          timestamp: Number(request.headers['webhook-timestamp']),
          signature: String(request.headers['webhook-signature']),
          type: payload.type,
          eventTimestamp: payload.timestamp,
          data: payload.data,
          body,
          verifiedWith,
          receivedAt: Date.now(),
        };
        const answer = route.answer(delivery);
        if (answer === 'hang') {
          const release = () => response.destroy();
          this.#hanging.add(release);
          const hanging: Delivery = { ...delivery, verifiedWith: -2 };
          response.once('close', () => {
            hanging.closedAt = Date.now();
          });
          this.deliveries.push(hanging);
          this.#notify();
          return;
        }
        const reply = () => {
          if (answer.status >= 200 && answer.status < 300) this.deliveries.push(delivery);
          else this.deliveries.push({ ...delivery, verifiedWith: -answer.status });
          response.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? '');
          this.#notify();
        };
        if (answer.delayMs) setTimeout(reply, answer.delayMs);
        else reply();
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  /** Serves `path` with `secrets` (any of them must verify) and `answer` (default 204). */
  route(path: string, secrets: string[], answer: (delivery: Delivery) => Answer = () => ({ status: 204 })): string {
    this.#routes.set(path, { secrets, answer });
    return `${this.origin}${path}`;
  }

  setSecrets(path: string, secrets: string[]): void {
    const route = this.#routes.get(path);
    if (route) route.secrets = secrets;
  }

  /** Successful (2xx-answered, verified) deliveries to `path`, in arrival order. */
  received(path: string): Delivery[] {
    return this.deliveries.filter((delivery) => delivery.path === path && delivery.verifiedWith >= 0);
  }

  /** Every request to `path`, answered or not. */
  requests(path: string): Delivery[] {
    return this.deliveries.filter((delivery) => delivery.path === path);
  }

  /** Waits until `check` holds (re-checked on every request), or fails after `timeoutMs`. */
  async waitFor(check: () => boolean, timeoutMs = 15_000, what = 'deliveries'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 100));
        this.#waiters.add(done);
      });
    }
  }

  #notify() {
    for (const waiter of [...this.#waiters]) waiter();
  }

  async close(): Promise<void> {
    for (const release of this.#hanging) release();
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }
}
