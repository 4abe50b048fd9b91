// Test-only helpers: the local stack's settings (.state/env/etl-agent.env) and stream utilities.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import Docker from 'dockerode';

const REPO_ROOT = resolve(__dirname, '../../../..');

/** KEY=VALUE pairs of .state/env/etl-agent.env (written by deploy/local/docker.sh and sandbox-image.sh). */
export function readAgentEnv(): Record<string, string> {
  const stateDir = process.env.AOETL_STATE_DIR ?? join(REPO_ROOT, '.state');
  const file = join(stateDir, 'env', 'etl-agent.env');
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: run deploy/local/docker.sh start && deploy/local/sandbox-image.sh start`);
  }
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('#')) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/** The local stack's sandbox image and Docker engine (from .state/env/etl-agent.env). */
export function dockerSandbox(): { image: string; socketPath: string; docker: Docker } {
  const env = readAgentEnv();
  const image = env.AOETL_SANDBOX_IMAGE;
  if (!image) throw new Error('AOETL_SANDBOX_IMAGE is missing from etl-agent.env: run deploy/local/sandbox-image.sh start');
  const socketPath = env.AOETL_DOCKER_SOCKET ?? '/var/run/docker.sock';
  return { image, socketPath, docker: new Docker({ socketPath }) };
}

/** A Writable that keeps everything written to it. */
export class Collector extends Writable {
  private readonly chunks: Buffer[] = [];

  constructor(private readonly delayMs = 0) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    if (this.delayMs > 0) setTimeout(done, this.delayMs);
    else done();
  }

  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  lines(): string[] {
    const text = this.text();
    return text === '' ? [] : text.replace(/\n$/, '').split('\n');
  }
}

/** COPY text input from rows of already-encoded fields. */
export function copyInput(rows: string[][]): Readable {
  return Readable.from(rows.map((r) => r.join('\t') + '\n'));
}

/** `count` generated rows `i \t name-i \t i.5`, produced lazily in chunks. */
export function generatedInput(count: number, chunkRows = 5_000): Readable {
  let next = 0;
  return new Readable({
    read() {
      if (next >= count) return void this.push(null);
      const end = Math.min(count, next + chunkRows);
      let chunk = '';
      for (let i = next; i < end; i++) chunk += `${i}\tname-${i}\t${i}.5\n`;
      next = end;
      this.push(chunk);
    },
  });
}

export function emptyInput(): Readable {
  const input = new PassThrough();
  input.end();
  return input;
}
