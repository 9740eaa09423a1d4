import { createHmac, hkdfSync } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import { emailKey } from '../services/accounts.ts';
import type { Database } from './db/database.ts';
import type { Sigid } from './sigid.ts';
import { startWorkerLoop } from './worker-loop.ts';

/**
 * The sign-in throttle, shared by every SigID process through one table (`throttle_counters`,
 * worker state: never an event, never rebuilt). It enforces (docs/security.md):
 * - per account (an e-mail address's keyed hash, or an account id) and purpose: 5 failures are free;
 *   after the 5th each next attempt waits 1 s, 2 s, 4 s… up to 15 min after the last failure; the
 *   counter is forgotten 15 min after its last wait ended, and a success clears it;
 * - per client network (an IPv4 address, an IPv6 /64), all purposes together: 50 failures in a
 *   15-minute window, then every attempt from it is refused until the window ends; a success does
 *   not clear it.
 * Each failure is one upsert per key, so concurrent failures in any number of processes all count.
 */

/** What a throttled attempt was for: each has its own account counter (a success at one clears only it). */
export type ThrottlePurpose = 'sign_in' | 'second_factor' | 'password_reset' | 'sign_up';

/**
 * A counter: `account` keys back off exponentially, `ip` keys have a budget per window. Make them
 * with `emailThrottleKey`, `accountThrottleKey` and `ipThrottleKey`; `key` is what the table stores.
 */
export interface ThrottleKey {
  readonly kind: 'account' | 'ip';
  readonly key: string;
}

/** An account key (made by `emailThrottleKey` or `accountThrottleKey`): the kind `recordSuccess` clears. */
export type AccountThrottleKey = ThrottleKey & { readonly kind: 'account' };

export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface ThrottlePolicy {
  account: {
    /** Failures before any wait. */
    freeFailures: number;
    /** The wait after the first failure past the free ones; each further failure doubles it. */
    firstDelaySeconds: number;
    maxDelaySeconds: number;
    /** How long after its last wait ends a counter is forgotten. */
    windowSeconds: number;
  };
  ip: {
    /** Failures a network may have in one window; after that it is refused until the window ends. */
    maxFailures: number;
    windowSeconds: number;
  };
}

export const defaultThrottlePolicy: ThrottlePolicy = {
  account: { freeFailures: 5, firstDelaySeconds: 1, maxDelaySeconds: 900, windowSeconds: 900 },
  ip: { maxFailures: 50, windowSeconds: 900 },
};

export interface ThrottleOptions {
  /** The time to judge by (tests); by default the database's clock, which every process shares. */
  now?: Date;
  policy?: ThrottlePolicy;
}

type ThrottleStore = Pick<Sigid, 'db'>;

/**
 * The account key of an e-mail address typed on a page (sign-in, password reset, sign-up): the
 * address's keyed hash (`emailKey`), never the address, whether or not an account holds it. One
 * address is one account, so this is the per-account counter without looking the account up.
 */
export async function emailThrottleKey(
  sigid: Sigid,
  email: string,
  purpose: ThrottlePurpose,
): Promise<AccountThrottleKey> {
  return { kind: 'account', key: `email:${purpose}:${await emailKey(sigid, email)}` };
}

/** The account key of a known account (the second factor, where no address is typed). */
export function accountThrottleKey(accountId: string, purpose: ThrottlePurpose): AccountThrottleKey {
  return { kind: 'account', key: `account:${purpose}:${accountId}` };
}

/**
 * The network a client address is counted under: an IPv4 address itself (IPv4-mapped IPv6 read as
 * IPv4), an IPv6 address's /64 (one subscriber's usual allocation, so hopping inside it gains nothing).
 * Throws on a string that is not an IP address.
 */
export function clientNetwork(address: string): string {
  const parsed = ipaddr.parse(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  const prefix = new ipaddr.IPv6([...v6.parts.slice(0, 4), 0, 0, 0, 0]);
  return `${prefix.toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}

/**
 * The IP key of a client address: its network (`clientNetwork`) as a keyed hash (HMAC under a key
 * derived from the master key), so the table holds no IP address. Unreadable addresses share one key.
 */
export function ipThrottleKey(sigid: Pick<Sigid, 'masterKey'>, address: string | undefined): ThrottleKey {
  let network = 'unknown';
  try {
    if (address) network = clientNetwork(address);
  } catch {
    // Not an address (no socket address behind a proxy that hid it): counted together.
  }
  let key = networkKeys.get(sigid.masterKey);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', sigid.masterKey, Buffer.alloc(0), 'sigid sign-in throttle', 32));
    networkKeys.set(sigid.masterKey, key);
  }
  return { kind: 'ip', key: `ip:${createHmac('sha256', key).update(network).digest('base64url')}` };
}

/** The HMAC key of network keys, per master key (derived once). */
const networkKeys = new WeakMap<Buffer, Buffer>();

/** `$2`, the judging time: the given one, or the database's. */
const NOW = 'coalesce($2::timestamptz, statement_timestamp())';

const seconds = (expression: string) => `make_interval(secs => ${expression})`;

/**
 * Whether an attempt under all these keys may go ahead now; if not, how long to wait (the longest
 * wait of any key). An account key past its free failures whose wait is over gives its one next
 * attempt to the first caller that asks (the others wait as if it had failed), so a burst of
 * concurrent attempts after a wait still gets one try.
 */
export async function checkThrottle(
  sigid: ThrottleStore,
  keys: readonly ThrottleKey[],
  options: ThrottleOptions = {},
): Promise<ThrottleDecision> {
  if (keys.length === 0) return { allowed: true };
  const policy = options.policy ?? defaultThrottlePolicy;
  const now = options.now?.toISOString() ?? null;
  const { rows } = await sigid.db.query<{ key: string; failures: number; wait: number }>(
    `select key, failures, ceil(extract(epoch from next_attempt_at - ${NOW}))::int as wait
       from throttle_counters where key = any($1::text[]) and expires_at > ${NOW}`,
    [keys.map((key) => key.key), now],
    'throttle-check',
  );
  const refused = Math.max(0, ...rows.map((row) => row.wait));
  if (refused > 0) return { allowed: false, retryAfterSeconds: refused };
  const accountKeys = new Set(keys.filter((key) => key.kind === 'account').map((key) => key.key));
  for (const row of rows) {
    if (!accountKeys.has(row.key) || row.failures < policy.account.freeFailures) continue;
    // Take the slot: the wait this failure count sets, as if this attempt had failed already.
    const { rows: taken } = await sigid.db.query<{ key: string }>(
      `update throttle_counters set next_attempt_at = ${NOW} + ${seconds(accountDelay('failures'))}
        where key = $1 and next_attempt_at <= ${NOW} and expires_at > ${NOW}
        returning key`,
      [row.key, now, ...accountParams(policy).slice(0, 3)],
      'throttle-take',
    );
    // Another attempt took it a moment ago: wait as long as it set.
    if (taken.length === 0) {
      return { allowed: false, retryAfterSeconds: Math.ceil(accountDelaySeconds(row.failures, policy)) };
    }
  }
  return { allowed: true };
}

/** The wait after `failures` failures of an account key, in seconds (the SQL below computes the same). */
export function accountDelaySeconds(failures: number, policy: ThrottlePolicy = defaultThrottlePolicy): number {
  const { freeFailures, firstDelaySeconds, maxDelaySeconds } = policy.account;
  if (failures < freeFailures) return 0;
  return Math.min(maxDelaySeconds, firstDelaySeconds * 2 ** Math.min(failures - freeFailures, 40));
}

/** `accountDelaySeconds` in SQL, of the expression `failures` ($3 free, $4 first, $5 max). */
function accountDelay(failures: string): string {
  return `(case when ${failures} < $3 then 0 else least($5::float8, $4::float8 * power(2, least(${failures} - $3, 40))) end)`;
}

const accountParams = (policy: ThrottlePolicy) => [
  policy.account.freeFailures,
  policy.account.firstDelaySeconds,
  policy.account.maxDelaySeconds,
  policy.account.windowSeconds,
];

/** The failure count after this one: 1 if the row had expired. */
const NEXT_FAILURES = `(case when t.expires_at <= ${NOW} then 1 else t.failures + 1 end)`;
const NEXT_WINDOW = `(case when t.expires_at <= ${NOW} then ${NOW} else t.window_started_at end)`;

/** Upsert of an account key: $3 free failures, $4 first delay, $5 max delay, $6 window (seconds). */
const ACCOUNT_FAILURE = `
  insert into throttle_counters as t (key, failures, window_started_at, last_failure_at, next_attempt_at, expires_at)
  values ($1, 1, ${NOW}, ${NOW}, ${NOW} + ${seconds(accountDelay('1'))}, ${NOW} + ${seconds(`${accountDelay('1')} + $6`)})
  on conflict (key) do update set
    failures = ${NEXT_FAILURES},
    window_started_at = ${NEXT_WINDOW},
    last_failure_at = ${NOW},
    next_attempt_at = ${NOW} + ${seconds(accountDelay(NEXT_FAILURES))},
    expires_at = ${NOW} + ${seconds(`${accountDelay(NEXT_FAILURES)} + $6`)}`;

/** Upsert of an IP key: $3 failures allowed per window, $4 window (seconds). */
const IP_FAILURE = `
  insert into throttle_counters as t (key, failures, window_started_at, last_failure_at, next_attempt_at, expires_at)
  values ($1, 1, ${NOW}, ${NOW},
          case when 1 >= $3 then ${NOW} + ${seconds('$4')} else ${NOW} end, ${NOW} + ${seconds('$4')})
  on conflict (key) do update set
    failures = ${NEXT_FAILURES},
    window_started_at = ${NEXT_WINDOW},
    last_failure_at = ${NOW},
    next_attempt_at = case when ${NEXT_FAILURES} >= $3 then ${NEXT_WINDOW} + ${seconds('$4')} else ${NEXT_WINDOW} end,
    expires_at = ${NEXT_WINDOW} + ${seconds('$4')}`;

/** Counts a failed attempt against every key: one atomic upsert each. */
export async function recordFailure(
  sigid: ThrottleStore,
  keys: readonly ThrottleKey[],
  options: ThrottleOptions = {},
): Promise<void> {
  const policy = options.policy ?? defaultThrottlePolicy;
  const now = options.now?.toISOString() ?? null;
  for (const key of keys) {
    if (key.kind === 'account') {
      await sigid.db.query(ACCOUNT_FAILURE, [key.key, now, ...accountParams(policy)], 'throttle-account-failure');
    } else {
      await sigid.db.query(
        IP_FAILURE,
        [key.key, now, policy.ip.maxFailures, policy.ip.windowSeconds],
        'throttle-ip-failure',
      );
    }
  }
}

/** A success: clears the account key's counter (an IP key keeps its failures until its window ends). */
export async function recordSuccess(sigid: ThrottleStore, accountKey: AccountThrottleKey): Promise<void> {
  if (accountKey.kind !== 'account') throw new TypeError('recordSuccess clears an account key, not an IP key');
  await sigid.db.query('delete from throttle_counters where key = $1', [accountKey.key], 'throttle-success');
}

/** Rows deleted per statement. */
const PRUNE_BATCH = 5000;

/** Deletes the counters that count nothing any more (`expires_at` past); returns how many. */
export async function pruneThrottleCounters(db: Pick<Database, 'query'>, now?: Date): Promise<number> {
  let removed = 0;
  for (;;) {
    const { rows } = await db.query<{ removed: number }>(
      `with gone as (
         delete from throttle_counters where key = any(array(
           select key from throttle_counters where expires_at <= coalesce($1::timestamptz, statement_timestamp())
           limit ${PRUNE_BATCH}))
         returning 1)
       select count(*)::int as removed from gone`,
      [now?.toISOString() ?? null],
    );
    const count = rows[0]?.removed ?? 0;
    removed += count;
    if (count < PRUNE_BATCH) return removed;
  }
}

/** Prunes expired counters every `everyMs`, in one process at a time. */
export function pruneThrottleCountersEvery(
  db: Database,
  options: { everyMs: number; logger?: Logger | undefined },
): { stop: () => Promise<void> } {
  return startWorkerLoop({
    db,
    lock: 'throttle:prune',
    startAfterMs: Math.min(options.everyMs, 10_000),
    everyMs: options.everyMs,
    lockRetryMs: options.everyMs,
    restartMs: options.everyMs,
    logger: options.logger,
    describe: { worker: 'sign-in throttle expiry' },
    async work() {
      const removed = await pruneThrottleCounters(db);
      if (removed > 0) options.logger?.debug({ removed }, 'expired throttle counters removed');
    },
  });
}
