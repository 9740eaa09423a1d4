// oidc-provider's own DPoP helpers, which its built-in grants use; a custom grant type
// (registerGrantType) is handed none of them. The package has no `exports` map, so they import as is.
declare module 'oidc-provider/lib/helpers/validate_dpop.js' {
  export default function validateDpop(
    provider: unknown,
    ctx: unknown,
    accessToken?: string,
  ): Promise<{ thumbprint: string; jti: string; iat: number } | undefined>;
}
declare module 'oidc-provider/lib/helpers/grant_common.js' {
  export function applyDpopBinding(
    provider: unknown,
    ctx: unknown,
    dPoP: { thumbprint: string; jti: string; iat: number } | undefined,
    token: unknown,
  ): Promise<void>;
}
