/**
 * CIBA (OpenID Connect Client-Initiated Backchannel Authentication) at a tenant's issuer. Enforces:
 * - `login_hint` names a person of this tenant only: their e-mail address (an account linked to the
 *   tenant) or their tenant `sub`; anything else, another tenant's person included, is
 *   `unknown_user_id` (so is a blocked user); `id_token_hint` works as oidc-provider checks it (an ID
 *   token of this issuer); `login_hint_token` and `user_code` are not offered;
 * - a `binding_message` is 1 to 64 printable characters (letters, digits, punctuation, symbols,
 *   spaces), shown on the approval page and in the e-mail: nothing that could pass for markup or
 *   spoof a line break;
 * - one API (`resource`) at most per request;
 * - the request is recorded (`approval.requested`, never the `auth_req_id`) and the person e-mailed
 *   before the client's answer is complete: a request nobody could approve is never acknowledged;
 * - a ping notification goes to the client's endpoint through the webhooks' SSRF rules
 *   (src/webhooks/ssrf.ts: checked in the socket's own lookup, no redirects followed, a deadline).
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { type Allowlist, connectionRefusal, pinnedLookup, type Resolver, systemResolver } from '../webhooks/ssrf.ts';

/** What a CIBA request is, as SigID records it (the `auth_req_id` only to find it again in the issuer's storage). */
export interface CibaRequestFacts {
  authReqId: string;
  clientId: string;
  sub: string;
  scopes: string[];
  resource: string | null;
  resourceScopes: string[];
  bindingMessage: string | null;
  acrValues: string[];
  deliveryMode: 'poll' | 'ping';
  expiresAt: Date;
}

/** What the issuer's CIBA feature asks of SigID. */
export interface CibaSources {
  /** The tenant's `sub` a `login_hint` names (an e-mail address or a `sub`), or undefined. */
  subjectOfHint(tenantId: string, hint: string): Promise<string | undefined>;
  /** Records `approval.requested` and queues the person's e-mail with the approval page's link. */
  requested(tenantId: string, request: CibaRequestFacts): Promise<void>;
  /** POSTs a ping notification (CIBA §10.2); throws unless the client answers 2xx. */
  notify(endpoint: string, clientNotificationToken: string, authReqId: string): Promise<void>;
}

/** The OpenID Connect scopes the issuer knows; the others of a request are its API's. */
const OIDC_SCOPES = new Set(['openid', 'offline_access', 'email']);

/** A binding message: short and printable. */
const BINDING_MESSAGE = /^[\p{L}\p{N}\p{P}\p{S} ]{1,64}$/u;

/** oidc-provider's `features.ciba` for one tenant's issuer. */
export function cibaFeature(tenantId: string, sources: CibaSources) {
  return {
    enabled: true,
    deliveryModes: ['poll', 'ping'] as ('poll' | 'ping')[],
    async processLoginHint(_ctx: KoaContextWithOIDC, loginHint: string) {
      if (typeof loginHint !== 'string' || loginHint.length > 320) return undefined;
      return sources.subjectOfHint(tenantId, loginHint);
    },
    async processLoginHintToken() {
      throw new errors.InvalidRequest(
        'login_hint_token is not supported: send login_hint (the e-mail address or sub) or id_token_hint',
      );
    },
    async verifyUserCode() {},
    async validateRequestContext() {},
    async validateBindingMessage(_ctx: KoaContextWithOIDC, bindingMessage: string | undefined) {
      if (bindingMessage === undefined) return;
      if (typeof bindingMessage !== 'string' || !BINDING_MESSAGE.test(bindingMessage) || bindingMessage.trim() === '') {
        throw new errors.InvalidBindingMessage(
          'the binding_message must be 1 to 64 printable characters (letters, digits, punctuation, symbols, spaces)',
        );
      }
    },
    async triggerAuthenticationDevice(
      ctx: KoaContextWithOIDC,
      request: InstanceType<KoaContextWithOIDC['oidc']['provider']['BackchannelAuthenticationRequest']>,
      account: { accountId: string },
      client: { clientId: string; backchannelTokenDeliveryMode?: string },
    ) {
      const servers = Object.entries((ctx.oidc.resourceServers ?? {}) as Record<string, { scope?: string }>);
      if (servers.length > 1) throw new errors.InvalidTarget('ask for one API (resource) per approval request');
      const [resource, server] = servers[0] ?? [null, undefined];
      const apiScopes = new Set((server?.scope ?? '').split(' ').filter(Boolean));
      const asked = String(request.scope ?? '')
        .split(' ')
        .filter(Boolean);
      const params = request.params as Record<string, unknown>;
      await sources.requested(tenantId, {
        authReqId: String(request.jti),
        clientId: client.clientId,
        sub: account.accountId,
        scopes: asked.filter((scope) => OIDC_SCOPES.has(scope)),
        resource,
        resourceScopes: resource ? asked.filter((scope) => apiScopes.has(scope) && !OIDC_SCOPES.has(scope)) : [],
        bindingMessage: typeof params.binding_message === 'string' ? params.binding_message : null,
        acrValues: typeof params.acr_values === 'string' ? params.acr_values.split(' ').filter(Boolean) : [],
        deliveryMode: client.backchannelTokenDeliveryMode === 'ping' ? 'ping' : 'poll',
        expiresAt: new Date(
          typeof request.exp === 'number' ? request.exp * 1000 : Date.now() + Number(request.expiration) * 1000,
        ),
      });
    },
  };
}

/**
 * Where oidc-provider must believe a client's notification endpoint is: it accepts https URLs only
 * (CIBA §4), while SigID also delivers over http to an allowlisted host (a developer's machine, a
 * test). The real URL rides along as `ciba_notification_endpoint`, which SigID's ping uses; this
 * stand-in is never called (as the client secret's stand-in is never compared).
 */
export function notificationEndpointStandIn(endpoint: string): string {
  const url = new URL(endpoint);
  url.protocol = 'https:';
  return url.href;
}

/**
 * A ping notification sender under the webhooks' SSRF rules: POST `{"auth_req_id"}` with the client's
 * bearer token, redirects not followed, 5 s for the whole exchange; resolves on 2xx, throws otherwise.
 */
export function cibaNotifier(allowlist: Allowlist, resolve: Resolver = systemResolver) {
  const lookups = {
    'http:': pinnedLookup(allowlist, 'http:', resolve),
    'https:': pinnedLookup(allowlist, 'https:', resolve),
  };
  return (endpoint: string, token: string, authReqId: string): Promise<void> =>
    new Promise<void>((resolved, rejected) => {
      const url = new URL(endpoint);
      const scheme = url.protocol === 'https:' ? 'https:' : url.protocol === 'http:' ? 'http:' : null;
      if (!scheme) return rejected(new Error(`${url.protocol} is not a notification scheme`));
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const refusal = isIP(host) ? connectionRefusal(allowlist, scheme, host, host) : null;
      if (refusal) return rejected(refusal);
      const body = JSON.stringify({ auth_req_id: authReqId });
      const request = (scheme === 'https:' ? https : http).request({
        protocol: scheme,
        hostname: host,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        lookup: lookups[scheme],
        ...(isIP(host) ? {} : { servername: host }),
        timeout: 5000,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'SigID-CIBA/1',
        },
      });
      const deadline = setTimeout(() => request.destroy(new Error('no answer within 5000 ms')), 5000);
      request.on('error', (error) => {
        clearTimeout(deadline);
        rejected(error);
      });
      request.on('response', (response) => {
        clearTimeout(deadline);
        response.resume();
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) resolved();
        else rejected(new Error(`the notification endpoint answered ${status}`));
      });
      request.end(body);
    });
}
