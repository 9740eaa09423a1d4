import type { Request } from 'express';
import type { Sigid } from '../sigid.ts';
import {
  type AccountThrottleKey,
  checkThrottle,
  emailThrottleKey,
  ipThrottleKey,
  recordFailure,
  recordSuccess,
  type ThrottleKey,
  type ThrottlePurpose,
} from '../throttle.ts';

/** The page a throttled form posts to decides the account counter it counts against. */
function purposeOf(request: Request): ThrottlePurpose {
  if (request.path.endsWith('/forgot-password')) return 'password_reset';
  if (request.path.endsWith('/sign-up')) return 'sign_up';
  return 'sign_in';
}

/**
 * The sign-in throttle (src/throttle.ts) as the hosted pages call it: the typed address's key for
 * the page's purpose and the client's network key. The socket's address is the client's
 * (`trust proxy` is off): behind a reverse proxy every client would share the proxy's budget.
 */
/** The throttle as a page calls it: seconds to wait (undefined: go ahead), and each outcome. */
export interface PageThrottle {
  check(request: Request, email: string): Promise<number | undefined>;
  failed(request: Request, email: string): Promise<void>;
  succeeded(request: Request, email: string): Promise<void>;
}

export function pageThrottle(sigid: Sigid): PageThrottle {
  const keysOf = new WeakMap<Request, Promise<[AccountThrottleKey, ThrottleKey]>>();
  const keys = (request: Request, email: string) => {
    let found = keysOf.get(request);
    if (!found) {
      found = emailThrottleKey(sigid, email, purposeOf(request)).then((account) => [
        account,
        ipThrottleKey(sigid, request.ip ?? request.socket.remoteAddress),
      ]);
      keysOf.set(request, found);
    }
    return found;
  };
  return {
    async check(request, email) {
      const decision = await checkThrottle(sigid, await keys(request, email));
      return decision.allowed ? undefined : decision.retryAfterSeconds;
    },
    async failed(request, email) {
      await recordFailure(sigid, await keys(request, email));
    },
    async succeeded(request, email) {
      await recordSuccess(sigid, (await keys(request, email))[0]);
    },
  };
}
