import { createHash } from 'node:crypto';
import { canonicalJson, type Canonical } from './canonical.js';
import { checkpointMessage, type Checkpoint, type CheckpointVerifier } from './checkpoint.js';

/** The `prev_hash` of a chain's first entry. */
export const GENESIS = '0'.repeat(64);

/** One ledger entry, as stored. `at` is UTC with milliseconds (`2026-12-02T07:00:00.123Z`). */
export interface LedgerEntry {
  seq: number;
  at: string;
  tenant: string;
  /** `iss|sub` of a person, or `service:<role>`. */
  actor: string;
  /** `pipeline.created`, `run.succeeded`, `erasure.completed`… */
  action: string;
  /** What the action touched: `pipeline:<id>`, `run:<id>`, `connection:<name>`… */
  object: string;
  /** Ids and hashes only, never a raw value. */
  payload: { [key: string]: Canonical | undefined };
  prevHash: string;
  hash: string;
}

/** The hashed part of an entry, as canonical JSON: every field but `prevHash` and `hash`. */
export function canonicalEntry(e: Omit<LedgerEntry, 'prevHash' | 'hash'>): string {
  return canonicalJson({ seq: e.seq, at: e.at, tenant: e.tenant, actor: e.actor, action: e.action, object: e.object, payload: e.payload });
}

/** `hash = SHA-256(prev_hash ‖ canonical entry)`, hex; `prev_hash` as its 64 hex characters, both as UTF-8. */
export function entryHash(prevHash: string, e: Omit<LedgerEntry, 'prevHash' | 'hash'>): string {
  return createHash('sha256').update(prevHash, 'utf8').update(canonicalEntry(e), 'utf8').digest('hex');
}

export interface VerifyOk {
  ok: true;
  entries: number;
  checkpoints: number;
  head: { seq: number; hash: string } | null;
}
export interface VerifyBad {
  ok: false;
  /** Entries that checked out before the first bad one. */
  entries: number;
  /** The first entry (by sequence number) that does not verify, and why. */
  firstBad: { seq: number; reason: string };
}
export type VerifyResult = VerifyOk | VerifyBad;

/**
 * Recomputes one tenant's chain, in the order given (the store reads it by `seq`), and checks it against the signed
 * checkpoints: every checkpoint signature must verify, and the chain must contain each checkpointed entry with
 * exactly the signed hash (so rewriting the whole chain, or cutting its tail, is caught too). Answers ok, or the
 * first bad entry and why. A change the chain alone cannot place (a rewritten, internally consistent chain) is
 * named at the first checkpoint it breaks: the change is at or before that entry, after the previous checkpoint.
 */
export async function verifyChain(
  entries: Iterable<LedgerEntry> | AsyncIterable<LedgerEntry>,
  checkpoints: readonly Checkpoint[],
  verifier: CheckpointVerifier,
  tenant?: string,
): Promise<VerifyResult> {
  const signed = new Map<number, Checkpoint>();
  for (const c of [...checkpoints].sort((a, b) => a.seq - b.seq)) {
    if (tenant !== undefined && c.tenant !== tenant) continue;
    if (!(await verifier.verify(checkpointMessage(c), c.signature))) {
      return { ok: false, entries: 0, firstBad: { seq: c.seq, reason: `the checkpoint at seq ${c.seq} has a signature that does not verify (forged or altered)` } };
    }
    const other = signed.get(c.seq);
    if (other && other.hash !== c.hash) {
      return { ok: false, entries: 0, firstBad: { seq: c.seq, reason: `two validly signed checkpoints disagree about seq ${c.seq}` } };
    }
    signed.set(c.seq, c);
  }

  let prev = GENESIS;
  let count = 0;
  let lastCheckpoint = 0;
  const bad = (seq: number, reason: string): VerifyBad => ({ ok: false, entries: count, firstBad: { seq, reason } });
  for await (const e of entries) {
    const expected = count + 1;
    if (e.seq !== expected) {
      return bad(expected, e.seq > expected
        ? `entry ${expected} is missing (found seq ${e.seq} in its place)`
        : `entry ${expected} is out of order (found seq ${e.seq} in its place)`);
    }
    if (tenant !== undefined && e.tenant !== tenant) return bad(e.seq, `entry ${e.seq} belongs to tenant ${JSON.stringify(e.tenant)}, not this chain's`);
    if (e.prevHash !== prev) return bad(e.seq, `entry ${e.seq}: prev_hash does not match the hash of entry ${e.seq - 1}`);
    let recomputed: string;
    try {
      recomputed = entryHash(prev, e);
    } catch (err) {
      return bad(e.seq, `entry ${e.seq}: ${(err as Error).message}`);
    }
    if (recomputed !== e.hash) return bad(e.seq, `entry ${e.seq}: hash does not match its content (a field was changed)`);
    const c = signed.get(e.seq);
    if (c && c.hash !== e.hash) {
      return bad(e.seq, `entry ${e.seq}: hash differs from the signed checkpoint; the chain was rewritten at or before seq ${e.seq}, after seq ${lastCheckpoint}`);
    }
    if (c) lastCheckpoint = e.seq;
    prev = e.hash;
    count = e.seq;
  }
  const beyond = [...signed.keys()].filter((s) => s > count);
  if (beyond.length > 0) {
    return bad(count + 1, `entry ${count + 1} is missing: the chain ends at seq ${count} but a signed checkpoint names seq ${Math.max(...beyond)}`);
  }
  return { ok: true, entries: count, checkpoints: signed.size, head: count === 0 ? null : { seq: count, hash: prev } };
}
