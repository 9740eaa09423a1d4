import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { accountAggregate } from '../../commands/account.ts';
import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import { findAccountLink } from '../../read-models/account-links.ts';
import { findApiByIdentifier } from '../../read-models/apis.ts';
import { type ConnectionRow, findConnection, listConnections } from '../../read-models/connections.ts';
import { findOrganizationMember } from '../../read-models/organization-members.ts';
import { findTenant } from '../../read-models/tenants.ts';
import {
  accountOfEmail,
  checkPasswordSignIn,
  linkAccount,
  PASSWORD_LENGTH,
  setPassword,
  signUpWithPassword,
} from '../../services/accounts.ts';
import { approvalOf, decideApproval } from '../../services/approvals.ts';
import { type UseCase, useCase } from '../../services/context.ts';
import { checkLink, consumeLink, queueEmail } from '../../services/email.ts';
import { acceptInvitation, type OpenedInvitation, openInvitation } from '../../services/invitations.ts';
import {
  confirmTotpEnrollment,
  mfaMethodsOf,
  regenerateRecoveryCodes,
  removeTotp,
  startTotpEnrollment,
  useRecoveryCode,
  verifyTotp,
} from '../../services/mfa.ts';
import { discoverRealm } from '../../services/organizations.ts';
import {
  passkeyAuthenticationOptions,
  passkeyRegistrationOptions,
  passkeysOf,
  removePasskey,
  verifyPasskeyAuthentication,
  verifyPasskeyRegistration,
} from '../../services/passkeys.ts';
import {
  accountEmail,
  accountOfSub,
  endSessions,
  grantsOf,
  recordSignIn,
  revokeConsent,
  sessionsOf,
  userBlocked,
} from '../../services/sign-in.ts';
import { signInThroughConnection } from '../../services/sso.ts';
import { brandingOf, mfaRequirement } from '../../services/tenant-settings.ts';
import { handleCommand } from '../command-handler.ts';
import { verifyNothing } from '../crypto/password.ts';
import { verifyLink } from '../email/links.ts';
import { ConflictError, NotFoundError, ProblemError, waitText } from '../errors.ts';
import { issuerRequest } from '../oidc/adapter.ts';
import { ACCOUNT_CLIENT_ID } from '../oidc/clients.ts';
import { CONNECTION_PARAM } from '../oidc/connections.ts';
import { ORGANIZATION_PARAM } from '../oidc/organizations.ts';
import type { Sigid } from '../sigid.ts';
import {
  authorizationRequest,
  type FederationFlow,
  federationFailure,
  mapClaims,
  redeemCallback,
  relyingParty,
  stateHash,
} from '../sso/oidc-connection.ts';
import { textRefusal } from '../text.ts';
import { accountThrottleKey, checkThrottle, ipThrottleKey, recordFailure, recordSuccess } from '../throttle.ts';
import { Csrf } from './csrf.ts';
import { type PageBranding, type PageOptions, sendPage } from './render.ts';
import { type ApiWords, describeScopes } from './scopes.ts';
import { pageThrottle } from './throttle.ts';

/** What a hosted page knows of its request: the tenant, its issuer and its look. */
interface PageContext {
  tenant: { id: string; slug: string; name: string };
  provider: Provider;
  issuer: string;
  branding: PageBranding;
  csrf: string;
}

const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });

/** A form's field: one string, trimmed, without control characters (NUL and friends are refused). */
const field = (max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => textRefusal(value, 'line') === null);
const emailField = field(320).pipe(z.string().trim().pipe(z.email()));
const passwordField = field(PASSWORD_LENGTH.max * 4);

/** The pending state of an interaction between its steps (kept in oidc-provider's interaction record). */
const pendingSchema = z.object({
  stage: z.enum(['mfa', 'enroll_mfa', 'enrolled']),
  sub: z.string(),
  amr: z.array(z.string()),
});
type Pending = z.infer<typeof pendingSchema>;

/** A sign-in sent to an SSO connection's IdP, kept in the interaction until its callback (`result.sso`). */
const federationSchema = z.object({
  connection_id: z.string(),
  state_hash: z.string(),
  nonce: z.string(),
  code_verifier: z.string(),
}) satisfies z.ZodType<FederationFlow>;

/** RFC 8176 `amr` values SigID records; an IdP's others are left out of its events. */
const knownAmr = new Set(['pwd', 'hwk', 'swk', 'otp', 'mfa', 'user']);

/**
 * SigID's hosted pages at `/t/{slug}/…`: sign-in, sign-up, MFA, consent, e-mail verification,
 * password reset and the account page, all server-rendered (eta, auto-escaped), usable without
 * JavaScript but for the passkey ceremony, with the tenant's branding, CSRF-checked forms, and every
 * outcome an event in the tenant's stream before the page answers. Paths these pages do not serve
 * fall through to the tenant's issuer.
 */
export function hostedPagesRouter(sigid: Sigid): Router {
  const throttle = pageThrottle(sigid);
  const forms = new Csrf(sigid.masterKey, () => sigid.config.publicUrl);
  const router = express.Router({ mergeParams: true });
  /** Resolves the tenant and its issuer; an unknown one falls through (to the issuer's 404). */
  async function pageContext(request: Request, response: Response): Promise<PageContext | undefined> {
    const { slug } = request.params as { slug: string };
    const entry = await sigid.issuers.get(slug);
    if (!entry) return undefined;
    const tenant = await findTenant(sigid.readModels, entry.tenant.id);
    if (!tenant) return undefined;
    return {
      tenant: { id: tenant.tenant_id, slug: tenant.slug, name: tenant.name },
      provider: entry.provider,
      issuer: sigid.issuers.issuerUrl(tenant.slug),
      branding: await brandingOf(sigid, tenant.tenant_id),
      csrf: forms.token(request, response),
    };
  }

  function page(response: Response, context: PageContext, options: Omit<PageOptions, 'branding'>): void {
    sendPage(response, {
      ...options,
      branding: context.branding,
      data: { csrf: context.csrf, ...options.data },
    });
  }

  /** A handler of one page: the context resolved, oidc-provider's storage told the request's id. */
  function handle(
    run: (context: PageContext, request: Request, response: Response) => Promise<void>,
    options: { post?: boolean } = {},
  ) {
    return (request: Request, response: Response, next: NextFunction) => {
      const work = async () => {
        const context = await pageContext(request, response);
        if (!context) return next();
        if (options.post && !forms.verify(request)) {
          return page(response, context, {
            status: 403,
            title: 'This form has expired',
            template: 'message',
            data: { text: 'Go back, reload the page and try again.' },
          });
        }
        await issuerRequest.run({ correlationId: String(request.id), path: request.path }, () =>
          run(context, request, response),
        );
      };
      work().catch((error: unknown) => {
        if (isSessionNotFound(error)) {
          const context = { branding: fallbackBranding } as PageContext;
          return sendPage(response, {
            status: 400,
            title: 'This sign-in has expired',
            branding: context.branding,
            template: 'message',
            data: { text: 'Go back to the application and start signing in again.' },
          });
        }
        next(error);
      });
    };
  }

  /**
   * A handler of the account page's forms: the person signed in at this tenant's issuer, and their
   * account; without a session (or once the account is erased) the browser is sent to sign in.
   */
  function signedIn(
    run: (
      context: PageContext,
      request: Request,
      response: Response,
      sub: string,
      account: NonNullable<Awaited<ReturnType<typeof accountOfSub>>>,
    ) => Promise<void>,
    options: { post?: boolean } = {},
  ) {
    return handle(async (context, request, response) => {
      const sub = await sessionSub(context, request, response);
      const account = sub ? await accountOfSub(sigid, context.tenant.id, sub) : undefined;
      if (!sub || !account) return void response.redirect(303, accountSignInUrl(context));
      await run(context, request, response, sub, account);
    }, options);
  }

  function pageUseCase(context: PageContext, request: Request, sub?: string): UseCase {
    return useCase({
      tenantId: context.tenant.id,
      actor: sub ? { type: 'user', id: sub } : { type: 'system', id: 'hosted-pages' },
      correlationId: String(request.id),
    });
  }

  const interactionPath = (context: PageContext, uid: string, step = '') =>
    `/t/${context.tenant.slug}/interaction/${uid}${step ? `/${step}` : ''}`;

  async function details(context: PageContext, request: Request, response: Response) {
    const found = await context.provider.interactionDetails(request, response);
    if (found.uid !== (request.params as { uid: string }).uid) throw new SessionNotFoundError();
    return found;
  }

  function pendingOf(found: { result?: unknown }): Pending | undefined {
    const parsed = pendingSchema.safeParse((found.result as { sigid?: unknown } | undefined)?.sigid);
    return parsed.success ? parsed.data : undefined;
  }

  async function clientName(context: PageContext, clientId: string): Promise<string> {
    const client = await context.provider.Client.find(clientId).catch(() => undefined);
    return String(client?.clientName ?? (clientId === ACCOUNT_CLIENT_ID ? 'your account' : clientId));
  }

  function signInPage(
    context: PageContext,
    response: Response,
    uid: string,
    clientLabel: string,
    extra: { email?: string; error?: string; notice?: string; status?: number; headers?: Record<string, string> } = {},
  ) {
    const base = interactionPath(context, uid);
    page(response, context, {
      title: `Sign in to ${context.branding.display_name}`,
      template: 'sign-in',
      status: extra.status,
      headers: extra.headers,
      error: extra.error,
      notice: extra.notice,
      scripts: ['/assets/webauthn.js', '/assets/passkey.js'],
      data: {
        action: `${base}/sign-in`,
        email: extra.email,
        signUpUrl: `${base}/sign-up`,
        forgotUrl: `/t/${context.tenant.slug}/forgot-password?interaction=${uid}`,
        abortUrl: `${base}/abort`,
        clientName: clientLabel,
        passkey: { action: `${base}/passkey`, optionsUrl: `${base}/passkey/options` },
      },
    });
  }

  /**
   * Signs the person in: records `sign_in.succeeded`, then hands the login to oidc-provider, or
   * first asks for the second factor the tenant's policy and the account call for.
   */
  async function completeLogin(
    context: PageContext,
    request: Request,
    response: Response,
    found: Awaited<ReturnType<typeof details>>,
    sub: string,
    amr: string[],
    /** Signed in through an SSO connection: the organization's IdP asked for whatever second factor it requires. */
    federated = false,
  ): Promise<void> {
    const clientId = String(found.params.client_id);
    if (await userBlocked(sigid, context.tenant.id, sub)) {
      await refuseSignIn(context, request, found, 'user_blocked', sub);
      return page(response, context, {
        title: 'You cannot sign in here',
        template: 'message',
        status: 403,
        data: {
          text: `Your account is blocked at ${context.branding.display_name}. Ask them to unblock it if you think this is a mistake.`,
        },
      });
    }
    if (!federated && !amr.includes('mfa') && !amr.includes('hwk')) {
      const account = await accountOfSub(sigid, context.tenant.id, sub);
      const need = account ? await secondFactorNeeded(context.tenant.id, clientId, account.account_id) : 'none';
      if (need !== 'none') {
        await context.provider.interactionResult(
          request,
          response,
          { sigid: { stage: need === 'challenge' ? 'mfa' : 'enroll_mfa', sub, amr } satisfies Pending },
          { mergeWithLastSubmission: false },
        );
        response.redirect(303, interactionPath(context, found.uid));
        return;
      }
    }
    await recordSignIn(
      sigid,
      [
        {
          type: 'sign_in.succeeded',
          data: { sub, client_id: clientId, amr: amr as never, interaction_id: found.uid },
        },
      ],
      pageUseCase(context, request, sub),
    );
    await context.provider.interactionFinished(
      request,
      response,
      { login: { accountId: sub, amr, remember: true } },
      { mergeWithLastSubmission: false },
    );
  }

  /**
   * Home-realm discovery at the e-mail step: the organization that has verified the address's domain
   * (`discoverRealm`). An organization with an enabled SSO connection never gets here: its addresses
   * are sent to the connection before a password is checked (`connectionForRealm`). Without one, a
   * member of that organization signs in for it as if the application had asked (`organization`),
   * so its claims apply. An `organization` the application asked for wins; a non-member signs in without one.
   */
  async function signInForRealm(
    context: PageContext,
    found: Awaited<ReturnType<typeof details>>,
    email: string,
    sub: string,
  ): Promise<void> {
    if (found.params[ORGANIZATION_PARAM]) return;
    const realm = await discoverRealm(sigid, context.tenant.id, email);
    if (!realm) return;
    if (!(await findOrganizationMember(sigid.readModels, context.tenant.id, realm.organization_id, sub))) return;
    found.params[ORGANIZATION_PARAM] = realm.organization_id;
    await found.save(Math.max(1, found.exp - Math.floor(Date.now() / 1000)));
  }

  async function refuseSignIn(
    context: PageContext,
    request: Request,
    found: { uid: string; params: Record<string, unknown> },
    reason:
      | 'invalid_credentials'
      | 'invalid_mfa_code'
      | 'invalid_passkey'
      | 'email_not_verified'
      | 'throttled'
      | 'user_blocked'
      | 'sso_failed',
    sub: string | null,
  ) {
    await recordSignIn(
      sigid,
      [
        {
          type: 'sign_in.failed',
          data: { sub, client_id: String(found.params.client_id), reason, interaction_id: found.uid },
        },
      ],
      pageUseCase(context, request),
    );
  }

  /** The tenant's sub of the account an address belongs to, if the person has used this tenant. */
  async function knownSub(context: PageContext, email: string): Promise<string | null> {
    const accountId = await accountOfEmail(sigid, email);
    if (!accountId) return null;
    return (await findAccountLink(sigid.readModels, accountId, context.tenant.id))?.sub ?? null;
  }

  async function sendVerification(context: PageContext, request: Request, accountId: string, uid?: string) {
    const { sub } = await linkAccount(sigid, accountId, context.tenant.id, pageUseCase(context, request));
    const email = await accountEmail(sigid, accountId);
    if (!email) return;
    const url = new URL(`${context.issuer}/verify-email`);
    if (uid) url.searchParams.set('interaction', uid);
    await queueEmail(
      sigid,
      {
        tenantId: context.tenant.id,
        subjectId: sub,
        to: email,
        template: 'verify-email',
        params: {},
        link: { url: url.href },
      },
      pageUseCase(context, request, sub),
    );
  }

  /**
   * Home-realm discovery to an SSO connection: the enabled connection of the organization that has
   * verified the address's domain, unless the application asked for another organization.
   */
  async function connectionForRealm(
    context: PageContext,
    found: Awaited<ReturnType<typeof details>>,
    email: string,
  ): Promise<ConnectionRow | null> {
    const realm = await discoverRealm(sigid, context.tenant.id, email);
    if (!realm) return null;
    const asked = found.params[ORGANIZATION_PARAM];
    if (typeof asked === 'string' && asked !== '' && asked !== realm.organization_id && asked !== realm.name) {
      return null;
    }
    const [connection] = await listConnections(sigid.readModels, context.tenant.id, realm.organization_id, {
      limit: 1,
      enabledOnly: true,
    });
    return connection ?? null;
  }

  /** The relying party for a connection's IdP (its client secret opened from the sealed-secrets store). */
  async function connectionClient(context: PageContext, connection: ConnectionRow, fresh = false) {
    const oidc = connection.oidc;
    if (!oidc) throw new Error('a connection without OIDC settings');
    const stored = await sigid.secrets.getStored(context.tenant.id, 'connection-secret', [oidc.client_secret_id]);
    const secret = stored.get(oidc.client_secret_id);
    if (!secret) throw new Error('the connection has no client secret');
    return relyingParty(
      sigid,
      `${context.tenant.id}:${connection.connection_id}:${connection.revision}`,
      oidc,
      secret.toString('utf8'),
      fresh,
    );
  }

  const federationCallback = (context: PageContext) => `${context.issuer}/sso/callback`;

  /** A sign-in through a connection that failed: recorded, and a page saying so with a way to start again (never a 5xx). */
  async function federationRefused(
    context: PageContext,
    request: Request,
    response: Response,
    found: { uid: string; params: Record<string, unknown> },
    text: string,
  ) {
    await refuseSignIn(context, request, found, 'sso_failed', null);
    page(response, context, {
      status: 400,
      title: 'You are not signed in',
      template: 'message',
      error: text,
      data: { link: { href: interactionPath(context, found.uid, 'sign-in-again'), label: 'Start again' } },
    });
  }

  /**
   * Sends the browser to the connection's IdP: authorization code with PKCE (S256), a `state` that
   * names the interaction and a random part (its hash kept in the interaction), and a `nonce`.
   */
  async function startFederation(
    context: PageContext,
    request: Request,
    response: Response,
    found: Awaited<ReturnType<typeof details>>,
    connection: ConnectionRow,
    loginHint?: string,
  ): Promise<void> {
    let started: Awaited<ReturnType<typeof authorizationRequest>>;
    try {
      started = await authorizationRequest(await connectionClient(context, connection, true), {
        connectionId: connection.connection_id,
        redirectUri: federationCallback(context),
        scopes: connection.oidc?.scopes ?? ['openid'],
        state: `${found.uid}.${randomBytes(32).toString('base64url')}`,
        loginHint,
      });
    } catch (error) {
      return federationRefused(context, request, response, found, federationFailure(error).text);
    }
    await context.provider.interactionResult(
      request,
      response,
      { sso: started.flow },
      { mergeWithLastSubmission: false },
    );
    response.redirect(303, started.url.href);
  }

  // The IdP's redirect back (the one redirect URI registered at every IdP of the tenant): the state
  // names the interaction, whose own path carries its cookie, so the browser is sent on there.
  router.get(
    '/sso/callback',
    handle(async (context, request, response) => {
      const state = typeof request.query.state === 'string' ? request.query.state : '';
      const uid = /^([A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{43}$/.exec(state)?.[1];
      if (!uid) {
        return page(response, context, {
          status: 400,
          title: 'This sign-in has expired',
          template: 'message',
          data: { text: 'Go back to the application and start signing in again.' },
        });
      }
      const query = new URL(request.originalUrl, 'http://sigid.invalid').search;
      response.redirect(303, `${interactionPath(context, uid, 'sso/callback')}${query}`);
    }),
  );

  router.get(
    '/interaction/:uid/sso/callback',
    handle(async (context, request, response) => {
      const found = await details(context, request, response);
      const flow = federationSchema.safeParse((found.result as { sso?: unknown } | undefined)?.sso);
      const state = typeof request.query.state === 'string' ? request.query.state : '';
      if (found.prompt.name !== 'login' || !flow.success || stateHash(state) !== flow.data.state_hash) {
        return federationRefused(context, request, response, found, 'This sign-in has expired. Start again.');
      }
      const connection = await findConnection(sigid.readModels, context.tenant.id, flow.data.connection_id);
      if (!connection?.enabled || !connection.oidc) {
        return federationRefused(context, request, response, found, 'This sign-in method is no longer available.');
      }
      const callbackUrl = new URL(federationCallback(context));
      callbackUrl.search = new URL(request.originalUrl, 'http://sigid.invalid').search;
      let identity: Awaited<ReturnType<typeof redeemCallback>>;
      try {
        identity = await redeemCallback(
          await connectionClient(context, connection),
          callbackUrl,
          flow.data,
          state,
          connection.oidc.claim_mapping.email,
        );
      } catch (error) {
        return federationRefused(context, request, response, found, federationFailure(error).text);
      }
      const profile = mapClaims(identity.claims, connection.oidc.claim_mapping);
      if (!profile.email) {
        return federationRefused(
          context,
          request,
          response,
          found,
          'Your organization’s sign-in service did not share your e-mail address, which this application needs.',
        );
      }
      let signedIn: Awaited<ReturnType<typeof signInThroughConnection>>;
      try {
        signedIn = await signInThroughConnection(
          sigid,
          context.tenant.id,
          { connection, issuer: identity.issuer, subject: identity.subject, profile },
          pageUseCase(context, request),
        );
      } catch (error) {
        // The organization was deleted meanwhile, or a write raced past its retries: nothing half-done stays wrong.
        if (!(error instanceof ProblemError)) throw error;
        return federationRefused(
          context,
          request,
          response,
          found,
          'Your sign-in could not be completed. Start again.',
        );
      }
      // The connection's organization is the one signed in for (its claims apply), unless the application asked otherwise.
      if (!found.params[ORGANIZATION_PARAM]) {
        found.params[ORGANIZATION_PARAM] = connection.organization_id;
        await found.save(Math.max(1, found.exp - Math.floor(Date.now() / 1000)));
      }
      const idpAmr = Array.isArray(identity.claims.amr)
        ? identity.claims.amr.filter((v) => knownAmr.has(String(v)))
        : [];
      await completeLogin(context, request, response, found, signedIn.sub, idpAmr.map(String), true);
    }),
  );

  // "Start again" after a failed SSO sign-in: the sign-in page of the same interaction, without the connection hint.
  router.get(
    '/interaction/:uid/sign-in-again',
    handle(async (context, request, response) => {
      const found = await details(context, request, response);
      signInPage(context, response, found.uid, await clientName(context, String(found.params.client_id)));
    }),
  );

  // The interaction's page: sign-in, the second factor, or consent, as oidc-provider's prompt says.
  router.get(
    '/interaction/:uid',
    handle(async (context, request, response) => {
      const found = await details(context, request, response);
      const clientLabel = await clientName(context, String(found.params.client_id));
      const pending = pendingOf(found);
      if (found.prompt.name === 'login' && pending?.stage === 'mfa') return mfaPage(context, response, found.uid);
      if (found.prompt.name === 'login' && pending?.stage === 'enroll_mfa') {
        return enrollPage(context, request, response, interactionPath(context, found.uid, 'mfa/enroll'), pending.sub);
      }
      const hint = found.params[CONNECTION_PARAM];
      if (found.prompt.name === 'login' && typeof hint === 'string' && hint !== '') {
        const connection = await findConnection(sigid.readModels, context.tenant.id, hint);
        if (!connection?.enabled) {
          return federationRefused(
            context,
            request,
            response,
            found,
            'The application asked for a sign-in method that does not exist or is turned off.',
          );
        }
        return startFederation(context, request, response, found, connection);
      }
      if (found.prompt.name === 'login') return signInPage(context, response, found.uid, clientLabel);
      if (found.prompt.name === 'consent') {
        const promptDetails = found.prompt.details as {
          missingOIDCScope?: string[];
          missingResourceScopes?: Record<string, string[]>;
        };
        return page(response, context, {
          title: `${clientLabel} wants to use your account`,
          template: 'consent',
          data: {
            action: interactionPath(context, found.uid, 'consent'),
            clientName: clientLabel,
            scopes: describeScopes(
              promptDetails.missingOIDCScope ?? [],
              promptDetails.missingResourceScopes ?? {},
              context.branding.display_name,
              await apiWords(sigid, context.tenant.id, Object.keys(promptDetails.missingResourceScopes ?? {})),
            ),
          },
        });
      }
      throw new Error(`unknown prompt ${found.prompt.name}`);
    }),
  );

  router.post(
    '/interaction/:uid/sign-in',
    form,
    handle(
      async (context, request, response) => {
        const found = await details(context, request, response);
        if (found.prompt.name !== 'login') return void response.redirect(303, interactionPath(context, found.uid));
        const clientLabel = await clientName(context, String(found.params.client_id));
        const body = request.body as Record<string, unknown>;
        const email = emailField.safeParse(body.email);
        // Home-realm discovery: an address whose domain an organization with an SSO connection verified signs in there.
        const connection = email.success ? await connectionForRealm(context, found, email.data) : null;
        if (connection && email.success) {
          return startFederation(context, request, response, found, connection, email.data);
        }
        const password = passwordField.safeParse(body.password);
        if (!email.success || !password.success || password.data.length === 0) {
          return signInPage(context, response, found.uid, clientLabel, {
            status: 400,
            email: typeof body.email === 'string' && email.success ? email.data : '',
            error: 'Type your e-mail address and your password.',
          });
        }
        const denied = await throttle.check(request, email.data);
        if (denied) {
          await refuseSignIn(context, request, found, 'throttled', await knownSub(context, email.data));
          return signInPage(context, response, found.uid, clientLabel, {
            status: 429,
            email: email.data,
            error: `Too many attempts. Try again in ${waitText(denied)}.`,
            headers: { 'Retry-After': String(denied) },
          });
        }
        const accountId = await checkPasswordSignIn(sigid, email.data, password.data);
        if (!accountId) {
          await throttle.failed(request, email.data);
          await refuseSignIn(context, request, found, 'invalid_credentials', await knownSub(context, email.data));
          return signInPage(context, response, found.uid, clientLabel, {
            status: 400,
            email: email.data,
            error: 'The e-mail address or the password is not right.',
          });
        }
        await throttle.succeeded(request, email.data);
        const account = await sigid.readModels
          .selectFrom('accounts')
          .select('email_verified')
          .where('account_id', '=', accountId)
          .executeTakeFirst();
        const { sub } = await linkAccount(sigid, accountId, context.tenant.id, pageUseCase(context, request));
        if (!account?.email_verified) {
          await refuseSignIn(context, request, found, 'email_not_verified', sub);
          await sendVerification(context, request, accountId, found.uid);
          return signInPage(context, response, found.uid, clientLabel, {
            email: email.data,
            notice: 'Confirm your e-mail address first: we have sent you a new link. Then sign in here.',
          });
        }
        await signInForRealm(context, found, email.data, sub);
        await completeLogin(context, request, response, found, sub, ['pwd']);
      },
      { post: true },
    ),
  );

  /**
   * Whether a sign-in still needs a second factor: the account's authenticator app when it has one
   * (unless the tenant turned MFA off), or enrolling one when the tenant's policy requires it.
   */
  async function secondFactorNeeded(
    tenantId: string,
    clientId: string,
    accountId: string,
  ): Promise<'none' | 'challenge' | 'enroll'> {
    if (clientId === ACCOUNT_CLIENT_ID && !(await mfaMethodsOf(sigid, accountId)).totp) return 'none';
    const policy = await mfaRequirement(sigid, tenantId, clientId);
    if (policy === 'off') return 'none';
    if ((await mfaMethodsOf(sigid, accountId)).totp) return 'challenge';
    return policy === 'required' ? 'enroll' : 'none';
  }

  function mfaPage(context: PageContext, response: Response, uid: string, error?: string) {
    page(response, context, {
      title: 'Two-step verification',
      template: 'mfa',
      status: error ? 400 : 200,
      error,
      data: { action: interactionPath(context, uid, 'mfa') },
    });
  }

  async function enrollPage(context: PageContext, request: Request, response: Response, action: string, sub: string) {
    const account = await accountOfSub(sigid, context.tenant.id, sub);
    if (!account) throw new SessionNotFoundError();
    const started = await startTotpEnrollment(sigid, account.account_id, pageUseCase(context, request, sub));
    page(response, context, {
      title: 'Set up an authenticator app',
      template: 'totp-enroll',
      data: { action, ...started },
    });
  }

  const secondFactorKeys = (request: Request, accountId: string) => [
    accountThrottleKey(accountId, 'second_factor'),
    ipThrottleKey(sigid, request.ip ?? request.socket.remoteAddress),
  ];

  router.post(
    '/interaction/:uid/mfa',
    form,
    handle(
      async (context, request, response) => {
        const found = await details(context, request, response);
        const pending = pendingOf(found);
        if (found.prompt.name !== 'login' || pending?.stage !== 'mfa') {
          return void response.redirect(303, interactionPath(context, found.uid));
        }
        const account = await accountOfSub(sigid, context.tenant.id, pending.sub);
        if (!account) throw new SessionNotFoundError();
        const keys = secondFactorKeys(request, account.account_id);
        const decision = await checkThrottle(sigid, keys);
        if (!decision.allowed) {
          await refuseSignIn(context, request, found, 'throttled', pending.sub);
          return page(response, context, {
            title: 'Two-step verification',
            template: 'mfa',
            status: 429,
            headers: { 'Retry-After': String(decision.retryAfterSeconds) },
            error: `Too many attempts. Try again in ${waitText(decision.retryAfterSeconds)}.`,
            data: { action: interactionPath(context, found.uid, 'mfa') },
          });
        }
        const body = request.body as Record<string, unknown>;
        const code = field(64).safeParse(body.code);
        const recovery = field(64).safeParse(body.recovery_code);
        const useCaseOf = pageUseCase(context, request, pending.sub);
        let method: 'otp' | 'recovery' | null = null;
        if (code.success && code.data.trim() !== '') {
          if (await verifyTotp(sigid, account.account_id, code.data, useCaseOf)) method = 'otp';
        } else if (recovery.success && recovery.data.trim() !== '') {
          if (await useRecoveryCode(sigid, account.account_id, recovery.data, useCaseOf)) method = 'recovery';
        }
        if (!method) {
          await recordFailure(sigid, keys);
          await refuseSignIn(context, request, found, 'invalid_mfa_code', pending.sub);
          return mfaPage(context, response, found.uid, 'That code is not right. Try the newest one your app shows.');
        }
        await recordSuccess(sigid, keys[0] as ReturnType<typeof accountThrottleKey>);
        await completeLogin(context, request, response, found, pending.sub, [...pending.amr, 'otp', 'mfa']);
      },
      { post: true },
    ),
  );

  // Enrolling at sign-in (the tenant requires MFA and the account has none): the app's first code,
  // then the recovery codes shown once, then the sign-in goes on.
  router.post(
    '/interaction/:uid/mfa/enroll',
    form,
    handle(
      async (context, request, response) => {
        const found = await details(context, request, response);
        const pending = pendingOf(found);
        if (found.prompt.name !== 'login' || pending?.stage !== 'enroll_mfa') {
          return void response.redirect(303, interactionPath(context, found.uid));
        }
        const account = await accountOfSub(sigid, context.tenant.id, pending.sub);
        if (!account) throw new SessionNotFoundError();
        const body = request.body as Record<string, unknown>;
        const confirmed = await confirmEnrollment(
          sigid,
          account.account_id,
          String(body.enrollment_id ?? ''),
          String(body.code ?? ''),
          pageUseCase(context, request, pending.sub),
        );
        if (!confirmed) {
          return page(response, context, {
            status: 400,
            title: 'Set up an authenticator app',
            template: 'message',
            error: 'That code is not right.',
            data: { link: { href: interactionPath(context, found.uid), label: 'Try again' } },
          });
        }
        await context.provider.interactionResult(
          request,
          response,
          { sigid: { ...pending, stage: 'enrolled', amr: [...pending.amr, 'otp', 'mfa'] } satisfies Pending },
          { mergeWithLastSubmission: false },
        );
        page(response, context, {
          title: 'Save your recovery codes',
          template: 'recovery-codes',
          data: { codes: confirmed.recoveryCodes, continueAction: interactionPath(context, found.uid, 'mfa/continue') },
        });
      },
      { post: true },
    ),
  );

  router.post(
    '/interaction/:uid/mfa/continue',
    form,
    handle(
      async (context, request, response) => {
        const found = await details(context, request, response);
        const pending = pendingOf(found);
        if (found.prompt.name !== 'login' || pending?.stage !== 'enrolled') {
          return void response.redirect(303, interactionPath(context, found.uid));
        }
        await completeLogin(context, request, response, found, pending.sub, pending.amr);
      },
      { post: true },
    ),
  );

  // Passkey sign-in, usernameless: the options (JSON, for the page's script), then the answer.
  router.post(
    '/interaction/:uid/passkey/options',
    form,
    handle(
      async (context, request, response) => {
        await details(context, request, response);
        response.setHeader('Cache-Control', 'no-store');
        response.json(await passkeyAuthenticationOptions(sigid));
      },
      { post: true },
    ),
  );

  router.post(
    '/interaction/:uid/passkey',
    form,
    handle(
      async (context, request, response) => {
        const found = await details(context, request, response);
        if (found.prompt.name !== 'login') return void response.redirect(303, interactionPath(context, found.uid));
        const body = request.body as Record<string, unknown>;
        const answer = parseJson(body.response);
        const signedIn = answer
          ? await verifyPasskeyAuthentication(
              sigid,
              String(body.challenge_id ?? ''),
              answer as never,
              pageUseCase(context, request),
            )
          : null;
        const clientLabel = await clientName(context, String(found.params.client_id));
        if (!signedIn) {
          await refuseSignIn(context, request, found, 'invalid_passkey', null);
          return signInPage(context, response, found.uid, clientLabel, {
            status: 400,
            error: 'The passkey could not be used. Try again, or sign in with your password.',
          });
        }
        const { sub } = await linkAccount(sigid, signedIn.accountId, context.tenant.id, pageUseCase(context, request));
        // A passkey is possession of a device and the person's verification on it: multi-factor.
        await completeLogin(context, request, response, found, sub, ['hwk', 'user']);
      },
      { post: true },
    ),
  );

  router.get(
    '/interaction/:uid/sign-up',
    handle(async (context, request, response) => {
      const found = await details(context, request, response);
      page(response, context, {
        title: `Create your account`,
        template: 'sign-up',
        data: {
          action: interactionPath(context, found.uid, 'sign-up'),
          signInUrl: interactionPath(context, found.uid),
          minLength: PASSWORD_LENGTH.min,
        },
      });
    }),
  );

  router.post(
    '/interaction/:uid/sign-up',
    form,
    handle(
      async (context, request, response) => {
        const found = await details(context, request, response);
        const body = request.body as Record<string, unknown>;
        const email = emailField.safeParse(body.email);
        const password = passwordField.safeParse(body.password);
        const passwordOk =
          password.success &&
          password.data.length >= PASSWORD_LENGTH.min &&
          password.data.length <= PASSWORD_LENGTH.max;
        if (!email.success || !passwordOk) {
          return page(response, context, {
            status: 400,
            title: 'Create your account',
            template: 'sign-up',
            error: !email.success
              ? 'Type a valid e-mail address.'
              : `Choose a password of ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters.`,
            data: {
              action: interactionPath(context, found.uid, 'sign-up'),
              signInUrl: interactionPath(context, found.uid),
              minLength: PASSWORD_LENGTH.min,
              email: email.success ? email.data : '',
            },
          });
        }
        const denied = await throttle.check(request, email.data);
        if (denied) {
          return page(response, context, {
            status: 429,
            title: 'Create your account',
            template: 'message',
            error: `Too many attempts. Try again in ${waitText(denied)}.`,
            headers: { 'Retry-After': String(denied) },
          });
        }
        const outcome = await signUpWithPassword(
          sigid,
          { email: email.data, password: password.data as string },
          pageUseCase(context, request),
        );
        if (outcome.status === 'created') {
          await sendVerification(context, request, outcome.accountId, found.uid);
        } else {
          // The same answer and about the same work as a new account: the hash, and one e-mail to the owner.
          await verifyNothing(password.data as string);
          const accountId = await accountOfEmail(sigid, email.data);
          if (accountId) await sendAccountExists(context, request, accountId, email.data, found.uid);
        }
        page(response, context, {
          title: 'Check your inbox',
          template: 'message',
          data: {
            text: `We have sent a message to ${email.data}. Follow its link to confirm your address, then sign in.`,
            link: { href: interactionPath(context, found.uid), label: 'Back to sign-in' },
          },
        });
      },
      { post: true },
    ),
  );

  async function sendAccountExists(
    context: PageContext,
    request: Request,
    accountId: string,
    email: string,
    uid: string,
  ) {
    const { sub } = await linkAccount(sigid, accountId, context.tenant.id, pageUseCase(context, request));
    const url = new URL(`${context.issuer}/reset-password`);
    url.searchParams.set('interaction', uid);
    await queueEmail(
      sigid,
      {
        tenantId: context.tenant.id,
        subjectId: sub,
        to: email,
        template: 'account-exists',
        params: {},
        link: { url: url.href },
      },
      pageUseCase(context, request, sub),
    );
  }

  router.post(
    '/interaction/:uid/consent',
    form,
    handle(
      async (context, request, response) => {
        const found = await details(context, request, response);
        if (found.prompt.name !== 'consent') return void response.redirect(303, interactionPath(context, found.uid));
        const sub = String(found.session?.accountId);
        const clientId = String(found.params.client_id);
        if ((request.body as Record<string, unknown>).decision !== 'allow') {
          return void (await context.provider.interactionFinished(
            request,
            response,
            { error: 'access_denied', error_description: 'The person did not allow the request.' },
            { mergeWithLastSubmission: false },
          ));
        }
        const promptDetails = found.prompt.details as {
          missingOIDCScope?: string[];
          missingOIDCClaims?: string[];
          missingResourceScopes?: Record<string, string[]>;
        };
        const { Grant } = context.provider;
        const grant = found.grantId
          ? ((await Grant.find(found.grantId)) ?? new Grant({ accountId: sub, clientId }))
          : new Grant({ accountId: sub, clientId });
        if (promptDetails.missingOIDCScope) grant.addOIDCScope(promptDetails.missingOIDCScope.join(' '));
        if (promptDetails.missingOIDCClaims) grant.addOIDCClaims(promptDetails.missingOIDCClaims);
        for (const [resource, scopes] of Object.entries(promptDetails.missingResourceScopes ?? {})) {
          grant.addResourceScope(resource, scopes.join(' '));
        }
        const grantId = await grant.save();
        await recordSignIn(
          sigid,
          [
            {
              type: 'consent.granted',
              data: {
                sub,
                client_id: clientId,
                grant_id: grantId,
                scopes: promptDetails.missingOIDCScope ?? [],
                resource_scopes: promptDetails.missingResourceScopes ?? {},
              },
            },
          ],
          pageUseCase(context, request, sub),
        );
        await context.provider.interactionFinished(
          request,
          response,
          { consent: { grantId } },
          { mergeWithLastSubmission: true },
        );
      },
      { post: true },
    ),
  );

  router.post(
    '/interaction/:uid/abort',
    form,
    handle(
      async (context, request, response) => {
        await details(context, request, response);
        await context.provider.interactionFinished(
          request,
          response,
          { error: 'access_denied', error_description: 'The person cancelled the sign-in.' },
          { mergeWithLastSubmission: false },
        );
      },
      { post: true },
    ),
  );

  // E-mail verification: the link opens a page whose button confirms (mail scanners that open links
  // must not use them up); the token is checked on both, used once on the post.
  router.get(
    '/verify-email',
    handle(async (context, request, response) => {
      const token = typeof request.query.token === 'string' ? request.query.token : '';
      const checked = await checkLink(sigid, token, 'verify_email', context.tenant.id);
      if (!checked.ok) return linkRefused(context, response, checked.reason);
      page(response, context, {
        title: 'Confirm your e-mail address',
        template: 'confirm-link',
        data: { action: request.originalUrl, token, button: 'Confirm my address' },
      });
    }),
  );

  router.post(
    '/verify-email',
    form,
    handle(
      async (context, request, response) => {
        const token = String((request.body as Record<string, unknown>).token ?? '');
        const checked = await checkLink(sigid, token, 'verify_email', context.tenant.id);
        if (!checked.ok) return linkRefused(context, response, checked.reason);
        const account = await accountOfSub(sigid, context.tenant.id, checked.link.subject);
        if (!account) return linkRefused(context, response, 'invalid');
        const used = await consumeLink(sigid, token, 'verify_email', pageUseCase(context, request, account.sub));
        if (!used.ok) return linkRefused(context, response, used.reason);
        if (!account.email_verified) {
          await handleCommand(
            sigid.log,
            accountAggregate,
            account.account_id,
            { type: 'verify_email' },
            { ...pageUseCase(context, request, account.sub), tenantId: PLATFORM_TENANT },
          );
        }
        const uid = typeof request.query.interaction === 'string' ? request.query.interaction : '';
        page(response, context, {
          title: 'Your e-mail address is confirmed',
          template: 'message',
          data: {
            text: 'Thank you. You can sign in now.',
            link: /^[A-Za-z0-9_-]{1,64}$/.test(uid)
              ? { href: `/t/${context.tenant.slug}/interaction/${uid}`, label: 'Continue signing in' }
              : null,
          },
        });
      },
      { post: true },
    ),
  );

  // Invitations: the link opens a page that signs the person in (the invited address has an account)
  // or up (it has none; the link proves the address), then joins them to the tenant. The link is
  // checked on both; the invitation is accepted once (its decider), and a resend replaces the link.
  function invitationPage(
    context: PageContext,
    request: Request,
    response: Response,
    opened: Extract<OpenedInvitation, { ok: true }>,
    token: string,
    extra: { error?: string; status?: number } = {},
  ) {
    page(response, context, {
      title: `Join ${context.branding.display_name}`,
      template: 'invitation',
      status: extra.status,
      error: extra.error,
      data: {
        action: request.originalUrl.split('?')[0],
        token,
        email: opened.invitation.email,
        tenantName: context.branding.display_name,
        hasAccount: opened.hasAccount,
        minLength: PASSWORD_LENGTH.min,
      },
    });
  }

  router.get(
    '/invitation',
    handle(async (context, request, response) => {
      const token = typeof request.query.token === 'string' ? request.query.token : '';
      const opened = await openInvitation(sigid, context.tenant.id, token);
      if (!opened.ok) return linkRefused(context, response, opened.reason);
      invitationPage(context, request, response, opened, token);
    }),
  );

  router.post(
    '/invitation',
    form,
    handle(
      async (context, request, response) => {
        const body = request.body as Record<string, unknown>;
        const token = typeof body.token === 'string' ? body.token : '';
        const opened = await openInvitation(sigid, context.tenant.id, token);
        if (!opened.ok) return linkRefused(context, response, opened.reason);
        const password = passwordField.safeParse(body.password);
        const tooShort = !opened.hasAccount && password.success && password.data.length < PASSWORD_LENGTH.min;
        if (!password.success || password.data.length === 0 || tooShort) {
          return invitationPage(context, request, response, opened, token, {
            status: 400,
            error: tooShort
              ? `Choose a password of at least ${PASSWORD_LENGTH.min} characters.`
              : 'Type your password.',
          });
        }
        const accepted = await acceptInvitation(sigid, opened, password.data, pageUseCase(context, request));
        if (!accepted.ok) {
          return invitationPage(context, request, response, opened, token, {
            status: accepted.reason === 'user_blocked' ? 403 : 400,
            error:
              accepted.reason === 'user_blocked'
                ? `Your account is blocked at ${context.branding.display_name}.`
                : 'The password is not right.',
          });
        }
        page(response, context, {
          title: `You have joined ${context.branding.display_name}`,
          template: 'message',
          data: {
            text: 'Your invitation is accepted.',
            link: { href: `/t/${context.tenant.slug}/account`, label: 'Go to your account' },
          },
        });
      },
      { post: true },
    ),
  );

  function linkRefused(context: PageContext, response: Response, reason: string) {
    page(response, context, {
      status: 400,
      title: 'This link cannot be used',
      template: 'message',
      data: {
        text:
          reason === 'expired'
            ? 'The link has expired. Ask for a new one.'
            : reason === 'used'
              ? 'The link has been used already.'
              : 'The link is not valid.',
      },
    });
  }

  // Password reset: the same answer whether or not the address has an account, and the e-mail is
  // queued after the answer, so neither the page nor its timing tells.
  router.get(
    '/forgot-password',
    handle(async (context, request, response) => {
      page(response, context, {
        title: 'Reset your password',
        template: 'forgot-password',
        data: { action: request.originalUrl },
      });
    }),
  );

  router.post(
    '/forgot-password',
    form,
    handle(
      async (context, request, response) => {
        const email = emailField.safeParse((request.body as Record<string, unknown>).email);
        if (!email.success) {
          return page(response, context, {
            status: 400,
            title: 'Reset your password',
            template: 'forgot-password',
            error: 'Type a valid e-mail address.',
            data: { action: request.originalUrl },
          });
        }
        const uid = typeof request.query.interaction === 'string' ? request.query.interaction : '';
        const denied = await throttle.check(request, email.data);
        if (!denied) {
          await throttle.failed(request, email.data);
          void sendReset(context, request, email.data, uid).catch((error: unknown) =>
            sigid.logger.error({ err: error }, 'a password reset e-mail could not be queued'),
          );
        }
        page(response, context, {
          title: 'Check your inbox',
          template: 'message',
          data: {
            text: `If ${email.data} has an account, we have sent it a link to choose a new password.`,
            link: /^[A-Za-z0-9_-]{1,64}$/.test(uid)
              ? { href: `/t/${context.tenant.slug}/interaction/${uid}`, label: 'Back to sign-in' }
              : null,
          },
        });
      },
      { post: true },
    ),
  );

  async function sendReset(context: PageContext, request: Request, email: string, uid: string) {
    const accountId = await accountOfEmail(sigid, email);
    if (!accountId) return;
    const { sub } = await linkAccount(sigid, accountId, context.tenant.id, pageUseCase(context, request));
    const url = new URL(`${context.issuer}/reset-password`);
    if (/^[A-Za-z0-9_-]{1,64}$/.test(uid)) url.searchParams.set('interaction', uid);
    await queueEmail(
      sigid,
      {
        tenantId: context.tenant.id,
        subjectId: sub,
        to: email,
        template: 'reset-password',
        params: {},
        link: { url: url.href },
      },
      pageUseCase(context, request, sub),
    );
  }

  router.get(
    '/reset-password',
    handle(async (context, request, response) => {
      const token = typeof request.query.token === 'string' ? request.query.token : '';
      const checked = await checkLink(sigid, token, 'reset_password', context.tenant.id);
      if (!checked.ok) return linkRefused(context, response, checked.reason);
      page(response, context, {
        title: 'Choose a new password',
        template: 'reset-password',
        data: { action: request.originalUrl, token, minLength: PASSWORD_LENGTH.min },
      });
    }),
  );

  router.post(
    '/reset-password',
    form,
    handle(
      async (context, request, response) => {
        const body = request.body as Record<string, unknown>;
        const token = typeof body.token === 'string' ? body.token : '';
        const password = passwordField.safeParse(body.password);
        const checked = await checkLink(sigid, token, 'reset_password', context.tenant.id);
        if (!checked.ok) return linkRefused(context, response, checked.reason);
        if (
          !password.success ||
          password.data.length < PASSWORD_LENGTH.min ||
          password.data.length > PASSWORD_LENGTH.max
        ) {
          return page(response, context, {
            status: 400,
            title: 'Choose a new password',
            template: 'reset-password',
            error: `Choose a password of ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters.`,
            data: { action: request.originalUrl, token, minLength: PASSWORD_LENGTH.min },
          });
        }
        const account = await accountOfSub(sigid, context.tenant.id, checked.link.subject);
        if (!account) return linkRefused(context, response, 'invalid');
        const used = await consumeLink(sigid, token, 'reset_password', pageUseCase(context, request, account.sub));
        if (!used.ok) return linkRefused(context, response, used.reason);
        await setPassword(sigid, account.account_id, password.data, 'reset', {
          ...pageUseCase(context, request, account.sub),
          tenantId: PLATFORM_TENANT,
        });
        // A reset is also proof of the address.
        if (!account.email_verified) {
          await handleCommand(
            sigid.log,
            accountAggregate,
            account.account_id,
            { type: 'verify_email' },
            { ...pageUseCase(context, request, account.sub), tenantId: PLATFORM_TENANT },
          );
        }
        const uid = typeof request.query.interaction === 'string' ? request.query.interaction : '';
        page(response, context, {
          title: 'Your password is changed',
          template: 'message',
          data: {
            text: 'Sign in with your new password.',
            link: /^[A-Za-z0-9_-]{1,64}$/.test(uid)
              ? { href: `/t/${context.tenant.slug}/interaction/${uid}`, label: 'Continue signing in' }
              : null,
          },
        });
      },
      { post: true },
    ),
  );

  // Approvals (CIBA, docs/approvals.md): the page an approval e-mail links to. The person signs in at
  // the tenant (the account client, as the account page does) and, when they have an authenticator
  // app, gives a fresh code to approve; the decision is an event, then the issuer is told.
  const approvalPath = (context: PageContext, id: string) => `/t/${context.tenant.slug}/approvals/${id}`;

  function approvalMessage(context: PageContext, response: Response, status: number, title: string, text: string) {
    page(response, context, {
      status,
      title,
      template: 'message',
      data: { text, link: { href: `/t/${context.tenant.slug}/account`, label: 'Go to your account' } },
    });
  }

  /**
   * The approval a request names, for the person signed in, or the page that says why not (and false):
   * an unknown id, another person's request, a bad link, one decided already or expired.
   */
  async function openApproval(context: PageContext, request: Request, response: Response, token: string) {
    const id = String((request.params as { id?: string }).id ?? '');
    const state = await approvalOf(sigid, context.tenant.id, id);
    const notFound = () => {
      approvalMessage(
        context,
        response,
        404,
        'This request was not found',
        'If it was sent to you, open the link from the e-mail, signed in with the account it was sent to.',
      );
      return undefined;
    };
    if (state.status === 'absent') return notFound();
    if (token !== '') {
      const verified = verifyLink(sigid.secrets.keyring, token, 'approve_request');
      if (!verified.ok && verified.reason !== 'expired') return void linkRefused(context, response, verified.reason);
      if (verified.ok && (verified.link.tenantId !== context.tenant.id || verified.link.subject !== state.sub)) {
        return void linkRefused(context, response, 'invalid');
      }
    }
    const session = await sessionOf(context, request, response);
    const account = session ? await accountOfSub(sigid, context.tenant.id, session.sub) : undefined;
    if (!session || !account) {
      const back = `${approvalPath(context, state.approval_id)}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
      return void response.redirect(303, accountSignInUrl(context, back));
    }
    if (session.sub !== state.sub) return notFound();
    if (state.status !== 'pending') {
      approvalMessage(
        context,
        response,
        409,
        `This request was ${state.status === 'granted' ? 'approved' : 'denied'} already`,
        'Nothing more to do here.',
      );
      return undefined;
    }
    if (Date.now() >= Date.parse(state.expires_at)) {
      approvalMessage(context, response, 410, 'This request has expired', 'Ask the application to send a new one.');
      return undefined;
    }
    return { state, session, account };
  }

  async function approvalPage(
    context: PageContext,
    response: Response,
    opened: NonNullable<Awaited<ReturnType<typeof openApproval>>>,
    token: string,
    extra: { error?: string; status?: number; headers?: Record<string, string> } = {},
  ) {
    const { state, account } = opened;
    const clientLabel = await clientName(context, state.client_id);
    page(response, context, {
      title: `${clientLabel} asks for your approval`,
      template: 'approval',
      status: extra.status,
      error: extra.error,
      headers: extra.headers,
      data: {
        action: approvalPath(context, state.approval_id),
        token,
        clientName: clientLabel,
        bindingMessage: state.binding_message,
        expires: `${new Date(state.expires_at).toISOString().replace('T', ' ').slice(0, 16)} UTC`,
        mfa: Boolean((await mfaMethodsOf(sigid, account.account_id)).totp),
        scopes: describeScopes(
          state.scopes,
          state.resource ? { [state.resource]: state.resource_scopes } : {},
          context.branding.display_name,
          await apiWords(sigid, context.tenant.id, state.resource ? [state.resource] : []),
        ),
      },
    });
  }

  router.get(
    '/approvals/:id',
    handle(async (context, request, response) => {
      const token = typeof request.query.token === 'string' ? request.query.token : '';
      const opened = await openApproval(context, request, response, token);
      if (opened) await approvalPage(context, response, opened, token);
    }),
  );

  router.post(
    '/approvals/:id',
    form,
    handle(
      async (context, request, response) => {
        const body = request.body as Record<string, unknown>;
        const token = typeof body.token === 'string' ? body.token : '';
        const opened = await openApproval(context, request, response, token);
        if (!opened) return;
        const { state, session, account } = opened;
        const decision = body.decision;
        if (decision !== 'approve' && decision !== 'deny') {
          return approvalPage(context, response, opened, token, { status: 400, error: 'Choose Approve or Deny.' });
        }
        const write = {
          tenantId: context.tenant.id,
          actor: { type: 'user' as const, id: state.sub },
          correlationId: String(request.id),
        };
        if (decision === 'deny') {
          await decideApprovalOnce(context, response, () =>
            decideApproval(sigid, context.tenant.id, state.approval_id, { approve: false, sub: state.sub }, write),
          );
          return approvalMessage(context, response, 200, 'You denied the request', 'The application gets no access.');
        }
        // Approving needs a fresh second factor when the person has one; one the tenant requires, first.
        const methods = await mfaMethodsOf(sigid, account.account_id);
        let amr = session.amr;
        if (methods.totp) {
          const keys = secondFactorKeys(request, account.account_id);
          const throttled = await checkThrottle(sigid, keys);
          if (!throttled.allowed) {
            return approvalPage(context, response, opened, token, {
              status: 429,
              headers: { 'Retry-After': String(throttled.retryAfterSeconds) },
              error: `Too many attempts. Try again in ${waitText(throttled.retryAfterSeconds)}.`,
            });
          }
          const code = field(64).safeParse(body.code);
          const recovery = field(64).safeParse(body.recovery_code);
          const useCaseOf = pageUseCase(context, request, state.sub);
          let method: string | null = null;
          if (code.success && code.data.trim() !== '') {
            if (await verifyTotp(sigid, account.account_id, code.data, useCaseOf)) method = 'otp';
          } else if (recovery.success && recovery.data.trim() !== '') {
            if (await useRecoveryCode(sigid, account.account_id, recovery.data, useCaseOf)) method = 'recovery';
          }
          if (!method) {
            await recordFailure(sigid, keys);
            return approvalPage(context, response, opened, token, {
              status: 400,
              error: 'To approve, type the code your authenticator app shows now.',
            });
          }
          await recordSuccess(sigid, keys[0] as ReturnType<typeof accountThrottleKey>);
          amr = [...new Set([...amr, method, 'mfa'])];
        } else if ((await mfaRequirement(sigid, context.tenant.id, state.client_id)) === 'required') {
          return approvalMessage(
            context,
            response,
            403,
            'Set up two-step verification first',
            `${context.branding.display_name} asks for a second factor to approve requests: add an authenticator app in your account, then open the link again.`,
          );
        }
        const decided = await decideApprovalOnce(context, response, () =>
          decideApproval(sigid, context.tenant.id, state.approval_id, { approve: true, sub: state.sub, amr }, write),
        );
        if (decided) {
          approvalMessage(
            context,
            response,
            200,
            'You approved the request',
            `${await clientName(context, state.client_id)} can go on now.`,
          );
        }
      },
      { post: true },
    ),
  );

  /** Runs a decision; a request decided or expired meanwhile (another tab, the clock) gets its page (409). */
  async function decideApprovalOnce(context: PageContext, response: Response, decide: () => Promise<unknown>) {
    try {
      await decide();
      return true;
    } catch (error) {
      if (!(error instanceof ConflictError) || error.code !== 'approval_not_pending') throw error;
      approvalMessage(context, response, 409, 'This request cannot be decided any more', error.message);
      return false;
    }
  }

  // The account page: a session at the tenant's issuer, else a sign-in through its built-in client.
  router.get(
    '/account',
    handle(async (context, request, response) => {
      const sub = await sessionSub(context, request, response);
      if (!sub) return void response.redirect(303, accountSignInUrl(context));
      const account = await accountOfSub(sigid, context.tenant.id, sub);
      if (!account) return void response.redirect(303, accountSignInUrl(context));
      const links = await sigid.readModels
        .selectFrom('account_links')
        .select(['tenant_id', 'sub'])
        .where('account_id', '=', account.account_id)
        .execute();
      const sessions = await sessionsOf(
        sigid,
        links.map((link) => ({ tenantId: link.tenant_id, sub: link.sub })),
      );
      const mfa = await mfaMethodsOf(sigid, account.account_id);
      const passkeys = await passkeysOf(sigid, account.account_id);
      const consents = await Promise.all(
        (await grantsOf(sigid, context.tenant.id, sub)).map(async (grant) => ({
          ...grant,
          clientName: await clientName(context, grant.clientId),
        })),
      );
      page(response, context, {
        title: 'Your account',
        template: 'account',
        notice: typeof request.query.notice === 'string' ? noticeText(request.query.notice) : undefined,
        scripts: ['/assets/webauthn.js', '/assets/passkey.js'],
        data: {
          email: await accountEmail(sigid, account.account_id),
          sessions: sessions.map((session) => ({
            ...session,
            here: session.tenantId === context.tenant.id,
          })),
          otherTenants: new Set(sessions.filter((s) => s.tenantId !== context.tenant.id).map((s) => s.tenantId)).size,
          mfa,
          passkeys: passkeys.map((passkey) => ({
            id: passkey.passkey_id,
            created: passkey.created_at.toISOString().slice(0, 10),
            lastUsed: passkey.last_used_at ? passkey.last_used_at.toISOString().slice(0, 10) : null,
            synced: passkey.backed_up,
          })),
          passkeyUrls: {
            add: `/t/${context.tenant.slug}/account/passkeys`,
            options: `/t/${context.tenant.slug}/account/passkeys/options`,
            remove: `/t/${context.tenant.slug}/account/passkeys/remove`,
          },
          mfaUrls: {
            enroll: `/t/${context.tenant.slug}/account/mfa/enroll`,
            remove: `/t/${context.tenant.slug}/account/mfa/remove`,
            recoveryCodes: `/t/${context.tenant.slug}/account/mfa/recovery-codes`,
          },
          signOutEverywhere: `/t/${context.tenant.slug}/account/sign-out-everywhere`,
          consents: consents.filter((consent) => consent.clientId !== ACCOUNT_CLIENT_ID),
          revokeConsent: `/t/${context.tenant.slug}/account/consents/revoke`,
          changePassword: `/t/${context.tenant.slug}/account/password`,
          minLength: PASSWORD_LENGTH.min,
          revokeSession: `/t/${context.tenant.slug}/account/sessions/revoke`,
        },
      });
    }),
  );

  // The account page's authenticator app: set up (a code proves it), remove, new recovery codes.
  router.post(
    '/account/mfa/enroll',
    form,
    signedIn(
      async (context, request, response, sub) => {
        await enrollPage(context, request, response, `/t/${context.tenant.slug}/account/mfa/confirm`, sub);
      },
      { post: true },
    ),
  );

  router.post(
    '/account/mfa/confirm',
    form,
    signedIn(
      async (context, request, response, sub, account) => {
        const body = request.body as Record<string, unknown>;
        const confirmed = await confirmEnrollment(
          sigid,
          account.account_id,
          String(body.enrollment_id ?? ''),
          String(body.code ?? ''),
          pageUseCase(context, request, sub),
        );
        if (!confirmed) {
          return page(response, context, {
            status: 400,
            title: 'Set up an authenticator app',
            template: 'message',
            error: 'That code is not right.',
            data: { link: { href: `/t/${context.tenant.slug}/account`, label: 'Back to your account' } },
          });
        }
        page(response, context, {
          title: 'Save your recovery codes',
          template: 'recovery-codes',
          notice: 'Your authenticator app is set up.',
          data: { codes: confirmed.recoveryCodes, continueUrl: `/t/${context.tenant.slug}/account` },
        });
      },
      { post: true },
    ),
  );

  router.post(
    '/account/mfa/remove',
    form,
    signedIn(
      async (context, request, response, sub, account) => {
        if ((await mfaMethodsOf(sigid, account.account_id)).totp) {
          await removeTotp(sigid, account.account_id, pageUseCase(context, request, sub));
        }
        response.redirect(303, `/t/${context.tenant.slug}/account?notice=mfa_removed`);
      },
      { post: true },
    ),
  );

  router.post(
    '/account/mfa/recovery-codes',
    form,
    signedIn(
      async (context, request, response, sub, account) => {
        if (!(await mfaMethodsOf(sigid, account.account_id)).totp) {
          return void response.redirect(303, `/t/${context.tenant.slug}/account`);
        }
        const issued = await regenerateRecoveryCodes(sigid, account.account_id, pageUseCase(context, request, sub));
        page(response, context, {
          title: 'Save your recovery codes',
          template: 'recovery-codes',
          notice: 'Your earlier recovery codes no longer work.',
          data: { codes: issued.recoveryCodes, continueUrl: `/t/${context.tenant.slug}/account` },
        });
      },
      { post: true },
    ),
  );

  // The account page's passkeys: add one (the registration ceremony), remove one.
  router.post(
    '/account/passkeys/options',
    form,
    signedIn(
      async (_context, _request, response, _sub, account) => {
        const email = (await accountEmail(sigid, account.account_id)) ?? 'SigID account';
        response.setHeader('Cache-Control', 'no-store');
        response.json(
          await passkeyRegistrationOptions(sigid, account.account_id, { userName: email, displayName: email }),
        );
      },
      { post: true },
    ),
  );

  router.post(
    '/account/passkeys',
    form,
    signedIn(
      async (context, request, response, sub, account) => {
        const body = request.body as Record<string, unknown>;
        const answer = parseJson(body.response);
        const added = answer
          ? await verifyPasskeyRegistration(
              sigid,
              account.account_id,
              String(body.challenge_id ?? ''),
              answer as never,
              pageUseCase(context, request, sub),
            )
          : { error: 'invalid' };
        if ('error' in added) {
          return page(response, context, {
            status: 400,
            title: 'The passkey was not added',
            template: 'message',
            error: added.error === 'exists' ? 'This passkey is added already.' : 'The passkey could not be verified.',
            data: { link: { href: `/t/${context.tenant.slug}/account`, label: 'Back to your account' } },
          });
        }
        response.redirect(303, `/t/${context.tenant.slug}/account?notice=passkey_added`);
      },
      { post: true },
    ),
  );

  router.post(
    '/account/passkeys/remove',
    form,
    signedIn(
      async (context, request, response, sub, account) => {
        const passkeyId = String((request.body as Record<string, unknown>).passkey_id ?? '');
        const mine = (await passkeysOf(sigid, account.account_id)).some((passkey) => passkey.passkey_id === passkeyId);
        if (mine) await removePasskey(sigid, account.account_id, passkeyId, pageUseCase(context, request, sub));
        response.redirect(
          303,
          `/t/${context.tenant.slug}/account?notice=${mine ? 'passkey_removed' : 'session_revoked'}`,
        );
      },
      { post: true },
    ),
  );

  router.get(
    '/account/callback',
    handle(async (context, request, response) => {
      // The session exists now (oidc-provider set it on the way here); the code itself is not needed.
      const state =
        typeof request.query.state === 'string' && request.query.state.length <= 2400 ? request.query.state : '';
      const back = returnPathOf(context, Buffer.from(state, 'base64url').toString('utf8'));
      response.redirect(303, back ?? `/t/${context.tenant.slug}/account`);
    }),
  );

  router.post(
    '/account/sessions/revoke',
    form,
    signedIn(
      async (context, request, response, sub) => {
        const id = String((request.body as Record<string, unknown>).session ?? '');
        const mine = (await sessionsOf(sigid, [{ tenantId: context.tenant.id, sub }])).filter(
          (s) => s.sessionUid === id,
        );
        await endSessions(sigid, mine, 'revoked', pageActor(request, sub));
        response.redirect(303, `/t/${context.tenant.slug}/account?notice=session_revoked`);
      },
      { post: true },
    ),
  );

  // The person changes their password (the current one first); every tenant takes the new one.
  router.post(
    '/account/password',
    form,
    signedIn(
      async (context, request, response, sub, account) => {
        const body = request.body as Record<string, unknown>;
        const current = passwordField.safeParse(body.current_password);
        const next = passwordField.safeParse(body.new_password);
        const email = await accountEmail(sigid, account.account_id);
        const checked = current.success && email ? await checkPasswordSignIn(sigid, email, current.data) : null;
        const fits = next.success && next.data.length >= PASSWORD_LENGTH.min && next.data.length <= PASSWORD_LENGTH.max;
        if (checked !== account.account_id || !fits) {
          return page(response, context, {
            status: 400,
            title: 'Your password is not changed',
            template: 'message',
            error:
              checked !== account.account_id
                ? 'The current password is not right.'
                : `Choose a password of ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters.`,
            data: { link: { href: `/t/${context.tenant.slug}/account`, label: 'Back to your account' } },
          });
        }
        await setPassword(sigid, account.account_id, next.data as string, 'changed', {
          ...pageUseCase(context, request, sub),
          tenantId: PLATFORM_TENANT,
        });
        response.redirect(303, `/t/${context.tenant.slug}/account?notice=password_changed`);
      },
      { post: true },
    ),
  );

  // The person withdraws an application's consent: its grant and every token of it end.
  router.post(
    '/account/consents/revoke',
    form,
    signedIn(
      async (context, request, response, sub) => {
        const grantId = String((request.body as Record<string, unknown>).grant ?? '');
        const grant = (await grantsOf(sigid, context.tenant.id, sub)).find(
          (candidate) => candidate.grantId === grantId,
        );
        if (grant) await revokeConsent(sigid, context.tenant.id, sub, grant, pageActor(request, sub));
        response.redirect(303, `/t/${context.tenant.slug}/account?notice=consent_revoked`);
      },
      { post: true },
    ),
  );

  router.post(
    '/account/sign-out-everywhere',
    form,
    signedIn(
      async (context, request, response, sub) => {
        const account = await accountOfSub(sigid, context.tenant.id, sub);
        if (account) {
          const links = await sigid.readModels
            .selectFrom('account_links')
            .select(['tenant_id', 'sub'])
            .where('account_id', '=', account.account_id)
            .execute();
          const sessions = await sessionsOf(
            sigid,
            links.map((link) => ({ tenantId: link.tenant_id, sub: link.sub })),
          );
          await endSessions(sigid, sessions, 'signed_out_everywhere', pageActor(request, sub));
        }
        page(response, context, {
          title: 'You are signed out everywhere',
          template: 'message',
          data: { text: 'Every session of your account has ended, at every application.' },
        });
      },
      { post: true },
    ),
  );

  function pageActor(request: Request, sub: string) {
    return { actor: { type: 'user' as const, id: sub }, correlationId: String(request.id) };
  }

  /** The browser's session at this tenant's issuer: its sub and how it signed in, if it has one. */
  async function sessionOf(
    context: PageContext,
    request: Request,
    response: Response,
  ): Promise<{ sub: string; amr: string[] } | undefined> {
    const koa = (context.provider as unknown as { createContext(req: Request, res: Response): unknown }).createContext(
      request,
      response,
    );
    const session = (await context.provider.Session.get(koa as never)) as { accountId?: unknown; amr?: unknown };
    if (!session.accountId) return undefined;
    const amr = Array.isArray(session.amr)
      ? session.amr.filter((value): value is string => typeof value === 'string')
      : [];
    return { sub: String(session.accountId), amr };
  }

  /** The sub of the browser's session at this tenant's issuer, if it has one. */
  async function sessionSub(context: PageContext, request: Request, response: Response): Promise<string | undefined> {
    const koa = (context.provider as unknown as { createContext(req: Request, res: Response): unknown }).createContext(
      request,
      response,
    );
    const session = await context.provider.Session.get(koa as never);
    return session.accountId ? String(session.accountId) : undefined;
  }

  /** The account client's sign-in; `returnTo` (an approval page of this tenant) is where its callback goes. */
  function accountSignInUrl(context: PageContext, returnTo?: string): string {
    const url = new URL(`${context.issuer}/auth`);
    if (returnTo && returnPathOf(context, returnTo))
      url.searchParams.set('state', Buffer.from(returnTo).toString('base64url'));
    url.searchParams.set('client_id', ACCOUNT_CLIENT_ID);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', 'openid');
    url.searchParams.set('redirect_uri', `${context.issuer}/account/callback`);
    url.searchParams.set('code_challenge', randomBytes(32).toString('base64url'));
    url.searchParams.set('code_challenge_method', 'S256');
    return url.pathname + url.search;
  }

  return router;
}

/** `path` when it is an approval page of this tenant (with its link's token, if any): where a sign-in may return to. */
function returnPathOf(context: PageContext, path: string): string | undefined {
  const pattern = new RegExp(
    `^/t/${context.tenant.slug}/approvals/apr_[0-9a-hjkmnp-tv-z]{26}(\\?token=[A-Za-z0-9_.%-]{1,2000})?$`,
  );
  return pattern.test(path) ? path : undefined;
}

/** An enrollment confirmed, or null for a wrong code or one that expired meanwhile (start again). */
async function confirmEnrollment(...args: Parameters<typeof confirmTotpEnrollment>) {
  try {
    return await confirmTotpEnrollment(...args);
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}

/** A JSON form field (the passkey script's answer), or undefined when it is not JSON of sane size. */
function parseJson(value: unknown): unknown {
  if (typeof value !== 'string' || value.length === 0 || value.length > 16_384) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

const fallbackBranding: PageBranding = {
  display_name: 'SigID',
  logo_uri: null,
  primary_color: '#2f5bea',
  background_color: '#f4f5f7',
};

class SessionNotFoundError extends Error {
  override name = 'SessionNotFound';
}

function isSessionNotFound(error: unknown): boolean {
  return error instanceof Error && (error.name === 'SessionNotFound' || error.constructor.name === 'SessionNotFound');
}

function noticeText(notice: string): string | undefined {
  return (
    {
      session_revoked: 'The session has ended.',
      password_changed: 'Your password is changed.',
      consent_revoked: 'The application no longer has access.',
      passkey_added: 'Your passkey is added.',
      passkey_removed: 'The passkey is removed.',
      mfa_removed: 'The authenticator app is removed.',
      mfa_enrolled: 'Your authenticator app is set up.',
    } as Record<string, string>
  )[notice];
}

export type { PageContext };

/** The tenant's words for the APIs a consent asks scopes of: each API's name and scope descriptions. */
async function apiWords(sigid: Sigid, tenantId: string, resources: readonly string[]) {
  const words: Record<string, ApiWords> = {};
  for (const resource of resources) {
    const api = await findApiByIdentifier(sigid.readModels, tenantId, resource);
    if (api) {
      words[resource] = {
        name: api.name,
        descriptions: Object.fromEntries(api.scopes.map((scope) => [scope.value, scope.description])),
      };
    }
  }
  return words;
}
