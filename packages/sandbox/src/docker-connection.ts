import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import { SandboxConfigError } from './errors.js';

/** Default port of a Docker daemon over TLS. */
export const DOCKER_TLS_PORT = 2376;

/**
 * A remote Docker daemon over TLS with a client certificate (AOETL_DOCKER_HOST, AOETL_DOCKER_CA_FILE,
 * AOETL_DOCKER_CERT_FILE, AOETL_DOCKER_KEY_FILE). Plain TCP is never used: `tcp://` means TLS, as
 * it does for the docker CLI with --tlsverify.
 */
export interface DockerRemoteTls {
  /** tcp://host:port or https://host:port (port default 2376). */
  host: string;
  /** PEM file of the CA that signed the daemon's certificate. */
  caFile: string;
  /** PEM file of the client certificate the daemon requires. */
  certFile: string;
  /** PEM file of the client key. */
  keyFile: string;
}

function readPem(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SandboxConfigError(`Docker TLS ${what} file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
    });
  }
}

/** dockerode connection options: the remote daemon over TLS when `remote` is given, else the unix socket. */
export function dockerConnectionOptions(connection: { socketPath: string; remote?: DockerRemoteTls }): Docker.DockerOptions {
  const { remote } = connection;
  if (!remote) return { socketPath: connection.socketPath };
  let url: URL;
  try {
    url = new URL(remote.host);
  } catch {
    throw new SandboxConfigError(`Docker host "${remote.host}" is not a URL (expected tcp://host:port or https://host:port)`);
  }
  if (url.protocol !== 'tcp:' && url.protocol !== 'https:') {
    throw new SandboxConfigError(`Docker host "${remote.host}" must be tcp:// or https:// (TLS with a client certificate)`);
  }
  if (!url.hostname) throw new SandboxConfigError(`Docker host "${remote.host}" has no host name`);
  return {
    protocol: 'https',
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : DOCKER_TLS_PORT,
    ca: readPem('CA', remote.caFile),
    cert: readPem('client certificate', remote.certFile),
    key: readPem('client key', remote.keyFile),
  };
}
