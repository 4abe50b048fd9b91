// Test-only helpers: the local stack's sandbox image and Docker engine, and inputs for sandbox runs.
// (The stack's env files and the output Collector come from @aoetl/testing.)
import { PassThrough, Readable } from 'node:stream';
import { stackEnv } from '@aoetl/testing';
import Docker from 'dockerode';

/** The local stack's sandbox image and Docker engine (from .state/env/etl-agent.env). */
export function dockerSandbox(): { image: string; socketPath: string; docker: Docker } {
  const env = stackEnv('etl-agent');
  const image = env.AOETL_SANDBOX_IMAGE;
  if (!image) throw new Error('AOETL_SANDBOX_IMAGE is missing from etl-agent.env: run deploy/local/sandbox-image.sh start');
  const socketPath = env.AOETL_DOCKER_SOCKET ?? '/var/run/docker.sock';
  return { image, socketPath, docker: new Docker({ socketPath }) };
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
