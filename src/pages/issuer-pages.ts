import { brandingOf } from '../../services/tenant-settings.ts';
import type { IssuerPage } from '../oidc/provider.ts';
import type { Sigid } from '../sigid.ts';
import { newNonce, pageHeaders, renderPage } from './render.ts';

/** What oidc-provider's own pages say about an error: a person's words, never a stack. */
const ERROR_TEXT: Record<string, string> = {
  invalid_request: 'The application sent a request SigID cannot accept.',
  invalid_client: 'The application is not known here.',
  invalid_redirect_uri: 'The application asked to return to an address it has not registered.',
  access_denied: 'The request was refused.',
  login_required: 'You need to sign in.',
};

/** oidc-provider's own pages (sign-out, its errors) as hosted pages, in the tenant's branding. */
export async function renderIssuerPage(
  sigid: Sigid,
  tenantId: string,
  page: IssuerPage,
): Promise<{ html: string; headers: Record<string, string> }> {
  const branding = await brandingOf(sigid, tenantId);
  const nonce = newNonce();
  const headers = pageHeaders(nonce);
  delete headers['Content-Type'];
  if (page.kind === 'logout') {
    return {
      headers,
      html: renderPage(
        {
          title: 'Sign out',
          branding,
          template: 'logout',
          data: { form: page.form, tenantName: branding.display_name },
        },
        nonce,
      ),
    };
  }
  if (page.kind === 'logged_out') {
    return {
      headers,
      html: renderPage(
        {
          title: 'You are signed out',
          branding,
          template: 'message',
          data: { text: page.clientName ? `You have signed out of ${page.clientName}.` : 'You have signed out.' },
        },
        nonce,
      ),
    };
  }
  return {
    headers,
    html: renderPage(
      {
        title: 'Something went wrong',
        branding,
        template: 'message',
        data: {
          text: `${ERROR_TEXT[page.error] ?? 'The request could not be completed.'}${page.description ? ` (${page.description})` : ''}`,
        },
      },
      nonce,
    ),
  };
}
