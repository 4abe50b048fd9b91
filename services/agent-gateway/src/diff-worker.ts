/** Worker thread of DiffService: computes artifact diffs off the gateway's event loop. */
import { parentPort } from 'node:worker_threads';
import { unifiedDiff } from './diff.js';

export interface DiffRequest {
  id: number;
  fromName: string;
  toName: string;
  before: string;
  after: string;
}

parentPort?.on('message', (req: DiffRequest) => {
  try {
    parentPort!.postMessage({ id: req.id, diff: unifiedDiff(req.fromName, req.toName, req.before, req.after) });
  } catch (err) {
    parentPort!.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
  }
});
