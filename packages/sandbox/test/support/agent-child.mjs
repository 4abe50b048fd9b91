// A stand-in etl-agent for the "SIGKILL of the agent mid-run" battery case: it starts a driver
// (from the built package), prints its owner id, and runs a transform that sleeps until killed.
//   node agent-child.mjs <image> <runtime> <socketPath> <runId>
import { PassThrough, Writable } from 'node:stream';
import { DockerSandboxDriver } from '../../dist/index.js';

const [image, runtime, socketPath, runId] = process.argv.slice(2);
// A test stand-in: runc allowed, and the harness's second layer off (time is not an allowed module).
const driver = await DockerSandboxDriver.create({ image, runtime, allowRunc: true, harnessGuard: false, socketPath, reapIntervalMs: 0 });
process.stdout.write(JSON.stringify({ ownerId: driver.ownerId, pid: process.pid }) + '\n');
const input = new PassThrough();
input.end();
await driver.run({
  runId,
  code: 'import time\ndef transform(rows):\n    time.sleep(3600)\n    return rows\n',
  columns: [],
  types: [],
  input,
  output: new Writable({ write: (_chunk, _encoding, done) => done() }),
  limits: { timeoutMs: 600_000 },
});
process.stdout.write('finished\n'); // never reached: the test kills this process first
