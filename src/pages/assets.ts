import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';

const require = createRequire(import.meta.url);

/**
 * The hosted pages' static files: their style sheet, the passkey script, and
 * `@simplewebauthn/browser`'s bundle served by SigID itself (no third-party script on a sign-in page).
 */
export function pageAssets(): Router {
  const router = express.Router();
  const options = { maxAge: '1h', immutable: false, index: false, fallthrough: false } as const;
  // The package exports no path to its browser bundle: find it beside its package.json.
  const webauthn = join(dirname(require.resolve('@simplewebauthn/browser')), '..', 'dist/bundle/index.umd.min.js');
  router.get('/webauthn.js', (_request, response) => {
    response.setHeader('Cache-Control', 'public, max-age=3600');
    response.type('text/javascript').sendFile(webauthn);
  });
  router.use(express.static(fileURLToPath(new URL('./assets', import.meta.url)), options));
  return router;
}
