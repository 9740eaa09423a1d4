import { enabledPolicies } from '../../read-models/policies.ts';
import type { Sigid } from '../sigid.ts';
import { type CompiledPolicySet, compilePolicySet } from './cedar.ts';

/** How long a process trusts what it read of a tenant's policies: the bound on how late a change from another process takes effect. */
export const POLICY_CACHE_MS = 1000;

interface Known {
  /** `policy_id:version` of every enabled policy: the set is rebuilt only when this changes. */
  fingerprint: string;
  set: CompiledPolicySet | null;
  checkedAt: number;
}

/**
 * Each tenant's enabled policies as one Cedar policy set parsed in this process, so a decision costs
 * no query and no parse. Read from the `policies` read model (kept by its projection) at most every
 * POLICY_CACHE_MS per tenant, and re-parsed only when a policy or its version changed; a write in
 * this process forgets the tenant at once (`forget`). A tenant without enabled policies has no set.
 */
export class PolicyDirectory {
  readonly #sigid: Pick<Sigid, 'readModels'>;
  readonly #ttlMs: number;
  readonly #known = new Map<string, Known>();
  readonly #reading = new Map<string, Promise<CompiledPolicySet | null>>();

  constructor(sigid: Pick<Sigid, 'readModels'>, ttlMs = POLICY_CACHE_MS) {
    this.#sigid = sigid;
    this.#ttlMs = ttlMs;
  }

  /** The tenant's compiled set, or null when it has no enabled policy. */
  policySet(tenantId: string): CompiledPolicySet | null | Promise<CompiledPolicySet | null> {
    const known = this.#known.get(tenantId);
    if (known && Date.now() - known.checkedAt < this.#ttlMs) return known.set;
    let reading = this.#reading.get(tenantId);
    if (!reading) {
      reading = this.#read(tenantId, known).finally(() => this.#reading.delete(tenantId));
      this.#reading.set(tenantId, reading);
    }
    return reading;
  }

  /** Drops what this process knows of the tenant's policies: the next decision reads them again. */
  forget(tenantId: string): void {
    const known = this.#known.get(tenantId);
    if (known) known.checkedAt = 0;
  }

  async #read(tenantId: string, known: Known | undefined): Promise<CompiledPolicySet | null> {
    const rows = await enabledPolicies(this.#sigid.readModels, tenantId);
    const fingerprint = rows.map((row) => `${row.policy_id}:${row.version}`).join(',');
    let set = known?.fingerprint === fingerprint ? known.set : null;
    if (rows.length > 0 && (!set || known?.fingerprint !== fingerprint)) {
      set = compilePolicySet(`tenant:${tenantId}`, rows);
    }
    if (rows.length === 0) set = null;
    this.#known.set(tenantId, { fingerprint, set, checkedAt: Date.now() });
    return set;
  }
}

const directories = new WeakMap<object, PolicyDirectory>();

/** The process's one directory for this SigID (the HTTP API and the issuers share it). */
export function policyDirectory(sigid: Pick<Sigid, 'readModels'>): PolicyDirectory {
  let directory = directories.get(sigid);
  if (!directory) {
    directory = new PolicyDirectory(sigid);
    directories.set(sigid, directory);
  }
  return directory;
}
