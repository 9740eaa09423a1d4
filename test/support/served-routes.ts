import type { Express } from 'express';

interface RouterLayer {
  rawPath?: string | string[];
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: RouterLayer[] };
}

/** Every `METHOD /path` the express app serves, mount paths joined, `:id` written `{id}`. */
export function servedRoutes(app: Express): Set<string> {
  const routes = new Set<string>();
  const walk = (stack: RouterLayer[], prefix: string) => {
    for (const layer of stack) {
      const raw = layer.route?.path ?? layer.rawPath;
      if (typeof raw !== 'string') continue;
      const path = raw === '/' ? prefix : `${prefix}${raw}`;
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          if (method === '_all') continue;
          routes.add(`${method.toUpperCase()} ${path.replace(/\/$/, '') || '/'}`.replace(/:(\w+)/g, '{$1}'));
        }
      } else if (layer.handle.stack) walk(layer.handle.stack, path);
    }
  };
  walk((app as unknown as { router: { stack: RouterLayer[] } }).router.stack, '');
  return routes;
}
