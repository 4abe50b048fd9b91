import type { Logger } from 'pino';
import { NotAllowedError, UpstreamError } from '@aoetl/contracts';
import { LeaseNotFoundError, type CredentialContext, type DatabaseCredential, type SecretStore } from '@aoetl/secrets';

/** A task's credential died before the task ended (revoked, lost by Vault, or expired while Vault was down). */
export class CredentialLostError extends UpstreamError {
  constructor(message: string) {
    // Retryable: a new attempt asks for a fresh credential; the ledger makes the repeat safe.
    super(message, { retryable: true });
    this.name = 'CredentialLostError';
  }
}

export interface LeaseKeeperOptions {
  /** How often Vault is asked whether a lease still exists, between renewals. Default 15 s. */
  checkEveryMs?: number;
  /** A lease that cannot be renewed or confirmed this close to its end is given up. Default min(5 s, TTL/4). */
  marginMs?: number;
}

interface Kept {
  leaseId: string;
  label: string;
  ctx: CredentialContext | undefined;
  ttlSec: number;
  expiresAt: number;
  renewAt: number;
  checkAt: number;
}

/**
 * Keeps a task's database leases alive while the task runs: renews each at half its TTL (asking for the full
 * TTL again) and checks between renewals that Vault still knows it. When a lease is gone (revoked, Vault lost
 * it, or Vault stayed unreachable until it expired), `onLost` is called once with a reason that names the
 * connection, never a value, so the task can stop and roll back. `stop()` ends all timers; revocation stays
 * with the caller.
 */
export class LeaseKeeper {
  private readonly kept = new Map<string, Kept>();
  private readonly checkEveryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopped = false;
  /** Why a lease was lost; null while every lease is alive. */
  lost: string | null = null;

  constructor(
    private readonly secrets: SecretStore,
    private readonly log: Logger,
    private readonly onLost: (reason: string) => void,
    private readonly opts: LeaseKeeperOptions = {},
  ) {
    this.checkEveryMs = opts.checkEveryMs ?? 15_000;
  }

  /** Starts keeping a credential's lease; static or non-renewable credentials need nothing. */
  keep(cred: DatabaseCredential, label: string, ctx?: CredentialContext): void {
    if (this.stopped || !cred.leaseId || !cred.renewable || cred.leaseDurationSec <= 0) return;
    const now = Date.now();
    const ttlMs = cred.leaseDurationSec * 1000;
    this.kept.set(cred.leaseId, {
      leaseId: cred.leaseId,
      label,
      ctx,
      ttlSec: cred.leaseDurationSec,
      expiresAt: now + ttlMs,
      renewAt: now + ttlMs / 2,
      checkAt: now + Math.min(this.checkEveryMs, ttlMs / 2),
    });
    this.arm();
  }

  /** Stops every timer; answers why a lease was lost, if one was. */
  stop(): string | null {
    this.stopped = true;
    clearTimeout(this.timer);
    this.kept.clear();
    return this.lost;
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.stopped || this.ticking || this.kept.size === 0) return;
    let next = Infinity;
    for (const k of this.kept.values()) next = Math.min(next, k.renewAt, k.checkAt);
    this.timer = setTimeout(() => void this.tick(), Math.max(0, next - Date.now()));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.ticking = true;
    try {
      for (const k of [...this.kept.values()]) {
        if (this.stopped) return;
        const now = Date.now();
        if (now >= k.renewAt) await this.renew(k);
        else if (now >= k.checkAt) await this.check(k);
      }
    } finally {
      this.ticking = false;
      this.arm();
    }
  }

  private async renew(k: Kept): Promise<void> {
    try {
      const ttlSec = await this.secrets.renew(k.leaseId, k.ttlSec, k.ctx);
      const now = Date.now();
      k.expiresAt = now + ttlSec * 1000;
      if (ttlSec * 1000 <= this.margin(k)) {
        this.lose(k, `the ${k.label} credential reached its maximum lifetime`);
        return;
      }
      k.renewAt = now + (ttlSec * 1000) / 2;
      k.checkAt = now + Math.min(this.checkEveryMs, (ttlSec * 1000) / 2);
      if (ttlSec < k.ttlSec) this.log.warn({ leaseId: k.leaseId, ttlSec }, 'lease renewed for less than asked: its maximum TTL is near');
    } catch (err) {
      this.failed(k, err);
    }
  }

  private async check(k: Kept): Promise<void> {
    try {
      const info = await this.secrets.lookupLease(k.leaseId);
      const now = Date.now();
      k.expiresAt = now + info.ttlSec * 1000;
      k.checkAt = now + this.checkEveryMs;
      if (k.expiresAt - this.margin(k) < k.renewAt) k.renewAt = Math.max(now, k.expiresAt - this.margin(k));
    } catch (err) {
      this.failed(k, err);
    }
  }

  private failed(k: Kept, err: unknown): void {
    if (err instanceof LeaseNotFoundError) return this.lose(k, `the ${k.label} credential was revoked or lost by Vault`);
    if (err instanceof NotAllowedError) return this.lose(k, `Vault refused to keep the ${k.label} credential alive`);
    const now = Date.now();
    const left = k.expiresAt - now;
    if (left <= this.margin(k)) return this.lose(k, `Vault was unreachable until the ${k.label} credential expired`);
    const retryIn = Math.max(250, Math.min(2_000, (left - this.margin(k)) / 3));
    k.checkAt = now + retryIn;
    if (k.renewAt <= now) k.renewAt = now + retryIn;
    this.log.warn({ err, leaseId: k.leaseId, leftMs: left }, 'lease renewal or check failed; retrying');
  }

  private lose(k: Kept, reason: string): void {
    if (this.lost) return;
    this.lost = reason;
    this.log.error({ leaseId: k.leaseId, connection: k.label, reason }, 'credential lost; stopping the task');
    this.stopped = true;
    clearTimeout(this.timer);
    this.kept.clear();
    try {
      this.onLost(reason);
    } catch (err) {
      this.log.warn({ err }, 'onLost handler failed');
    }
  }

  private margin(k: Kept): number {
    return this.opts.marginMs ?? Math.min(5_000, (k.ttlSec * 1000) / 4);
  }
}
