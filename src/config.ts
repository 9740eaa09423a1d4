import { z } from 'zod';
import { type EmailConfig, loadEmailConfig } from './email/config.ts';
import { loadWebhookConfig, type WebhookConfig } from './webhooks/config.ts';
import { type Allowlist, parseAllowlist } from './webhooks/ssrf.ts';

/**
 * Every setting SigID reads, with its default, in one place (docs/configuration.md lists them).
 * Without DATABASE_URL, SigID runs embedded: PGlite under SIGID_DATA_DIR, nothing to install.
 */
const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  PUBLIC_URL: z.string().url().optional(),
  DATABASE_URL: z.string().optional(),
  EVENTSTORE_URL: z.string().optional(),
  SIGID_DATA_DIR: z.string().default('./data'),
  SIGID_OPERATOR_KEY: z.string().min(32, 'SIGID_OPERATOR_KEY must be at least 32 characters').optional(),
  SIGID_MASTER_KEY: z.string().optional(),
  SIGID_MASTER_KEY_PREVIOUS: z.string().optional(),
  SIGID_BODY_LIMIT: z.string().default('100kb'),
  /** Which proxies in front may name the client's address (express's `trust proxy`): off, a hop count, or addresses/subnets. */
  SIGID_TRUST_PROXY: z
    .string()
    .regex(/^(false|\d{1,2}|loopback|linklocal|uniquelocal|[0-9a-fA-F.:/, ]+)$/)
    .default('false'),
  SIGID_READ_YOUR_WRITES_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  SIGID_READY_MAX_LAG: z.coerce.number().int().min(0).default(10_000),
  SIGID_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  SIGID_IDEMPOTENCY_TTL_HOURS: z.coerce.number().int().min(1).default(24),
  SIGID_IDEMPOTENCY_LEASE_MS: z.coerce.number().int().min(100).default(10_000),
  // A day, the longest lifetime of a token SigID signs, plus an hour's margin (clock skew, caches).
  SIGID_SIGNING_KEY_RETENTION_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .default(24 * 3600 + 3600),
  /** The DNS servers organization domain proofs are looked up at (`ip[:port]`, comma-separated); the system's by default. */
  SIGID_DNS_SERVERS: z
    .string()
    .regex(/^[0-9a-fA-F.:[\], ]*$/)
    .optional(),
  /** Hosts and CIDRs a Client ID Metadata Document may be fetched from despite the SSRF rules, and over plain http (development). */
  SIGID_CLIENT_METADATA_ALLOWLIST: z.string().default(''),
  /** The JSON-RPC endpoint of each chain ERC-8004 anchors are read on: `chainId=url`, comma-separated. */
  SIGID_CHAIN_RPC_URLS: z
    .string()
    .regex(/^(\s*\d+=https?:\/\/[^\s,]+\s*)(,\s*\d+=https?:\/\/[^\s,]+\s*)*$/, 'chainId=url, comma-separated')
    .optional(),
  /** Hosts and CIDRs an anchor's did:web document or registration file may be fetched from despite the SSRF rules, and over plain http (development). */
  SIGID_ANCHOR_FETCH_ALLOWLIST: z.string().default(''),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ConfigEnv = z.input<typeof configSchema>;

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  databaseUrl: string | undefined;
  eventStoreUrl: string | undefined;
  dataDir: string | undefined;
  operatorKey: string | undefined;
  masterKey: string | undefined;
  /** Keys still read but never sealed with (comma-separated base64), during a master-key rotation. */
  previousMasterKeys: string[];
  bodyLimit: string;
  /** express's `trust proxy`: false, a hop count, or a list of trusted proxy addresses (the client's address decides the sign-in throttle). */
  trustProxy: boolean | number | string;
  readYourWritesTimeoutMs: number;
  readyMaxLag: number;
  shutdownTimeoutMs: number;
  idempotencyTtlHours: number;
  /** How long a request holds its Idempotency-Key before a retry may take it over (it died). */
  idempotencyLeaseMs: number;
  /**
   * How long a superseded signing key stays published in the JWKS (its `retire_at`): it must outlive
   * the longest-lived token it signed, plus a margin.
   */
  signingKeyRetentionSeconds: number;
  /** Where organization domain proofs are looked up (`ip[:port]`); empty: the system's resolvers. */
  dnsServers: string[];
  /**
   * SIGID_CLIENT_METADATA_ALLOWLIST: where a Client ID Metadata Document may be fetched from despite
   * the SSRF rules (src/webhooks/ssrf.ts); such a host is fetched over plain http (development only).
   */
  clientMetadataAllowlist: Allowlist;
  /** SIGID_CHAIN_RPC_URLS: the JSON-RPC endpoint of each chain ERC-8004 anchors may name, by chain id. */
  chainRpcUrls: Readonly<Record<number, string>>;
  /**
   * SIGID_ANCHOR_FETCH_ALLOWLIST: where a did:web document or an ERC-8004 registration file may be
   * fetched from despite the SSRF rules; such a host is fetched over plain http (development only).
   */
  anchorFetchAllowlist: Allowlist;
  logLevel: z.infer<typeof configSchema>['LOG_LEVEL'];
  webhooks: WebhookConfig;
  email: EmailConfig;
}

/** Reads the configuration from the environment; throws one message listing every bad setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}) {
  const parsed = configSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== '')),
  );
  if (!parsed.success) {
    throw new Error(
      `invalid configuration: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
  }
  const value = parsed.data;
  const config: Config = {
    port: value.PORT,
    host: value.HOST,
    publicUrl: value.PUBLIC_URL ?? `http://localhost:${value.PORT}`,
    databaseUrl: value.DATABASE_URL,
    eventStoreUrl: value.EVENTSTORE_URL,
    dataDir: value.SIGID_DATA_DIR,
    operatorKey: value.SIGID_OPERATOR_KEY,
    masterKey: value.SIGID_MASTER_KEY,
    previousMasterKeys: (value.SIGID_MASTER_KEY_PREVIOUS ?? '')
      .split(',')
      .map((key) => key.trim())
      .filter(Boolean),
    bodyLimit: value.SIGID_BODY_LIMIT,
    trustProxy:
      value.SIGID_TRUST_PROXY === 'false'
        ? false
        : /^\d+$/.test(value.SIGID_TRUST_PROXY)
          ? Number(value.SIGID_TRUST_PROXY)
          : value.SIGID_TRUST_PROXY,
    readYourWritesTimeoutMs: value.SIGID_READ_YOUR_WRITES_TIMEOUT_MS,
    readyMaxLag: value.SIGID_READY_MAX_LAG,
    shutdownTimeoutMs: value.SIGID_SHUTDOWN_TIMEOUT_MS,
    idempotencyTtlHours: value.SIGID_IDEMPOTENCY_TTL_HOURS,
    idempotencyLeaseMs: value.SIGID_IDEMPOTENCY_LEASE_MS,
    signingKeyRetentionSeconds: value.SIGID_SIGNING_KEY_RETENTION_SECONDS,
    dnsServers: (value.SIGID_DNS_SERVERS ?? '')
      .split(',')
      .map((server) => server.trim())
      .filter(Boolean),
    clientMetadataAllowlist: parseAllowlist(value.SIGID_CLIENT_METADATA_ALLOWLIST),
    chainRpcUrls: Object.fromEntries(
      (value.SIGID_CHAIN_RPC_URLS ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean)
        .map((entry) => [Number(entry.slice(0, entry.indexOf('='))), entry.slice(entry.indexOf('=') + 1)]),
    ),
    anchorFetchAllowlist: parseAllowlist(value.SIGID_ANCHOR_FETCH_ALLOWLIST),
    logLevel: value.LOG_LEVEL,
    webhooks: loadWebhookConfig(env),
    email: loadEmailConfig(env),
  };
  return { ...config, ...overrides };
}
