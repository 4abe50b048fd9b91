// A local stand-in for the Kubernetes API server and kubelet, with exactly the paths the
// Kubernetes sandbox driver uses: create, get, delete and list (by label) pods in one namespace,
// and attach over WebSocket (v5.channel.k8s.io framing: one channel byte, then the payload;
// [255, 0] closes stdin; channel 3 carries the final Status). A "container" is the real harness
// (docker/sandbox-python/harness.py) run as a local python3 process with an empty environment.
// It does not model scheduling, admission, RBAC, cgroups or gVisor: the pod spec is asserted by
// the tests, not enforced here. The WebSocket server side is written out (RFC 6455) on node:https.
// It serves HTTPS with a throw-away self-signed certificate (openssl) that the kubeconfig trusts:
// client-node refuses plain HTTP unless TLS verification is switched off, which we never do.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';

export const HARNESS_PATH = resolve(__dirname, '../../../../docker/sandbox-python/harness.py');
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Pod objects are loose JSON here. */
type Pod = Record<string, any>;

interface FakePod {
  pod: Pod;
  process?: ChildProcess;
  deleted: boolean;
  attached: boolean;
  stdinBytes: number;
}

export interface FakeKubeApiOptions {
  namespace: string;
  /** Bearer token every request must carry. */
  token: string;
  /** Delay between create and the container running. */
  scheduleDelayMs?: number;
}

export class FakeKubeApi {
  /** "METHOD /path" of every request, in order (query strings left off). */
  readonly requests: string[] = [];
  /** Pod bodies as the driver posted them. */
  readonly created: Pod[] = [];
  readonly pods = new Map<string, FakePod>();
  /** Stdin bytes each pod's container received (kept after deletion). */
  readonly stdinBytes = new Map<string, number>();
  /** The next create stores the pod (if `store`) and then answers with this HTTP status. */
  createFailure: { status: number; store: boolean } | undefined;
  /** Containers do not start: they wait with this reason (e.g. ImagePullBackOff). */
  startFailure: { reason: string; message: string } | undefined;
  /** Extra harness arguments, e.g. ['--no-guard'] for a test that needs os (the harness guard refuses it). */
  harnessArgs: string[] = [];
  /** WebSocket subprotocols the attach endpoint accepts. */
  protocols = ['v5.channel.k8s.io'];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly cert: string;
  private url = '';

  constructor(private readonly options: FakeKubeApiOptions) {
    const { cert, key } = selfSignedCertificate();
    this.cert = cert;
    this.server = createServer({ cert, key }, (req, res) => void this.handle(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket as Socket, head));
    this.server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const entry of this.pods.values()) entry.process?.kill('SIGKILL');
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((done) => this.server.close(() => done()));
  }

  /** Options for KubeConfig.loadFromOptions pointing at this server. */
  kubeConfigOptions(): object {
    return {
      clusters: [{ name: 'fake', server: this.url, caData: Buffer.from(this.cert).toString('base64') }],
      users: [{ name: 'etl-agent', token: this.options.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'etl-agent', namespace: this.options.namespace }],
      currentContext: 'fake',
    };
  }

  /** Names of the pods whose container process is still alive. */
  runningProcesses(): string[] {
    return [...this.pods.entries()].filter(([, p]) => p.process && p.process.exitCode === null && p.process.signalCode === null).map(([n]) => n);
  }

  /** Stores a pod as if another agent had created it `ageMs` ago (for the reaper). */
  addPod(name: string, labels: Record<string, string>, ageMs: number, activeDeadlineSeconds?: number): void {
    this.pods.set(name, {
      pod: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: this.options.namespace, labels, uid: randomUUID(), creationTimestamp: new Date(Date.now() - ageMs).toISOString() },
        spec: { containers: [{ name: 'sandbox', image: 'x' }], ...(activeDeadlineSeconds ? { activeDeadlineSeconds } : {}) },
        status: { phase: 'Failed' },
      },
      deleted: false,
      attached: false,
      stdinBytes: 0,
    });
  }

  // ------------------------------------------------------------------ REST

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push(`${req.method} ${url.pathname}`);
    if (req.headers.authorization !== `Bearer ${this.options.token}`) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    const body = await readBody(req);
    const base = `/api/v1/namespaces/${this.options.namespace}/pods`;
    if (url.pathname === base && req.method === 'POST') return this.createPod(res, body);
    if (url.pathname === base && req.method === 'GET') return this.listPods(res, url.searchParams.get('labelSelector') ?? '');
    const match = url.pathname.startsWith(`${base}/`) ? url.pathname.slice(base.length + 1) : undefined;
    if (match && !match.includes('/')) {
      if (req.method === 'GET') return this.readPod(res, match);
      if (req.method === 'DELETE') return this.deletePod(res, match);
      if (req.method === 'PATCH') return this.patchPod(res, match, req.headers['content-type'] ?? '', body);
    }
    send(res, 404, status(404, 'NotFound', `the server could not find the requested resource ${req.method} ${url.pathname}`));
  }

  private createPod(res: ServerResponse, raw: string): void {
    const pod = JSON.parse(raw) as Pod;
    const name: unknown = pod.metadata?.name;
    if (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name)) return send(res, 422, status(422, 'Invalid', `invalid pod name ${String(name)}`));
    if (pod.metadata.namespace !== undefined && pod.metadata.namespace !== this.options.namespace) {
      return send(res, 400, status(400, 'BadRequest', 'the namespace of the object does not match the namespace on the request'));
    }
    for (const [key, value] of Object.entries(pod.metadata.labels ?? {})) {
      if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
        return send(res, 422, status(422, 'Invalid', `metadata.labels: Invalid value: "${String(value)}" (label ${key})`));
      }
    }
    if (this.pods.has(name)) return send(res, 409, status(409, 'AlreadyExists', `pods "${name}" already exists`));
    this.created.push(structuredClone(pod));
    const failure = this.createFailure;
    this.createFailure = undefined;
    if (failure && !failure.store) return send(res, failure.status, status(failure.status, 'Forbidden', `pods is forbidden (injected)`));
    pod.metadata.namespace = this.options.namespace;
    pod.metadata.uid = randomUUID();
    pod.metadata.creationTimestamp = new Date().toISOString();
    pod.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'waiting (fake)' }] };
    const entry: FakePod = { pod, deleted: false, attached: false, stdinBytes: 0 };
    this.pods.set(name, entry);
    setTimeout(() => this.startContainer(name, entry), this.options.scheduleDelayMs ?? 20);
    if (failure) return send(res, failure.status, status(failure.status, 'InternalError', 'etcd timeout (injected after storing the pod)'));
    send(res, 201, pod);
  }

  private startContainer(name: string, entry: FakePod): void {
    if (entry.deleted) return;
    const container = entry.pod.spec.containers[0];
    const startedAt = new Date().toISOString();
    entry.pod.status.conditions = [{ type: 'PodScheduled', status: 'True' }];
    if (this.startFailure) {
      entry.pod.status.containerStatuses = [{ name: container.name, ready: false, state: { waiting: { ...this.startFailure } } }];
      return;
    }
    // The container command is HARNESS_COMMAND; the harness file is taken from the repository.
    const child = spawn('python3', ['-I', '-S', HARNESS_PATH, ...this.harnessArgs], { cwd: tmpdir(), env: {}, stdio: 'pipe' });
    child.stdin.on('error', () => undefined); // EPIPE once the harness has exited
    entry.process = child;
    entry.pod.status.phase = 'Running';
    entry.pod.status.containerStatuses = [{ name: container.name, ready: true, state: { running: { startedAt } } }];
    child.on('exit', (code, signal) => {
      if (entry.deleted) return;
      // A SIGKILL nobody asked for stands in for the kernel's OOM killer.
      const oom = signal === 'SIGKILL';
      const exitCode = code ?? 128 + 9;
      entry.pod.status.phase = exitCode === 0 ? 'Succeeded' : 'Failed';
      entry.pod.status.containerStatuses = [
        {
          name: container.name,
          ready: false,
          state: { terminated: { exitCode, reason: oom ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: new Date().toISOString() } },
        },
      ];
    });
  }

  /** JSON merge patch of a pod's labels (the monitor's quarantine); other patch types and fields are refused. */
  private patchPod(res: ServerResponse, name: string, contentType: string, raw: string): void {
    if (contentType.split(';')[0] !== 'application/merge-patch+json') {
      return send(res, 415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format: ${contentType}`));
    }
    const entry = this.pods.get(name);
    if (!entry || entry.deleted) return send(res, 404, status(404, 'NotFound', `pods "${name}" not found`));
    const patch = JSON.parse(raw) as Pod;
    const keys = Object.keys(patch);
    if (keys.length !== 1 || keys[0] !== 'metadata' || Object.keys(patch.metadata ?? {}).join() !== 'labels') {
      return send(res, 422, status(422, 'Invalid', 'this fake API server patches metadata.labels only'));
    }
    for (const [key, value] of Object.entries(patch.metadata.labels as Record<string, unknown>)) {
      if (value !== null && (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value))) {
        return send(res, 422, status(422, 'Invalid', `metadata.labels: Invalid value: "${JSON.stringify(value)}" (label ${key})`));
      }
    }
    const labels: Record<string, unknown> = { ...(entry.pod.metadata.labels ?? {}), ...patch.metadata.labels };
    for (const [key, value] of Object.entries(labels)) if (value === null) delete labels[key];
    entry.pod.metadata.labels = labels;
    send(res, 200, entry.pod);
  }

  private readPod(res: ServerResponse, name: string): void {
    const entry = this.pods.get(name);
    if (!entry) return send(res, 404, status(404, 'NotFound', `pods "${name}" not found`));
    send(res, 200, entry.pod);
  }

  private deletePod(res: ServerResponse, name: string): void {
    const entry = this.pods.get(name);
    if (!entry) return send(res, 404, status(404, 'NotFound', `pods "${name}" not found`));
    entry.deleted = true;
    entry.process?.kill('SIGKILL');
    this.pods.delete(name);
    send(res, 200, entry.pod);
  }

  private listPods(res: ServerResponse, selector: string): void {
    const wanted = selector
      .split(',')
      .filter(Boolean)
      .map((term) => term.split(/==?/) as [string, string]);
    const items = [...this.pods.values()].map((e) => e.pod).filter((pod) => wanted.every(([k, v]) => pod.metadata.labels?.[k] === v));
    send(res, 200, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '1' }, items });
  }

  // ------------------------------------------------------------------ attach

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push(`ATTACH ${url.pathname}`);
    const refuse = (code: number, message: string): void => {
      const json = JSON.stringify(status(code, 'BadRequest', message));
      socket.end(`HTTP/1.1 ${code} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
    };
    if (req.headers.authorization !== `Bearer ${this.options.token}`) return refuse(401, 'Unauthorized');
    const match = new RegExp(`^/api/v1/namespaces/${this.options.namespace}/pods/([^/]+)/attach$`).exec(url.pathname);
    const entry = match ? this.pods.get(match[1]!) : undefined;
    if (!entry) return refuse(404, 'pod not found');
    const q = url.searchParams;
    const container = entry.pod.spec.containers[0].name;
    if (q.get('container') !== container || q.get('stdin') !== 'true' || q.get('stdout') !== 'true' || q.get('stderr') !== 'true' || q.get('tty') !== 'false') {
      return refuse(400, `unexpected attach query ${url.search}`);
    }
    const child = entry.process;
    if (!child || child.exitCode !== null || child.signalCode !== null || entry.attached) {
      return refuse(400, 'container is not running or its stdin was already attached once');
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(/\s*,\s*/);
    const protocol = offered.find((p) => this.protocols.includes(p));
    if (!protocol) return refuse(400, `no supported stream protocol in ${offered.join(', ')}`);
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}${WS_GUID}`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
    );
    entry.attached = true;
    const name = match![1]!;
    const ws = new WsServerConnection(socket, head);

    ws.on('message', (payload: Buffer) => {
      const channel = payload[0];
      if (channel === 0) {
        entry.stdinBytes += payload.length - 1;
        this.stdinBytes.set(name, entry.stdinBytes);
        if (!child.stdin!.write(payload.subarray(1))) {
          socket.pause();
          child.stdin!.once('drain', () => socket.resume());
        }
      } else if (channel === 255 && payload[1] === 0) {
        child.stdin!.end();
      }
    });
    // stdinOnce: the container's stdin closes when the attach session ends.
    ws.on('close', () => child.stdin!.end());

    let open = 2;
    const forward = (stream: NodeJS.ReadableStream, channel: number): void => {
      stream.on('data', (chunk: Buffer) => {
        if (!ws.send(0x2, Buffer.concat([Buffer.from([channel]), chunk]))) {
          stream.pause();
          socket.once('drain', () => stream.resume());
        }
      });
      stream.on('end', () => {
        if (--open > 0) return;
        ws.send(0x2, Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' }))]));
        ws.close(1000);
      });
    };
    forward(child.stdout!, 1);
    forward(child.stderr!, 2);
  }
}

/** The server side of one WebSocket connection (RFC 6455): unfragmented sends, masked client frames. */
class WsServerConnection extends EventEmitter {
  private buffer: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private closeSent = false;

  constructor(private readonly socket: Socket, head: Buffer) {
    super();
    socket.on('data', (data: Buffer) => this.receive(data));
    socket.on('close', () => this.emit('close'));
    socket.on('error', () => socket.destroy());
    if (head.length > 0) this.receive(head);
  }

  /** Sends one frame; false when the socket buffer is full. */
  send(opcode: number, payload: Buffer): boolean {
    if (this.socket.destroyed || this.closeSent) return true;
    const length = payload.length;
    const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    if (length < 126) header[1] = length;
    else if (length < 65536) {
      header[1] = 126;
      header.writeUInt16BE(length, 2);
    } else {
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    return this.socket.write(Buffer.concat([header, payload]));
  }

  close(code: number): void {
    if (this.closeSent) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.send(0x8, payload);
    this.closeSent = true;
    setTimeout(() => this.socket.destroy(), 1000).unref(); // if the client never answers
  }

  private receive(data: Buffer): void {
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) return;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (b[1]! & 0x80) !== 0;
      const mask = masked ? b.subarray(offset, offset + 4) : undefined;
      if (masked) offset += 4;
      if (b.length < offset + length) return;
      const payload = Buffer.from(b.subarray(offset, offset + length));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      this.buffer = b.subarray(offset + length);
      this.frame(b[0]! & 0x80, b[0]! & 0x0f, payload);
    }
  }

  private frame(fin: number, opcode: number, payload: Buffer): void {
    if (opcode === 0x8) {
      this.close(payload.length >= 2 ? payload.readUInt16BE(0) : 1000);
      this.socket.end();
    } else if (opcode === 0x9) {
      this.send(0xa, payload);
    } else if (opcode === 0x0 || opcode === 0x1 || opcode === 0x2) {
      this.fragments.push(payload);
      if (!fin) return;
      const message = Buffer.concat(this.fragments);
      this.fragments = [];
      this.emit('message', message);
    }
  }
}

/** A one-day certificate for 127.0.0.1 (its own CA). */
function selfSignedCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fake-kube-api-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=fake-kube-api', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function status(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function send(res: ServerResponse, code: number, body: object): void {
  const json = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
