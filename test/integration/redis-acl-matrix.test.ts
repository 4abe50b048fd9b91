/**
 * The negative ACL matrix: every service × every stream × every command it must not use is refused by Redis.
 * Permissions are checked with ACL DRYRUN (as the admin, without running anything), and a sample of forbidden
 * commands is also really attempted as each service's user over mTLS.
 */
import { stackEnv, stackRedis } from '@aoetl/testing';

const STREAMS = ['aoetl:requests', 'aoetl:tasks', 'aoetl:events', 'aoetl:deadletter'] as const;
type Stream = (typeof STREAMS)[number];

/** Each command, with arguments that make it well-formed, on stream `s`. */
const STREAM_COMMANDS: Record<string, (s: string) => string[]> = {
  XADD: (s) => ['XADD', s, '*', 'm', 'x'],
  XREADGROUP: (s) => ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', s, '>'],
  XACK: (s) => ['XACK', s, 'g', '0-1'],
  XCLAIM: (s) => ['XCLAIM', s, 'g', 'c', '0', '0-1'],
  XAUTOCLAIM: (s) => ['XAUTOCLAIM', s, 'g', 'c', '0', '0'],
  XPENDING: (s) => ['XPENDING', s, 'g'],
  XRANGE: (s) => ['XRANGE', s, '-', '+'],
  XREVRANGE: (s) => ['XREVRANGE', s, '+', '-'],
  XREAD: (s) => ['XREAD', 'STREAMS', s, '0'],
  XLEN: (s) => ['XLEN', s],
  'XINFO|STREAM': (s) => ['XINFO', 'STREAM', s],
  'XINFO|GROUPS': (s) => ['XINFO', 'GROUPS', s],
  XTRIM: (s) => ['XTRIM', s, 'MAXLEN', '1000'],
  XDEL: (s) => ['XDEL', s, '0-1'],
  'XGROUP|CREATE': (s) => ['XGROUP', 'CREATE', s, 'g', '$'],
  'XGROUP|DESTROY': (s) => ['XGROUP', 'DESTROY', s, 'g'],
  XSETID: (s) => ['XSETID', s, '0-1'],
  DEL: (s) => ['DEL', s],
  GET: (s) => ['GET', s],
  SET: (s) => ['SET', s, 'x'],
};
const GLOBAL_COMMANDS = [['KEYS', '*'], ['FLUSHALL'], ['CONFIG', 'GET', '*'], ['ACL', 'LIST'], ['INFO'], ['EVAL', 'return 1', '0'], ['SCAN', '0'], ['MONITOR'], ['SUBSCRIBE', 'x']];

const CONSUME = ['XREADGROUP', 'XACK', 'XCLAIM', 'XAUTOCLAIM', 'XPENDING'];
/** The intended permissions: anything not listed is forbidden. */
const ALLOWED: Record<string, Partial<Record<Stream, string[]>>> = {
  'agent-gateway': { 'aoetl:requests': ['XADD'] },
  orchestrator: {
    'aoetl:requests': CONSUME,
    'aoetl:tasks': ['XADD', 'XPENDING', 'XINFO|GROUPS', 'XLEN'],
    'aoetl:events': ['XADD', ...CONSUME],
    'aoetl:deadletter': ['XADD'],
  },
  'etl-agent': { 'aoetl:tasks': CONSUME, 'aoetl:events': ['XADD'], 'aoetl:deadletter': ['XADD'] },
  // A second agent identity (deploy/local/redis.sh): the same rights under its own user.
  'etl-agent-2': { 'aoetl:tasks': CONSUME, 'aoetl:events': ['XADD'], 'aoetl:deadletter': ['XADD'] },
  // The monitor's quarantine: hands a quarantined agent's pending tasks back (its ACL and CLIENT KILL rights are
  // checked by the quarantine's own test; on the streams it has nothing else).
  'monitor-quarantine': { 'aoetl:tasks': ['XPENDING', 'XCLAIM'] },
  monitor: {
    // trims every stream; replays dead letters (admin route) onto their stream and removes them
    'aoetl:requests': ['XINFO|STREAM', 'XINFO|GROUPS', 'XLEN', 'XPENDING', 'XRANGE', 'XREVRANGE', 'XTRIM', 'XADD'],
    'aoetl:tasks': ['XINFO|STREAM', 'XINFO|GROUPS', 'XLEN', 'XPENDING', 'XRANGE', 'XREVRANGE', 'XTRIM', 'XADD'],
    'aoetl:events': [...CONSUME, 'XINFO|STREAM', 'XINFO|GROUPS', 'XLEN', 'XRANGE', 'XREVRANGE', 'XTRIM', 'XADD'],
    'aoetl:deadletter': ['XADD', 'XINFO|STREAM', 'XINFO|GROUPS', 'XLEN', 'XPENDING', 'XRANGE', 'XREVRANGE', 'XDEL'],
  },
};

const env = stackEnv('test');
const connect = (user: string, password: string) => stackRedis(user, password);
const admin = connect('admin', env.AOETL_REDIS_ADMIN_PASSWORD!);
afterAll(() => admin.disconnect());

async function dryrun(user: string, args: string[]): Promise<boolean> {
  const res = await admin.call('ACL', 'DRYRUN', user, ...args).catch((err: Error) => err.message);
  return res === 'OK';
}

describe.each(Object.keys(ALLOWED))('%s', (service) => {
  test('may use exactly its commands on its streams, and nothing else', async () => {
    const wrong: string[] = [];
    let refused = 0;
    for (const stream of STREAMS) {
      for (const [name, build] of Object.entries(STREAM_COMMANDS)) {
        const expected = (ALLOWED[service]![stream] ?? []).includes(name);
        const actual = await dryrun(service, build(stream));
        if (actual !== expected) wrong.push(`${name} ${stream}: ${actual ? 'allowed' : 'refused'}, expected ${expected ? 'allowed' : 'refused'}`);
        if (!actual) refused += 1;
      }
    }
    for (const args of GLOBAL_COMMANDS) {
      if (await dryrun(service, args)) wrong.push(`${args.join(' ')}: allowed`);
      else refused += 1;
    }
    expect(wrong).toEqual([]);
    const allowed = Object.values(ALLOWED[service]!).reduce((n, cmds) => n + cmds.length, 0);
    expect(refused).toBe(STREAMS.length * Object.keys(STREAM_COMMANDS).length - allowed + GLOBAL_COMMANDS.length);
  });

  test('forbidden commands really fail with NOPERM over its own mTLS connection', async () => {
    const key = `AOETL_REDIS_${service.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
    const client = connect(service, env[key]!);
    try {
      const forbidden = STREAMS.flatMap((s) =>
        ['XRANGE', 'XDEL', 'XGROUP|DESTROY', 'DEL', 'XADD'].filter((c) => !(ALLOWED[service]![s] ?? []).includes(c)).map((c) => STREAM_COMMANDS[c]!(s)),
      );
      for (const args of [...forbidden, ['KEYS', '*'], ['FLUSHALL']]) {
        await expect(client.call(args[0]!, ...args.slice(1))).rejects.toThrow(/NOPERM/);
      }
    } finally {
      client.disconnect();
    }
  });
});
