/**
 * The transform-task corpus through POST /v1/transforms/preview on the running services: a real token, the
 * gateway's offline planner, the previews stream, an etl-agent's policy check and its sandbox under gVisor.
 * Prints `corpus: N/M exact, K refused with clause, W silently wrong`; fails on any silently wrong task or below
 * 90% exact. The preview's own rate limit (60 per identity per minute) is respected: tasks go round-robin over
 * three read identities, and a 429 waits out its retry-after.
 */
import { bearer, liveClient, token as realToken } from '@aoetl/testing';
import { runCorpus } from '@aoetl/testing';

jest.setTimeout(600_000);

const call = liveClient();
const IDENTITIES = ['reader', 'alice', 'bob'];
let n = 0;

test('the corpus through the preview API: ≥ 90% exact, the rest refused with the clause, 0 silently wrong', async () => {
  const report = await runCorpus(async (body) => {
    const identity = IDENTITIES[n++ % IDENTITIES.length]!;
    for (;;) {
      const res = await call('POST', '/v1/transforms/preview', { authorization: bearer(realToken(identity)), body });
      if (res.status !== 429) return { status: res.status, body: res.json() };
      await new Promise((r) => setTimeout(r, (Number(res.headers['retry-after'] ?? '5') + 1) * 1000));
    }
  });
  process.stdout.write(`${report.text}\n`);
  expect(report.wrong).toEqual([]);
  expect(report.exact / report.solvable).toBeGreaterThanOrEqual(0.9);
});
