// Warm pool, reaper and result events of the Docker driver, against the real engine (runc and runsc).
// Needs: deploy/local/docker.sh start && deploy/local/sandbox-image.sh start
import { hostname } from 'node:os';
import {
  DockerSandboxDriver,
  OWNER_LABEL,
  POOL_LABEL,
  type SandboxEvent,
  type SandboxResult,
  type SandboxRunRequest,
  type SandboxRuntime,
} from '../../src/index.js';
import { Collector } from '@aoetl/testing';
import { copyInput, emptyInput, dockerSandbox } from '../support/env.js';

jest.setTimeout(60_000);

const { image, socketPath, docker } = dockerSandbox();
const py = (...lines: string[]): string => lines.join('\n') + '\n';

function expectKind<K extends SandboxResult['kind']>(result: SandboxResult, kind: K): Extract<SandboxResult, { kind: K }> {
  if (result.kind !== kind) throw new Error(`expected ${kind}, got ${JSON.stringify(result)}`);
  return result as Extract<SandboxResult, { kind: K }>;
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const ownedBy = (driver: DockerSandboxDriver, extra: string[] = []) =>
  docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${driver.ownerId}`, ...extra] } });

describe.each<SandboxRuntime>(['runc', 'runsc'])('warm pool with %s', (runtime) => {
  let driver: DockerSandboxDriver;
  const events: SandboxEvent[] = [];
  let n = 0;
  const request = (overrides: Partial<SandboxRunRequest> & Pick<SandboxRunRequest, 'code'>): SandboxRunRequest => ({
    runId: `pool-${runtime}-${process.pid}-${++n}`,
    columns: [],
    types: [],
    input: emptyInput(),
    output: new Collector(),
    ...overrides,
  });

  beforeAll(async () => {
    driver = await DockerSandboxDriver.create({
      image,
      runtime,
      allowRunc: true,
      harnessGuard: false, // the tests below probe the container itself (files left behind, /tmp)
      seccomp: 'docker-default',
      socketPath,
      pool: { size: 2 },
      limits: { memoryBytes: 128 * 1024 * 1024 },
      reapIntervalMs: 0,
      onEvent: (e) => events.push(e),
    });
    await driver.warmUp();
  });
  afterAll(() => driver.close());

  it('keeps containers started, labelled and blocked on stdin', async () => {
    expect(driver.poolAvailable).toBe(2);
    const waiting = await ownedBy(driver, [`${POOL_LABEL}=1`]);
    expect(waiting).toHaveLength(2);
    for (const c of waiting) {
      expect(c.State).toBe('running');
      expect(c.Labels['aoetl.run']).toBe('warm-pool');
    }
  });

  it('serves a run from the pool, uses each container once, destroys it and refills', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      await driver.warmUp();
      const output = new Collector();
      const result = await driver.run(
        request({
          code: py('def transform(rows):', '    return [{"id": r["id"] + 1} for r in rows]'),
          columns: ['id'],
          types: ['int4'],
          input: copyInput([['1'], ['2']]),
          output,
        }),
      );
      const ok = expectKind(result, 'ok');
      expect(output.lines()).toEqual(['2', '3']);
      expect(ok.warm).toBe(true);
      expect(ok.startMs).toBeLessThan(50); // no container start on the run's path
      expect(ids.has(ok.containerId)).toBe(false);
      ids.add(ok.containerId);
      await expect(docker.getContainer(ok.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
    }
    await driver.warmUp();
    expect(driver.poolAvailable).toBe(2);
    const waiting = (await ownedBy(driver, [`${POOL_LABEL}=1`])).map((c) => c.Id);
    expect(waiting.some((id) => ids.has(id))).toBe(false);
  });

  it('leaves nothing of one run to the next one', async () => {
    await driver.warmUp();
    const write = await driver.run(
      request({ code: py('def transform(rows):', '    open("/tmp/left-behind", "w").write("x")', '    return [{"done": 1}]') }),
    );
    expect(expectKind(write, 'ok').warm).toBe(true);
    await driver.warmUp();
    const output = new Collector();
    const read = await driver.run(
      request({ code: py('import os', 'def transform(rows):', '    return [{"tmp": ",".join(os.listdir("/tmp")) or "empty"}]'), output }),
    );
    expect(expectKind(read, 'ok').warm).toBe(true);
    expect(output.lines()).toEqual(['empty']);
  });

  it('starts a container of its own for other container limits, and the pool stays', async () => {
    await driver.warmUp();
    const result = await driver.run(request({ code: py('def transform(rows):', '    return []'), limits: { memoryBytes: 96 * 1024 * 1024 } }));
    const ok = expectKind(result, 'ok');
    expect(ok.warm).toBe(false);
    expect(ok.startMs).toBeGreaterThan(0);
    expect(driver.poolAvailable).toBe(2);
    // timeout and output cap are the driver's, not the container's: those runs still come from the pool
    const warm = await driver.run(request({ code: py('def transform(rows):', '    return []'), limits: { timeoutMs: 7_000, maxOutputBytes: 10 } }));
    expect(expectKind(warm, 'ok').warm).toBe(true);
  });

  it('enforces the limits on pool containers (timeout from when the run starts, oom)', async () => {
    await driver.warmUp();
    const started = Date.now();
    const timeout = await driver.run(request({ code: py('import time', 'def transform(rows):', '    time.sleep(60)'), limits: { timeoutMs: 2_000 } }));
    expect(expectKind(timeout, 'timeout').warm).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
    await driver.warmUp();
    const oom = await driver.run(request({ code: py('def transform(rows):', '    x = []', '    while True:', '        x.append(bytearray(4 << 20))') }));
    // Under runsc the engine does not always record the cgroup's OOM event (State.OOMKilled stays false): the run
    // then ends as a SIGKILL (exit 137) that the driver did not send. Either way the memory limit stopped it.
    if (runtime === 'runsc' && oom.kind === 'exit_error') expect(oom.exitCode).toBe(137);
    else expect(expectKind(oom, 'oom').warm).toBe(true);
  });

  it('emits one event per run, flagging the security-relevant ones', () => {
    const mine = events.filter((e) => e.runId.startsWith(`pool-${runtime}-`));
    expect(mine).toHaveLength(n);
    expect(mine.filter((e) => e.code === 'ok').every((e) => !e.violation)).toBe(true);
    expect(mine.find((e) => e.code === 'timeout')).toMatchObject({ violation: true, warm: true, runtime, detail: 'killed after 2000 ms' });
    expect(mine.find((e) => e.code === 'oom' || (runtime === 'runsc' && e.code === 'exit_error'))).toMatchObject({ violation: true, warm: true });
  });

  it("another agent's reaper leaves a live agent's pool alone", async () => {
    await driver.warmUp();
    const before = (await ownedBy(driver, [`${POOL_LABEL}=1`])).map((c) => c.Id).sort();
    const other = await DockerSandboxDriver.create({ image, runtime, allowRunc: true, socketPath, reapIntervalMs: 0 });
    await other.close();
    expect((await ownedBy(driver, [`${POOL_LABEL}=1`])).map((c) => c.Id).sort()).toEqual(before);
  });
});

describe('warm pool lifecycle and the periodic reaper', () => {
  it('close() removes the waiting containers', async () => {
    const driver = await DockerSandboxDriver.create({ image, runtime: 'runc', allowRunc: true, socketPath, pool: { size: 2 }, reapIntervalMs: 0 });
    await driver.warmUp();
    expect(await ownedBy(driver)).toHaveLength(2);
    await driver.close();
    expect(await ownedBy(driver)).toEqual([]);
    await expect(driver.run({ runId: 'x', code: '', columns: [], types: [], input: emptyInput(), output: new Collector() })).rejects.toThrow(/closed/);
  });

  it('replaces a waiting container that died', async () => {
    const driver = await DockerSandboxDriver.create({ image, runtime: 'runc', allowRunc: true, socketPath, pool: { size: 1, maxIdleMs: 4_000 }, reapIntervalMs: 0 });
    try {
      await driver.warmUp();
      const [victim] = await ownedBy(driver, [`${POOL_LABEL}=1`]);
      await docker.getContainer(victim!.Id).kill();
      // Once the pool has seen the death (its wait on the container returns), the dead one is never handed out:
      // this run gets a fresh container.
      await eventually(async () => (await ownedBy(driver, [`${POOL_LABEL}=1`])).some((c) => c.Id !== victim!.Id && c.State === 'running'));
      const result = await driver.run({
        runId: 'pool-dead-victim',
        code: py('def transform(rows):', '    return [{"ok": 1}]'),
        columns: [],
        types: [],
        input: emptyInput(),
        output: new Collector(),
      });
      expect(expectKind(result, 'ok').containerId).not.toBe(victim!.Id);
      await eventually(async () => (await ownedBy(driver, [`${POOL_LABEL}=1`])).some((c) => c.Id !== victim!.Id && c.State === 'running'));
      await eventually(async () => docker.getContainer(victim!.Id).inspect().then(() => false, () => true), 10_000);
    } finally {
      await driver.close();
    }
  });

  it('reaps orphans periodically, not only at start', async () => {
    const driver = await DockerSandboxDriver.create({ image, runtime: 'runc', allowRunc: true, socketPath, reapIntervalMs: 500 });
    try {
      // a container that an agent of this host, gone since, created and never started
      const orphan = await docker.createContainer({
        Image: image,
        Labels: {
          'aoetl.sandbox': '1',
          'aoetl.run': 'periodic-orphan',
          [OWNER_LABEL]: 'crashed-agent',
          'aoetl.owner.host': hostname(),
          'aoetl.owner.pid': String(2 ** 22 + 7),
          'aoetl.owner.start': '1',
        },
      });
      await eventually(() => orphan.inspect().then(() => false, () => true), 10_000);
    } finally {
      await driver.close();
    }
  });
});
