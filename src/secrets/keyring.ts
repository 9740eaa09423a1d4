import { createHash } from 'node:crypto';
import { open, seal } from '../crypto/aead.ts';

/** A master key and its id: the first 16 hex digits of a SHA-256 of the key (one-way, so safe to store). */
export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

/** The id every process derives for the same key, so no process needs to be told it. */
export function masterKeyId(key: Uint8Array): string {
  return `mk_${createHash('sha256').update('sigid:master-key-id:').update(key).digest('hex').slice(0, 16)}`;
}

/** A sealed value no configured master key opens: sealed under another key, or tampered with. */
export class SealedValueUnreadable extends Error {
  readonly keyId: string | null;

  constructor(keyId: string | null) {
    super(
      keyId
        ? `a value sealed under master key ${keyId} cannot be read: that key is not configured (SIGID_MASTER_KEY, SIGID_MASTER_KEY_PREVIOUS)`
        : 'a value sealed before key ids cannot be read with any configured master key',
    );
    this.keyId = keyId;
  }
}

/**
 * The master keys a process holds: the current one, which seals everything new, and previous ones
 * (SIGID_MASTER_KEY_PREVIOUS), which are only read, so a deployment can switch its processes to a new
 * key one by one and then re-wrap (`sigid master-key rotate`). Never logged.
 */
export class MasterKeyRing {
  readonly current: MasterKey;
  readonly previous: readonly MasterKey[];

  constructor(current: Uint8Array, previous: readonly Uint8Array[] = []) {
    this.current = { id: masterKeyId(current), key: Buffer.from(current) };
    this.previous = previous
      .map((key) => ({ id: masterKeyId(key), key: Buffer.from(key) }))
      .filter(
        (key, index, all) => key.id !== this.current.id && all.findIndex((other) => other.id === key.id) === index,
      );
  }

  /** Seals under the current key, `context` bound as associated data. */
  seal(plaintext: Uint8Array, context: string): { keyId: string; sealed: Buffer } {
    return { keyId: this.current.id, sealed: seal(this.current.key, plaintext, context) };
  }

  /**
   * Opens a value sealed under `keyId`; a value from before key ids (null) is tried with every
   * configured key. Throws SealedValueUnreadable when no configured key opens it.
   */
  open(keyId: string | null, sealed: Uint8Array, context: string): Buffer {
    const candidates = keyId === null ? [this.current, ...this.previous] : this.#keys(keyId);
    for (const candidate of candidates) {
      try {
        return open(candidate.key, sealed, context);
      } catch {
        // the next candidate, if any
      }
    }
    throw new SealedValueUnreadable(keyId);
  }

  #keys(keyId: string): MasterKey[] {
    if (keyId === this.current.id) return [this.current];
    return this.previous.filter((key) => key.id === keyId);
  }
}
