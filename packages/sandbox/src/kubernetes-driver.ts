/**
 * Kubernetes sandbox driver: one pod per transform run in the sandbox namespace (runtimeClassName
 * gvisor in production), the data through the pod's attach stream (harness protocol of protocol.ts),
 * the pod deleted on every path.
 *
 * API calls it makes (the etl-agent's Role in that namespace must allow them): create, get, delete
 * and, for reapOrphans, list pods; create pods/attach (WebSocket, v5.channel.k8s.io, so Kubernetes
 * >= 1.30: only v5 can close stdin without closing the stream, and the harness reads until EOF).
 *
 * LIMIT: there is no cluster here. This driver is tested only against a local HTTPS server that
 * implements exactly those API paths (packages/sandbox/test/support/fake-kube-api.ts, running the
 * real harness as a local process), never against a real API server, kubelet or gVisor
 * (docs/operations/helm.md, "Kubernetes sandbox driver").
 *
 * @kubernetes/client-node is ESM-only: it is loaded on first use with require(esm) (Node >= 20.19),
 * so importing @aoetl/sandbox does not load it.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import type { Attach, CoreV1Api, KubeConfig, V1ContainerStateTerminated, V1Pod } from '@kubernetes/client-node';
import { sleep } from '@aoetl/timing';
import { SANDBOX_LABEL } from './container-spec.js';
import { SandboxClosedError, SandboxConfigError, SandboxError } from './errors.js';
import { HarnessSession, prepareRun, RunSet, type PreparedRun } from './harness-io.js';
import { buildPodSpec, SANDBOX_CONTAINER, type ImagePullPolicy } from './kubernetes-pod-spec.js';
import { resolveLimits } from './limits.js';
import { DRIVER_CLOSED_REASON } from './results.js';
import type { SandboxDriver, SandboxLimits, SandboxLogger, SandboxResult, SandboxRunRequest } from './types.js';

type KubeClient = typeof import('@kubernetes/client-node');

export interface KubernetesSandboxDriverOptions {
  /** Sandbox image (AOETL_SANDBOX_IMAGE). */
  image: string;
  /** Namespace of the sandbox pods (AOETL_SANDBOX_NAMESPACE). */
  namespace: string;
  /** RuntimeClass of the sandbox pods, e.g. gvisor (AOETL_SANDBOX_RUNTIME_CLASS); empty = cluster default. */
  runtimeClassName?: string;
  /** API access; default KubeConfig.loadFromDefault() (KUBECONFIG, ~/.kube/config, else in-cluster). */
  kubeConfig?: KubeConfig;
  /** Default IfNotPresent. */
  imagePullPolicy?: ImagePullPolicy;
  /** Ephemeral storage of a pod (its container log holds the attached output), in bytes; default 128 MiB. */
  ephemeralStorageBytes?: number;
  /** How long a pod may take to be scheduled and started (image pull included); default 120 s. */
  startTimeoutMs?: number;
  /** Pod status polling interval; default 250 ms. */
  pollIntervalMs?: number;
  /** Default limits of every run (requests may override them); timeoutMs counts from the pod's start. */
  limits?: Partial<SandboxLimits>;
  logger?: SandboxLogger;
  /** How much of stderr to keep for errors; default 64 KiB. */
  stderrTailBytes?: number;
}

export interface KubernetesReapOptions {
  /** Only delete pods created at least this long ago; default each pod's activeDeadlineSeconds. */
  olderThanMs?: number;
}

/** The sandbox pod did not get running (unschedulable, image pull failure, start timeout...). */
export class SandboxPodStartError extends SandboxError {
  constructor(
    readonly podName: string,
    readonly reason: string,
    detail: string,
  ) {
    super(`sandbox pod ${podName} did not start: ${reason}${detail ? `: ${detail}` : ''}`);
  }
}

/** The part of the `ws` WebSocket that client-node's Attach returns and this driver uses. */
interface AttachSocket {
  readonly protocol: string;
  readonly readyState: number;
  readonly isPaused: boolean;
  send(data: Buffer, cb: (err?: Error) => void): void;
  pause(): void;
  resume(): void;
  terminate(): void;
  on(event: 'close', listener: (code: number) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

const MiB = 1024 * 1024;
const WS_OPEN = 1;
const STDIN_CHANNEL = 0;
const CLOSE_CHANNEL = 255;
const V5_PROTOCOL = 'v5.channel.k8s.io';
/** Close codes of a stream the server ended normally (1005 = a close frame without a code). */
const NORMAL_CLOSE = new Set([1000, 1005]);
/** Waiting reasons that will not resolve by waiting. */
const FATAL_WAITING = new Set([
  'ErrImageNeverPull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);
const noop = (): void => undefined;
const SILENT_LOGGER: SandboxLogger = { debug: noop, info: noop, warn: noop, error: noop };

/** Runs transforms in throw-away pods; see buildPodSpec for the hardening. */
export class KubernetesSandboxDriver implements SandboxDriver {
  readonly image: string;
  readonly namespace: string;
  readonly runtimeClassName: string | undefined;
  private readonly api: CoreV1Api;
  private readonly attacher: Attach;
  private readonly defaults: SandboxLimits;
  private readonly log: SandboxLogger;
  private readonly imagePullPolicy: ImagePullPolicy;
  private readonly ephemeralStorageBytes: number;
  private readonly startTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly stderrTailBytes: number;
  private closed = false;
  /** Pods of running runs (name -> kill) and the run promises. */
  private readonly active = new Map<string, (why: string) => void>();
  private readonly runs = new RunSet();

  constructor(options: KubernetesSandboxDriverOptions) {
    if (!options.image) throw new SandboxConfigError('image is required');
    if (!options.namespace) throw new SandboxConfigError('namespace is required');
    this.image = options.image;
    this.namespace = options.namespace;
    this.runtimeClassName = options.runtimeClassName || undefined;
    this.defaults = resolveLimits(options.limits);
    this.log = options.logger ?? SILENT_LOGGER;
    this.imagePullPolicy = options.imagePullPolicy ?? 'IfNotPresent';
    this.ephemeralStorageBytes = options.ephemeralStorageBytes ?? 128 * MiB;
    this.startTimeoutMs = options.startTimeoutMs ?? 120_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.stderrTailBytes = options.stderrTailBytes ?? 64 * 1024;
    const k8s = loadClient();
    let kubeConfig = options.kubeConfig;
    if (!kubeConfig) {
      kubeConfig = new k8s.KubeConfig();
      kubeConfig.loadFromDefault();
    }
    this.api = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.attacher = new k8s.Attach(kubeConfig);
  }

  async run(req: SandboxRunRequest): Promise<SandboxResult> {
    if (this.closed) throw new SandboxClosedError();
    return this.runs.track(this.runPod(req, prepareRun(req, this.defaults)));
  }

  private async runPod(req: SandboxRunRequest, prepared: PreparedRun): Promise<SandboxResult> {
    const started = performance.now();
    const { limits } = prepared;
    const name = `aoetl-sandbox-${randomBytes(8).toString('hex')}`;
    const log = { pod: name, namespace: this.namespace, runId: req.runId };
    // Until the run has its own kill (once attached), killing means deleting the pod.
    this.active.set(name, () => void this.deletePod(name));
    try {
      const body = buildPodSpec({
        name,
        namespace: this.namespace,
        image: this.image,
        imagePullPolicy: this.imagePullPolicy,
        runtimeClassName: this.runtimeClassName,
        runId: req.runId,
        limits,
        ephemeralStorageBytes: this.ephemeralStorageBytes,
        activeDeadlineSeconds: Math.ceil((this.startTimeoutMs + limits.timeoutMs) / 1000) + 30,
      });
      try {
        await this.api.createNamespacedPod({ namespace: this.namespace, body });
      } catch (err) {
        throw new SandboxError(`could not create sandbox pod ${name}: ${describe(err)}`, { cause: err });
      }
      this.log.debug(log, 'sandbox pod created');
      const pod = await this.waitUntilStarted(name);
      const terminated = containerState(pod)?.terminated;
      const result = terminated
        ? exitedEarly(name, started, terminated)
        : await this.execute(name, req, prepared, started);
      this.log.info({ ...log, kind: result.kind, durationMs: result.durationMs, bytesOut: result.bytesOut }, 'sandbox run finished');
      return result;
    } finally {
      this.active.delete(name);
      await this.deletePod(name);
    }
  }

  /** Polls the pod until its container runs (or already ended); throws when it cannot start. */
  private async waitUntilStarted(name: string): Promise<V1Pod> {
    const deadline = performance.now() + this.startTimeoutMs;
    let last = 'Pending';
    for (;;) {
      const pod = await this.readPod(name);
      if (this.closed) throw new SandboxClosedError();
      if (!pod) throw new SandboxPodStartError(name, 'Deleted', 'the pod was deleted before it started');
      const state = containerState(pod);
      if (state?.running || state?.terminated) return pod;
      if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') {
        throw new SandboxPodStartError(name, pod.status.reason ?? pod.status.phase, pod.status.message ?? '');
      }
      const waiting = state?.waiting;
      if (waiting?.reason && FATAL_WAITING.has(waiting.reason)) {
        throw new SandboxPodStartError(name, waiting.reason, waiting.message ?? '');
      }
      const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
      last = waiting?.reason ? `${waiting.reason} ${waiting.message ?? ''}` : unscheduled ? `${unscheduled.reason} ${unscheduled.message ?? ''}` : last;
      if (performance.now() >= deadline) {
        throw new SandboxPodStartError(name, 'StartTimeout', `not running after ${this.startTimeoutMs} ms (last: ${last.trim()})`);
      }
      await sleep(this.pollIntervalMs);
    }
  }

  private async execute(name: string, req: SandboxRunRequest, prepared: PreparedRun, started: number): Promise<SandboxResult> {
    let socket: AttachSocket | undefined;
    const io = new HarnessSession({
      ...prepared,
      req,
      stderrTailBytes: this.stderrTailBytes,
      kill: (why) => {
        this.log.debug({ pod: name, why }, 'killing sandbox pod');
        socket?.terminate();
        void this.deletePod(name);
      },
    });
    this.active.set(name, (why) => io.kill(why));
    // What Attach writes to: the channels' payloads. Pause the socket while the stdout sink is full.
    const stdoutChannel = {
      write: (chunk: Buffer): void => {
        io.stdout.write(chunk);
        if (io.stdout.writableNeedDrain && socket && !socket.isPaused) {
          const paused = socket;
          paused.pause();
          io.stdout.once('drain', () => paused.resume());
        }
      },
      end: noop, // the status channel; the socket's close ends the run
    };
    const stderrChannel = { write: (chunk: Buffer): void => void io.stderr.write(chunk), end: noop };
    // Attach only needs a stdin to ask for one: the data goes through AttachStdin below.
    const attachStdin = new Readable({ read: noop });
    let stdin: AttachStdin | undefined;
    let exit: V1ContainerStateTerminated | undefined;
    try {
      try {
        // client-node types the socket with ws's types, which it does not ship: see AttachSocket.
        const attached: unknown = await this.attacher.attach(this.namespace, name, SANDBOX_CONTAINER, stdoutChannel, stderrChannel, attachStdin, false);
        socket = attached as AttachSocket;
      } catch (err) {
        // Killed (timeout, close, input error) while attaching: the result says why.
        if (io.killedBy === undefined) throw new SandboxError(`could not attach to sandbox pod ${name}: ${describe(err)}`, { cause: err });
      }
      if (socket) {
        const attached = socket;
        const closedWith = new Promise<number>((resolve) =>
          attached.on('close', (code) => {
            io.stopInput(); // stop reading input nobody takes any more
            resolve(code);
          }),
        );
        attached.on('error', (err) => this.log.debug({ pod: name, err }, 'attach stream error'));
        if (io.killedBy !== undefined) attached.terminate(); // killed while attaching
        if (attached.protocol !== V5_PROTOCOL) {
          io.kill('no v5 stream protocol');
          throw new SandboxError(
            `the API server attached with "${attached.protocol}", not ${V5_PROTOCOL} (Kubernetes >= 1.30): it cannot end the sandbox input`,
          );
        }
        stdin = new AttachStdin(attached);
        io.feed(stdin);

        const closeCode = await closedWith;
        await io.drain();
        if (io.killedBy === undefined && !NORMAL_CLOSE.has(closeCode)) {
          throw new SandboxError(`attach stream of sandbox pod ${name} closed abnormally (code ${closeCode})`);
        }
        if (io.killedBy === undefined) exit = await this.waitForExit(name, () => io.killedBy !== undefined);
      }
    } finally {
      io.dispose();
      stdin?.destroy();
      attachStdin.destroy();
      socket?.terminate();
    }

    return io.result({ containerId: name, durationMs: Math.round(performance.now() - started) }, () => {
      const endedBy = this.closed
        ? DRIVER_CLOSED_REASON
        : io.killedBy !== undefined
          ? `killed: ${io.killedBy}`
          : !exit
            ? 'the sandbox pod was deleted before it exited'
            : undefined;
      return {
        exitCode: exit?.exitCode ?? -1,
        oomKilled: exit?.reason === 'OOMKilled',
        ...(endedBy ? { endedBy } : {}),
        ...(exit?.reason ? { statusDetail: ` (${exit.reason})` } : {}),
      };
    });
  }

  /** After the attach stream ended: polls until the kubelet reports the exit (undefined if the pod is gone). */
  private async waitForExit(name: string, stop: () => boolean): Promise<V1ContainerStateTerminated | undefined> {
    while (!stop()) {
      const pod = await this.readPod(name);
      if (!pod) return undefined;
      const terminated = containerState(pod)?.terminated;
      if (terminated) return terminated;
      await sleep(this.pollIntervalMs);
    }
    return undefined;
  }

  private async readPod(name: string): Promise<V1Pod | undefined> {
    try {
      return await this.api.readNamespacedPod({ name, namespace: this.namespace });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw new SandboxError(`could not read sandbox pod ${name}: ${describe(err)}`, { cause: err });
    }
  }

  /** Deletes a pod at once (no grace period); a missing pod is fine, other failures are logged. */
  private async deletePod(name: string): Promise<boolean> {
    try {
      await this.api.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: 0 });
      return true;
    } catch (err) {
      if (statusCode(err) !== 404) this.log.warn({ pod: name, namespace: this.namespace, err: describe(err) }, 'could not delete sandbox pod');
      return false;
    }
  }

  /**
   * Deletes pods labelled aoetl.sandbox=1 in the namespace that no run of this driver is using and
   * that are older than olderThanMs, by default older than their own activeDeadlineSeconds: no run
   * of any agent sharing the namespace can still be using those.
   */
  async reapOrphans(options: KubernetesReapOptions = {}): Promise<string[]> {
    const list = await this.api.listNamespacedPod({ namespace: this.namespace, labelSelector: `${SANDBOX_LABEL}=1` });
    const removed: string[] = [];
    for (const pod of list.items) {
      const name = pod.metadata?.name;
      const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : 0;
      const minAgeMs = options.olderThanMs ?? (pod.spec?.activeDeadlineSeconds ?? 0) * 1000;
      if (!name || this.active.has(name) || Date.now() - created < minAgeMs) continue;
      if (await this.deletePod(name)) removed.push(name);
    }
    if (removed.length > 0) this.log.info({ count: removed.length, namespace: this.namespace }, 'reaped orphaned sandbox pods');
    return removed;
  }

  /** Deletes the pods of running runs (they end with exit_error, or reject while starting) and refuses new runs. */
  async close(): Promise<void> {
    this.closed = true;
    for (const kill of this.active.values()) kill('sandbox driver closed');
    await this.runs.settled();
  }
}

/** Writes stdin frames with backpressure (one frame in flight); the end of input is v5's CLOSE of channel 0. */
class AttachStdin extends Writable {
  constructor(private readonly socket: AttachSocket) {
    super({ highWaterMark: MiB });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.socket.readyState !== WS_OPEN) return done(); // the stream ended: the rest is not needed
    const frame = Buffer.allocUnsafe(chunk.length + 1);
    frame[0] = STDIN_CHANNEL;
    chunk.copy(frame, 1);
    this.socket.send(frame, () => done()); // a send error means the stream ended: see above
  }

  override _final(done: (error?: Error | null) => void): void {
    if (this.socket.readyState !== WS_OPEN) return done();
    this.socket.send(Buffer.from([CLOSE_CHANNEL, STDIN_CHANNEL]), () => done());
  }
}

function loadClient(): KubeClient {
  // ESM-only package: require(esm) keeps it out of every process that does not build this driver.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@kubernetes/client-node') as KubeClient;
}

function containerState(pod: V1Pod) {
  return pod.status?.containerStatuses?.find((c) => c.name === SANDBOX_CONTAINER)?.state;
}

/** The container ended before it was attached (the harness waits for stdin, so the image is broken). */
function exitedEarly(name: string, started: number, terminated: V1ContainerStateTerminated): SandboxResult {
  const base = { containerId: name, durationMs: Math.round(performance.now() - started), bytesOut: 0 };
  const reason = `exited before its input was attached: exit status ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}`;
  return { ...base, kind: 'exit_error', exitCode: terminated.exitCode, stderrTail: terminated.message ?? '', reason };
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short description of an API error: status code and the Status message, never the request. */
function describe(err: unknown): string {
  const code = statusCode(err);
  const body = (err as { body?: unknown } | null)?.body;
  let message: string | undefined;
  if (typeof body === 'string') {
    try {
      message = (JSON.parse(body) as { message?: string }).message;
    } catch {
      message = body.slice(0, 200);
    }
  } else if (body && typeof body === 'object') {
    message = (body as { message?: string }).message;
  }
  if (code !== undefined) return `HTTP ${code}${message ? `: ${message}` : ''}`;
  // ws reports connection failures as an ErrorEvent: { message, error }
  const text = (err as { message?: unknown } | null)?.message;
  return typeof text === 'string' ? text : String(err);
}
