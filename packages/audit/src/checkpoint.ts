import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Transit } from '@aoetl/secrets';
import { canonicalJson } from './canonical.js';

/** A signed statement "tenant's chain had entry `seq` with `hash` at `at`", kept outside the database. */
export interface Checkpoint {
  tenant: string;
  seq: number;
  hash: string;
  at: string;
  /** Vault transit signature (`vault:vN:…`) over `checkpointMessage`. */
  signature: string;
}

export interface CheckpointSigner {
  sign(message: string): Promise<string>;
}
export interface CheckpointVerifier {
  verify(message: string, signature: string): Promise<boolean>;
}

/** What a checkpoint's signature covers: the canonical JSON of everything but the signature. */
export function checkpointMessage(c: Omit<Checkpoint, 'signature'>): string {
  return canonicalJson({ kind: 'aoetl.audit.checkpoint', tenant: c.tenant, seq: c.seq, hash: c.hash, at: c.at });
}

/** Signs and verifies with a Vault transit key (Ed25519: `aoetl-signing`); the key never leaves Vault. */
export function transitSigner(transit: Transit, key: string): CheckpointSigner & CheckpointVerifier {
  return {
    sign: (message) => transit.sign(key, message),
    verify: (message, signature) => transit.verify(key, message, signature),
  };
}

export async function signCheckpoint(signer: CheckpointSigner, head: Omit<Checkpoint, 'signature'>): Promise<Checkpoint> {
  return { ...head, signature: await signer.sign(checkpointMessage(head)) };
}

/**
 * The checkpoint export: one JSON line per checkpoint appended to a file the operator chooses (a mounted volume,
 * a file shipped to WORM storage). Appends only; never rewrites.
 */
export class CheckpointFile {
  constructor(readonly path: string) {}

  async append(c: Checkpoint): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await appendFile(this.path, `${JSON.stringify(c)}\n`, { mode: 0o640 });
  }

  /** Every checkpoint in the file (of `tenant` when given); none when the file does not exist yet. */
  async read(tenant?: string): Promise<Checkpoint[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: Checkpoint[] = [];
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const c = parseCheckpoint(line);
      if (!c) throw new Error(`${this.path}:${i + 1}: not a checkpoint line`);
      if (tenant === undefined || c.tenant === tenant) out.push(c);
    });
    return out;
  }
}

function parseCheckpoint(line: string): Checkpoint | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  const c = v as Partial<Checkpoint> | null;
  if (!c || typeof c.tenant !== 'string' || !Number.isSafeInteger(c.seq) || typeof c.hash !== 'string' || typeof c.at !== 'string' || typeof c.signature !== 'string') {
    return null;
  }
  return { tenant: c.tenant, seq: c.seq!, hash: c.hash, at: c.at, signature: c.signature };
}
