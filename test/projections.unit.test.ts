import { describe, expect, it } from 'vitest';
import { catalog } from '../events/catalog.ts';
import { auditOnly, projections } from '../projections/index.ts';
import { defineProjection } from '../projections/projection.ts';

describe('projections and the catalog', () => {
  it('handle every catalog event type that is not marked audit-only', () => {
    const handled = new Set(projections.flatMap((projection) => projection.eventTypes));
    const unhandled = catalog.types().filter((type) => !handled.has(type) && !auditOnly.includes(type as never));
    expect(unhandled).toEqual([]);
  });

  it('mark audit-only only catalog types that no projection handles', () => {
    const handled = new Set(projections.flatMap((projection) => projection.eventTypes));
    expect(auditOnly.filter((type) => !catalog.has(type) || handled.has(type))).toEqual([]);
  });

  it('derive the handled types from the handlers', () => {
    const projection = defineProjection({
      name: 'example',
      version: 1,
      tables: ['tenants'],
      on: { async 'tenant.renamed'() {}, async 'tenant.deleted'() {} },
      page: { types: ['tenant.created'], async apply() {} },
    });
    expect([...projection.eventTypes].sort()).toEqual(['tenant.created', 'tenant.deleted', 'tenant.renamed']);
  });

  it('applies a page in order, runs of page-handled events at once and the others one by one', async () => {
    const calls: string[] = [];
    const projection = defineProjection({
      name: 'example',
      version: 1,
      tables: [],
      on: {
        async 'tenant.renamed'(_trx, event) {
          calls.push(`renamed ${event.data.name}`);
        },
      },
      page: {
        types: ['api_key.created'],
        async apply(_trx, events) {
          calls.push(`keys ${events.map((event) => event.data.key_id).join(',')}`);
        },
      },
    });
    const event = (type: string, data: Record<string, unknown>) => ({ type, data }) as never;
    await projection.apply({} as never, [
      event('api_key.created', { key_id: 'a' }),
      event('api_key.created', { key_id: 'b' }),
      event('tenant.renamed', { name: 'x' }),
      event('api_key.created', { key_id: 'c' }),
    ]);
    expect(calls).toEqual(['keys a,b', 'renamed x', 'keys c']);
  });

  it('cannot name a worker-state table or a type outside the catalog (checked by tsc)', () => {
    const definitions = [
      defineProjection({
        name: 'bad_tables',
        version: 1,
        // @ts-expect-error a rebuild empties a projection's tables: a queue or a checkpoint is not one
        tables: ['webhook_messages', 'projection_checkpoints'],
      }),
      defineProjection({
        name: 'bad_type',
        version: 1,
        tables: [],
        on: {
          // @ts-expect-error not a catalog event type
          async 'tenant.exploded'() {},
        },
      }),
    ];
    expect(definitions).toHaveLength(2);
  });
});
