import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { canonicalJson } from './audit';

/**
 * Signed checkpoints of the audit trail's chain heads, the way transparency logs publish signed
 * tree heads: whoever keeps a checkpoint can later prove that a chain was cut short or rewritten
 * after it, even by someone who controls the database completely (triggers off, events deleted,
 * heads rewound). The signing key lives outside the database (AUDIT_SIGNING_KEY, Ed25519), so
 * the database cannot produce a checkpoint for a history it rewrote.
 */

export interface ChainHead {
  readonly account_id: string;
  readonly seq: number;
  readonly hash: string;
}

export interface Checkpoint {
  readonly version: 1;
  /** When the heads were read (ISO 8601). */
  readonly created_at: string;
  readonly algorithm: 'ed25519';
  /** First 16 hex digits of SHA-256 over the raw public key: which key to check with. */
  readonly key_id: string;
  /** Every chain with at least one event, ordered by account id. */
  readonly chains: readonly ChainHead[];
  /** Base64 Ed25519 signature over the canonical JSON of every other field. */
  readonly signature: string;
}

// DER prefixes that wrap a raw 32-byte Ed25519 key as PKCS#8 (private) and SPKI (public).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const base64Bytes = (text: string): Buffer | null => {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return null;
  return Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
};

export class CheckpointKeyError extends Error {}

/** AUDIT_SIGNING_KEY: the base64 32-byte Ed25519 seed (as `audit keygen` prints) or a PKCS#8 PEM. */
export function parseSigningKey(text: string): KeyObject {
  try {
    if (text.includes('-----BEGIN')) {
      const key = createPrivateKey(text);
      if (key.asymmetricKeyType === 'ed25519') return key;
    } else {
      const seed = base64Bytes(text);
      if (seed?.length === 32) return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    }
  } catch {
    // fall through to the explanation below
  }
  throw new CheckpointKeyError('AUDIT_SIGNING_KEY: expected an Ed25519 private key: 32 bytes in base64 (run `lifecycle-desk audit keygen`) or a PKCS#8 PEM');
}

/** AUDIT_VERIFY_KEY: the base64 32-byte Ed25519 public key or an SPKI PEM. */
export function parseVerifyKey(text: string): KeyObject {
  try {
    if (text.includes('-----BEGIN')) {
      const key = createPublicKey(text);
      if (key.asymmetricKeyType === 'ed25519') return key;
    } else {
      const raw = base64Bytes(text);
      if (raw?.length === 32) return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    }
  } catch {
    // fall through to the explanation below
  }
  throw new CheckpointKeyError('AUDIT_VERIFY_KEY: expected an Ed25519 public key: 32 bytes in base64 (as `lifecycle-desk audit keygen` prints) or an SPKI PEM');
}

const rawPublic = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);

export const keyIdOf = (publicKey: KeyObject): string => createHash('sha256').update(rawPublic(publicKey)).digest('hex').slice(0, 16);

/** A new key pair in the formats AUDIT_SIGNING_KEY and AUDIT_VERIFY_KEY take. */
export function generateCheckpointKeys(): { signingKey: string; verifyKey: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  return { signingKey: seed.toString('base64'), verifyKey: rawPublic(publicKey).toString('base64'), keyId: keyIdOf(publicKey) };
}

const signedPart = (c: Omit<Checkpoint, 'signature'>): Buffer =>
  Buffer.from(canonicalJson({ version: c.version, created_at: c.created_at, algorithm: c.algorithm, key_id: c.key_id, chains: c.chains }), 'utf8');

export function signCheckpoint(heads: readonly ChainHead[], at: Date, privateKey: KeyObject): Checkpoint {
  const chains = [...heads].filter((h) => h.seq > 0).sort((a, b) => (a.account_id < b.account_id ? -1 : a.account_id > b.account_id ? 1 : 0));
  const unsigned = { version: 1 as const, created_at: at.toISOString(), algorithm: 'ed25519' as const, key_id: keyIdOf(createPublicKey(privateKey)), chains };
  return { ...unsigned, signature: sign(null, signedPart(unsigned), privateKey).toString('base64') };
}

/** Reads a checkpoint file's JSON, checking its shape and its signature; throws naming what is wrong. */
export function openCheckpoint(json: unknown, publicKey: KeyObject): Checkpoint {
  const c = json as Partial<Checkpoint> | null;
  const shapeOk =
    c !== null &&
    typeof c === 'object' &&
    c.version === 1 &&
    c.algorithm === 'ed25519' &&
    typeof c.created_at === 'string' &&
    typeof c.key_id === 'string' &&
    typeof c.signature === 'string' &&
    Array.isArray(c.chains) &&
    c.chains.every((h) => h && typeof h.account_id === 'string' && Number.isInteger(h.seq) && h.seq > 0 && typeof h.hash === 'string');
  if (!shapeOk) throw new CheckpointKeyError('not a lifecycle-desk audit checkpoint (version 1)');
  const cp = c as Checkpoint;
  if (cp.key_id !== keyIdOf(publicKey)) throw new CheckpointKeyError(`signed with key ${cp.key_id}, but the verify key is ${keyIdOf(publicKey)}`);
  if (!verify(null, signedPart(cp), publicKey, Buffer.from(cp.signature, 'base64'))) {
    throw new CheckpointKeyError('its signature does not match its content: it was altered or forged');
  }
  return cp;
}

/** What the database holds now at a checkpointed head. */
export interface ChainState {
  readonly account_id: string;
  /** The newest seq of the chain now (0 when it has no events left). */
  readonly newest_seq: number;
  /** The hash of the event at the checkpoint's seq, or null when that event is gone. */
  readonly hash_at_checkpoint: string | null;
}

/** The first chain that is shorter than, or differs from, the checkpoint; null when every chain extends it. */
export function compareWithCheckpoint(cp: Checkpoint, states: ReadonlyMap<string, ChainState>): { account_id: string; problem: string } | null {
  for (const head of cp.chains) {
    const now = states.get(head.account_id);
    const newest = now?.newest_seq ?? 0;
    if (newest < head.seq) {
      return {
        account_id: head.account_id,
        problem: `the chain is shorter than the signed checkpoint of ${cp.created_at}: it ends at seq ${newest}, the checkpoint has seq ${head.seq} (events were deleted or the chain rewound)`,
      };
    }
    if (now?.hash_at_checkpoint !== head.hash) {
      return {
        account_id: head.account_id,
        problem:
          now?.hash_at_checkpoint === null || now?.hash_at_checkpoint === undefined
            ? `event seq ${head.seq} of the signed checkpoint of ${cp.created_at} is missing`
            : `event seq ${head.seq} has hash ${now.hash_at_checkpoint.slice(0, 16)}…, but the signed checkpoint of ${cp.created_at} has ${head.hash.slice(0, 16)}… (history was rewritten)`,
      };
    }
  }
  return null;
}
