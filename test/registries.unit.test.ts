import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { aggregates } from '../commands/index.ts';
import { catalog } from '../events/catalog.ts';
import type { EventDefinition } from '../events/envelope.ts';
import { migrations } from '../migrations/index.ts';
import { projections } from '../projections/index.ts';
import { operations } from '../src/http/openapi.ts';
import { type Fixture, readRoutes, writeRoutes } from './support/routes.ts';

/**
 * A new aggregate touches its event, command, projection and read-model files and the registries.
 * These checks fail when a module exists but its registry entry was forgotten: an event module not in
 * the catalog, a decider module whose aggregate is not registered, a projection module not run.
 */
const folder = (name: string) => fileURLToPath(new URL(`../${name}/`, import.meta.url));
const modules = (name: string, except: readonly string[]) =>
  readdirSync(folder(name)).filter((file) => file.endsWith('.ts') && !except.includes(file));

async function exportsOf(name: string, file: string): Promise<unknown[]> {
  return Object.values(await import(`${folder(name)}${file}`));
}

describe('registries', () => {
  it('lists every migration file once, in the order of their names (the order they are applied)', () => {
    const names = Object.keys(migrations);
    expect(names).toEqual([...names].sort());
    expect(names.map((name) => `${name}.ts`)).toEqual(modules('migrations', ['index.ts']).sort());
  });

  it('has every event module’s events in the catalog', async () => {
    for (const file of modules('events', ['envelope.ts', 'catalog.ts'])) {
      const lists = (await exportsOf('events', file)).filter(
        (value): value is EventDefinition[] =>
          Array.isArray(value) && value.every((item) => typeof item?.type === 'string' && 'schema' in item),
      );
      expect(lists.length, `${file} exports its events as one array`).toBeGreaterThan(0);
      for (const definition of lists.flat()) {
        expect(catalog.has(definition.type), `${definition.type} (events/${file}) is in the catalog`).toBe(true);
        expect(catalog.get(definition.type)).toBe(definition);
      }
    }
  });

  it('has every decider module’s aggregate registered', async () => {
    const registered = new Set<unknown>(aggregates);
    for (const file of modules('commands', ['decider.ts', 'aggregate.ts', 'index.ts'])) {
      const found = (await exportsOf('commands', file)).filter(
        (value) => typeof value === 'object' && value !== null && 'decider' in value && 'stream' in value,
      );
      expect(found.length, `commands/${file} exports its aggregate (defineAggregate)`).toBeGreaterThan(0);
      for (const aggregate of found)
        expect(registered.has(aggregate), `commands/${file}'s aggregate is in commands/index.ts`).toBe(true);
    }
    expect(new Set(aggregates.map((aggregate) => aggregate.name)).size).toBe(aggregates.length);
  });

  it('runs every projection module’s projection', async () => {
    const registered = new Set<unknown>(projections);
    for (const file of modules('projections', ['projection.ts', 'index.ts'])) {
      const found = (await exportsOf('projections', file)).filter(
        (value) => typeof value === 'object' && value !== null && 'name' in value && 'version' in value,
      );
      expect(found.length, `projections/${file} exports a projection`).toBeGreaterThan(0);
      for (const projection of found) {
        expect(registered.has(projection), `projections/${file}'s projection is in projections/index.ts`).toBe(true);
      }
    }
  });

  it('has a row for every documented route in the tables the refusal and hostile-input probes walk', () => {
    // A fixture whose every field reads as a placeholder, so each row's path reads as a template.
    const placeholders = new Proxy({}, { get: (_target, field) => `{${String(field)}}` }) as unknown as Fixture;
    const probed = [
      ...readRoutes.map((route) => ['GET', ...route.path(placeholders).split('/')]),
      ...Object.values(writeRoutes).map((route) => [
        route.method.toUpperCase(),
        ...route.path(placeholders).split('/'),
      ]),
    ];
    const covers = (template: string[], row: string[]) =>
      template.length === row.length && template.every((part, at) => part.startsWith('{') || part === row[at]);
    const unprobed = operations
      .map((operation) => [operation.method.toUpperCase(), ...operation.path.split('/')])
      .filter((template) => !probed.some((row) => covers(template, row)))
      .map((template) => `${template[0]} ${template.slice(1).join('/')}`);
    expect(unprobed).toEqual([]);
  });
});
