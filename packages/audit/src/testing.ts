/**
 * Test helpers: a keyed fake signer (unit tests only; integration tests sign with Vault transit) and the tamper
 * generator the tamper trials use on a copy of a ledger, whether built in memory or read from the database.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { entryHash, GENESIS, type LedgerEntry } from './chain.js';
import { checkpointMessage, type Checkpoint, type CheckpointSigner, type CheckpointVerifier } from './checkpoint.js';

/** HMAC-SHA-256 with `key` stands in for Ed25519 in unit tests: without the key no valid signature can be made. */
export function fakeSigner(key: Buffer = randomBytes(32)): CheckpointSigner & CheckpointVerifier {
  const mac = (m: string) => `fake:v1:${createHmac('sha256', key).update(m).digest('base64')}`;
  return { sign: async (m) => mac(m), verify: async (m, s) => s === mac(m) };
}

/** Appends entries to an in-memory chain the way the database does. */
export function buildChain(tenant: string, n: number, start = Date.UTC(2026, 0, 1)): LedgerEntry[] {
  const out: LedgerEntry[] = [];
  let prev = GENESIS;
  for (let seq = 1; seq <= n; seq += 1) {
    const body = {
      seq,
      at: new Date(start + seq * 1000).toISOString(),
      tenant,
      actor: seq % 3 === 0 ? 'service:aoetl_orchestrator' : 'https://issuer.test|alice',
      action: ['pipeline.created', 'run.submitted', 'run.running', 'run.succeeded'][seq % 4]!,
      object: `run:${seq.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`,
      payload: { status: 'ok', rows: seq * 10, sha256: GENESIS.replace(/0/g, (seq % 10).toString()) },
    };
    const hash = entryHash(prev, body);
    out.push({ ...body, prevHash: prev, hash });
    prev = hash;
  }
  return out;
}

export const TAMPER_KINDS = ['field', 'delete', 'reorder', 'insert', 'truncate', 'rebuild', 'truncate-rebuild', 'forged-checkpoint'] as const;
export type TamperKind = (typeof TAMPER_KINDS)[number];

export interface Tampered {
  kind: TamperKind;
  what: string;
  entries: LedgerEntry[];
  checkpoints: Checkpoint[];
  /** The first bad entry verify must name lies in [lo, hi]. */
  lo: number;
  hi: number;
}

type Rng = () => number;
const pick = (rng: Rng, n: number) => Math.floor(rng() * n);
const FIELDS = ['seq', 'at', 'tenant', 'actor', 'action', 'object', 'payload', 'prevHash', 'hash'] as const;

/** A deterministic PRNG (mulberry32), so a failing trial can be replayed from its seed. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Renumbers and rehashes entries from index `from` on: a consistent chain an attacker without the key can build. */
function rechain(entries: LedgerEntry[], from: number): void {
  for (let i = from; i < entries.length; i += 1) {
    const prevHash = i === 0 ? GENESIS : entries[i - 1]!.hash;
    const { prevHash: _p, hash: _h, ...body } = { ...entries[i]!, seq: i + 1 };
    entries[i] = { ...body, prevHash, hash: entryHash(prevHash, body) };
  }
}

function changeField(e: LedgerEntry, field: (typeof FIELDS)[number]): LedgerEntry {
  switch (field) {
    case 'seq':
      return { ...e, seq: e.seq + 1 };
    case 'payload':
      return { ...e, payload: { ...e.payload, injected: 'x' } };
    default:
      return { ...e, [field]: `${e[field]}x` };
  }
}

/** The first (1-based) sequence position whose check the checkpoints can fail: the first checkpoint at or after `seq`. */
function coveringCheckpoint(checkpoints: readonly Checkpoint[], seq: number): number {
  const after = checkpoints.map((c) => c.seq).filter((s) => s >= seq);
  if (after.length === 0) throw new Error(`no checkpoint covers seq ${seq}: checkpoint the head before tampering`);
  return Math.min(...after);
}

/**
 * One random tampering of a copy of `entries` (a whole chain from seq 1, checkpointed at its head). The original is
 * not changed. `forged-checkpoint` also signs a checkpoint of the rebuilt chain with a key that is not the real one.
 */
export function tamper(entries: readonly LedgerEntry[], checkpoints: readonly Checkpoint[], rng: Rng): Tampered {
  if (entries.length < 3) throw new Error('tamper needs a chain of at least 3 entries');
  const kind = TAMPER_KINDS[pick(rng, TAMPER_KINDS.length)]!;
  const copy = entries.map((e) => ({ ...e, payload: { ...e.payload } }));
  const cps = checkpoints.map((c) => ({ ...c }));
  const n = copy.length;
  const k = pick(rng, n); // 0-based index
  const seq = k + 1;
  switch (kind) {
    case 'field': {
      const field = FIELDS[pick(rng, FIELDS.length)]!;
      copy[k] = changeField(copy[k]!, field);
      return { kind, what: `${field} of entry ${seq}`, entries: copy, checkpoints: cps, lo: seq, hi: seq };
    }
    case 'delete':
      copy.splice(k, 1);
      return { kind, what: `entry ${seq} deleted`, entries: copy, checkpoints: cps, lo: seq, hi: seq };
    case 'reorder': {
      const j = k === n - 1 ? k - 1 : k;
      [copy[j], copy[j + 1]] = [copy[j + 1]!, copy[j]!];
      return { kind, what: `entries ${j + 1} and ${j + 2} swapped`, entries: copy, checkpoints: cps, lo: j + 1, hi: j + 1 };
    }
    case 'insert': {
      const prevHash = k === 0 ? GENESIS : copy[k - 1]!.hash;
      const body = { ...copy[k]!, seq, action: 'approval.approved', actor: 'https://issuer.test|mallory', payload: { forged: true } };
      const { prevHash: _p, hash: _h, ...fields } = body;
      copy.splice(k, 0, { ...fields, prevHash, hash: entryHash(prevHash, fields) });
      // The forged entry is consistent with its predecessor; the one it displaced is where the chain breaks.
      return { kind, what: `entry inserted at ${seq}`, entries: copy, checkpoints: cps, lo: seq, hi: seq + 1 };
    }
    case 'truncate': {
      const keep = pick(rng, n);
      return { kind, what: `cut to ${keep} entries`, entries: copy.slice(0, keep), checkpoints: cps, lo: keep + 1, hi: keep + 1 };
    }
    case 'rebuild':
    case 'forged-checkpoint': {
      copy[k] = { ...copy[k]!, payload: { ...copy[k]!.payload, rewritten: true } };
      rechain(copy, k);
      if (kind === 'rebuild') {
        return { kind, what: `entry ${seq} rewritten and the chain rebuilt`, entries: copy, checkpoints: cps, lo: seq, hi: coveringCheckpoint(cps, seq) };
      }
      const head = copy[copy.length - 1]!;
      const forged = { tenant: head.tenant, seq: head.seq, hash: head.hash, at: new Date().toISOString() };
      const mac = createHmac('sha256', randomBytes(32)).update(checkpointMessage(forged)).digest('base64');
      cps.push({ ...forged, signature: `vault:v1:${mac}` });
      return { kind, what: `entry ${seq} rewritten, chain rebuilt, checkpoint forged`, entries: copy, checkpoints: cps, lo: head.seq, hi: head.seq };
    }
    case 'truncate-rebuild': {
      copy.splice(k, 1);
      rechain(copy, k);
      return { kind, what: `entry ${seq} removed and the chain rebuilt`, entries: copy, checkpoints: cps, lo: seq, hi: coveringCheckpoint(cps, seq) };
    }
  }
}
