#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { useColor } from './config';
import { CliError, EXIT } from './errors';
import { buildProgram, type Io } from './program';

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function run(argv: string[], io: Omit<Io, 'exitCode'>): Promise<number> {
  const state: Io = { ...io, exitCode: 0 };
  const program = buildProgram(state, version());
  program.exitOverride();
  program.configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) });
  const debug = argv.includes('--debug') || io.env.AOETL_DEBUG === '1';
  const red = (s: string) => (useColor(io.err, io.env, !argv.includes('--no-color')) ? `\u001b[31m${s}\u001b[39m` : s);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version end here too (exit code 0); commander already printed its message
      return err.exitCode === 0 ? 0 : EXIT.usage;
    }
    if (err instanceof CliError) {
      io.err.write(`${red('aoetl:')} ${err.message}\n`);
      if (debug && err.stack) io.err.write(`${err.stack}\n`);
      return err.exitCode;
    }
    const e = err as Error;
    io.err.write(`${red('aoetl:')} unexpected error: ${e?.message ?? String(err)}${debug ? '' : ' (run with --debug for details)'}\n`);
    if (debug && e?.stack) io.err.write(`${e.stack}\n`);
    return EXIT.failure;
  }
}

if (require.main === module) {
  // a closed pipe (aoetl … | head) ends the output quietly
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  run(process.argv.slice(2), { out: process.stdout, err: process.stderr, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    () => {
      process.exitCode = EXIT.failure;
    },
  );
}
