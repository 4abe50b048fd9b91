export { canonicalJson, type Canonical } from './canonical.js';
export {
  GENESIS,
  canonicalEntry,
  entryHash,
  verifyChain,
  type LedgerEntry,
  type VerifyBad,
  type VerifyOk,
  type VerifyResult,
} from './chain.js';
export {
  CheckpointFile,
  checkpointMessage,
  signCheckpoint,
  transitSigner,
  type Checkpoint,
  type CheckpointSigner,
  type CheckpointVerifier,
} from './checkpoint.js';
export { credentialAuditMessage, credentialLedgerEntry } from './credentials.js';
export { PLATFORM_TENANT, quarantineLedgerEntry } from './quarantine.js';
