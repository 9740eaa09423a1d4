/** Worker state, not a projected table: a WebAuthn ceremony's challenge, used once, for two minutes. */
export const tableName = 'webauthn_challenges';

export interface WebauthnChallengesTable {
  id: string;
  challenge: string;
  /** The account a registration is for; null for a sign-in (the passkey tells whose it is). */
  account_id: string | null;
  expires_at: Date;
}

export type WebauthnChallengesModel = { [tableName]: WebauthnChallengesTable };
