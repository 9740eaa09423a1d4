import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { isId } from '../ids.ts';

/**
 * The `connection` authorization parameter (Auth0's name): an SSO connection id (`con_…`) the
 * application routes the sign-in to, so the person goes straight to their organization's IdP
 * without SigID's sign-in page. Enforces:
 * - a value that is no connection id is refused (`invalid_request`) before any page shows;
 * - whether it names an enabled connection of this tenant is the hosted pages' check (an error page).
 */
export const CONNECTION_PARAM = 'connection';

/** `connection`'s validator: only the form of a connection id passes. */
export async function validateConnectionParam(_ctx: KoaContextWithOIDC, value: string | undefined): Promise<void> {
  if (value === undefined || value === '') return;
  if (!isId('con', value)) throw new errors.InvalidRequest('the connection is not one of this tenant');
}
