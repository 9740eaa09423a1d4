import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { type Fixture, makeFixture, readRoutes, writeRoutes } from './support/routes.ts';
import { type SeededRandom, seededRandom } from './support/seeded-random.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

/** Code units a hostile client would mix: controls, lone surrogates, noncharacters, astral pairs, markup. */
const pools: ((r: SeededRandom) => string)[] = [
  (r) => String.fromCharCode(32 + r.int(95)),
  (r) => String.fromCharCode(r.int(32)),
  (r) => String.fromCharCode(0x7f + r.int(33)),
  (r) => String.fromCharCode(0xd800 + r.int(0x800)),
  (r) => String.fromCharCode(r.pick([0xfffe, 0xffff, 0xfdd0, 0xfeff, 0x202e, 0x200b])),
  (r) => String.fromCodePoint(0x10000 + r.int(0xfffff)),
  (r) => String.fromCharCode(0x100 + r.int(0xd700)),
  (r) => r.pick(['__proto__', 'constructor', '%00', '../', "'; drop table x;--", '{{7*7}}', '#{x}', '\\u0000']),
];

function hostileString(r: SeededRandom): string {
  const length = r.pick([0, 1, 3, 20, 300, 5000, 70_000]);
  let text = '';
  const pool = r.pick(pools);
  while (text.length < length) text += r.next() < 0.7 ? pool(r) : r.pick(pools)(r);
  return text;
}

/** One character a single hostile byte turns into: a control, a lone surrogate, a noncharacter. */
const hostileCharacter = (r: SeededRandom) =>
  String.fromCharCode(r.pick([0, 1, 0x1b, 0x7f, 0x85, 0x9b, 0xd800, 0xdbff, 0xdc00, 0xfffe, 0xffff, 0xfdd0]));

/** `value` with a hostile character slipped in somewhere: what gets past every length and type check. */
function corrupted(r: SeededRandom, value: string): string {
  const at = r.int(value.length + 1);
  return `${value.slice(0, at)}${hostileCharacter(r)}${value.slice(at)}`;
}

function hostileValue(r: SeededRandom, depth = 0): unknown {
  switch (r.int(depth > 3 ? 3 : 7)) {
    case 0:
      return hostileString(r);
    case 1:
      return r.pick([0, -1, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e308, -0, 1.2345e19]);
    case 2:
      return r.pick([true, false, null]);
    case 3:
      return r.next() < 0.2
        ? Array.from({ length: 20_000 }, () => r.int(10))
        : Array.from({ length: r.pick([0, 1, 5]) }, () => hostileValue(r, depth + 1));
    case 4: {
      const depth = r.pick([33, 100, 3000]);
      return JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    }
    default: {
      const object: Record<string, unknown> = {};
      for (let index = r.int(4); index >= 0; index--)
        object[r.next() < 0.3 ? hostileString(r) : `k${index}`] = hostileValue(r, depth + 1);
      return object;
    }
  }
}

/** A JSON text: the route's own body with one field made hostile, a hostile object, or a key that reaches for the prototype. */
function hostileBody(r: SeededRandom, valid: Record<string, unknown>): string {
  const fields = Object.keys(valid);
  const textField = fields.find((field) => typeof valid[field] === 'string' && r.next() < 0.7) ?? fields[0];
  switch (r.int(7)) {
    case 5:
    case 6:
      if (textField && typeof valid[textField] === 'string') {
        return JSON.stringify({ ...valid, [textField]: corrupted(r, valid[textField] as string) });
      }
      return JSON.stringify({ ...valid, note: corrupted(r, 'note') });
    case 0:
      return JSON.stringify({ ...valid, [r.pick(fields.length ? fields : ['x'])]: hostileValue(r) });
    case 1:
      return JSON.stringify(hostileValue(r));
    case 2:
      return `{"__proto__":${JSON.stringify(hostileValue(r))},"constructor":{"prototype":{"polluted":true}}${fields.length ? `,${JSON.stringify(valid).slice(1, -1)}` : ''}}`;
    case 3:
      return JSON.stringify({ [hostileString(r)]: hostileValue(r), ...valid });
    default:
      return JSON.stringify(valid).slice(0, r.int(20));
  }
}

/** A query string: random names and values, percent-encoded bytes included (malformed ones too). */
function hostileQuery(r: SeededRandom): string {
  const parts: string[] = [];
  for (let index = r.int(4); index >= 0; index--) {
    const name = r.pick([
      'actor',
      'types',
      'limit',
      'starting_after',
      'actor',
      'types',
      'from_position',
      'status',
      'before',
      'x',
      'a[b]',
      '__proto__',
      '%00',
    ]);
    const bytes = Array.from(
      { length: r.pick([1, 4, 300]) },
      () => `%${r.int(256).toString(16).padStart(2, '0')}`,
    ).join('');
    const plausible = r.pick(['5', 'key_x', 'tenant.renamed', 'pending', '2026-12-01T00:00:00Z', 'abc']);
    const hostileByte = r.pick(['%00', '%01', '%1B', '%7F', '%C2%85', '%EF%BF%BE', '%0A']);
    const spliced = `${plausible.slice(0, 1)}${hostileByte}${plausible.slice(1)}`;
    parts.push(
      `${name}=${r.pick([bytes, spliced, spliced, '%ZZ', '-1', '1e9', '99999999999999999999', '', '%ED%A0%80'])}`,
    );
  }
  return parts.join('&');
}

/** A path segment in place of an id: hostile bytes, percent-encoded. */
function hostileSegment(r: SeededRandom): string {
  return r.pick([
    '%00',
    '%ED%A0%80',
    '%ZZ',
    'ten_',
    `${'a'.repeat(5000)}`,
    '..%2F..',
    '%C0%AE',
    '__proto__',
    'constructor',
  ]);
}

const PROBES_PER_ROUTE = 10;

interface Probe {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  auth: string;
  body?: string;
  contentType?: string;
  idempotencyKey?: string;
}

/** A route's path with one of its ids (any `prefix_` + 26 characters, or a domain) replaced by a hostile segment, now and then. */
const probedPath = (r: SeededRandom, path: string, odds: number) => {
  if (r.next() >= odds) return path;
  const ids = [...path.matchAll(/\/([a-z]{2,4}_[0-9a-z]{26}|[a-z0-9.-]+\.example\.com)(?=\/|$)/g)];
  if (ids.length === 0) return path;
  const chosen = r.pick(ids);
  const at = (chosen.index ?? 0) + 1;
  return `${path.slice(0, at)}${hostileSegment(r)}${path.slice(at + (chosen[1] ?? '').length)}`;
};

describe('hostile input never makes SigID answer 5xx', () => {
  let t: TestSigid;
  let f: Fixture;
  let operatorFixture: Fixture;

  beforeAll(async () => {
    t = await startSigid({
      config: { webhooks: { ...loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' }), worker: false } },
    });
    f = await makeFixture(t, 'Probed');
    // The operator's routes act on a tenant of their own, so a probe that suspends or deletes it
    // leaves the tenant-key routes something to probe.
    operatorFixture = { ...f, tenantId: (await t.createTenant('Probed by the operator')).tenantId };
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers every generated probe of every route below 500', async () => {
    const r = seededRandom(20261201);
    const probes: Probe[] = [];
    // Reads first and deletes last, so every probe finds what it acts on.
    for (const route of readRoutes) {
      for (let index = 0; index < PROBES_PER_ROUTE; index++) {
        probes.push({
          method: 'get',
          path: `${probedPath(r, route.path(f), 0.3)}?${hostileQuery(r)}`,
          auth: route.auth(f),
        });
      }
    }
    const writes = Object.values(writeRoutes).sort(
      (a, b) => Number(a.method === 'delete') - Number(b.method === 'delete'),
    );
    for (const route of writes) {
      const on = route.auth(f) === t.operator ? operatorFixture : f;
      for (let index = 0; index < PROBES_PER_ROUTE; index++) {
        const query = r.next() < 0.3 ? `?${hostileQuery(r)}` : '';
        probes.push({
          method: route.method,
          path: `${probedPath(r, route.path(on), 0.2)}${query}`,
          auth: route.auth(on),
          body: hostileBody(r, route.body?.(on, `probe ${index}`) ?? {}),
          contentType: r.pick([
            'application/json',
            'application/json',
            'application/merge-patch+json',
            'text/plain',
            'application/json; charset=utf-16',
          ]),
          ...(r.next() < 0.5 ? { idempotencyKey: `probe-${index}-${r.int(1e9)}` } : {}),
        });
      }
    }
    const failures: string[] = [];
    const statuses: Record<string, number> = {};
    for (const probe of probes) {
      let request = t.http[probe.method](probe.path).set('Authorization', probe.auth);
      if (probe.idempotencyKey) request = request.set('Idempotency-Key', probe.idempotencyKey);
      if (probe.body !== undefined) {
        request = request.set('Content-Type', probe.contentType ?? 'application/json').send(probe.body);
      }
      const response = await request.catch((error: Error) => ({ status: `cut: ${error.message}` }));
      statuses[String(response.status)] = (statuses[String(response.status)] ?? 0) + 1;
      if (typeof response.status !== 'number' || response.status >= 500) {
        const body = probe.body?.slice(0, 80) ?? '';
        failures.push(`${probe.method.toUpperCase()} ${probe.path.slice(0, 120)} ${body}: ${response.status}`);
      }
    }
    expect(probes.length).toBeGreaterThan(250);
    expect(failures).toEqual([]);
    // Most probes reached the input checks, not a 401 or 404 that proves nothing.
    expect(statuses['400'] ?? 0, JSON.stringify(statuses)).toBeGreaterThan(probes.length / 2);
    // Nothing leaked into the prototypes, and SigID still serves.
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    await t.http.get('/healthz').expect(200);
  });
});
