import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Argument, Command, Option } from 'commander';
import { Api } from './api';
import { completionScript } from './completion';
import { DEFAULTS, resolveSettings, useColor, type GlobalOptions, type Settings } from './config';
import { CliError, EXIT } from './errors';
import { discover, pollDeviceToken, startDeviceAuthorization, clientCredentials } from './oidc';
import { render, type TableOptions } from './output';
import { jsonOrThrow } from './http';
import { currentLogin, readClientSecret, toStored } from './session';
import { parseJsonLines, readPipelineFile } from './spec-file';
import { jwtClaims, TokenStore, type StoredLogin } from './tokens';
import { assertRunId, getRun, watchRuns, worstOutcome, type RunRecord } from './watch';

/** Where a command writes; a test can swap the streams. */
export interface Io {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  env: Record<string, string | undefined>;
  /** set by a command that wants a non-zero exit without an error line */
  exitCode: number;
}

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

interface Pipeline {
  id: string;
  name: string;
  version: number;
  [key: string]: unknown;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function positiveInt(value: string, name: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(value)) throw new CliError(`${name} must be a positive integer (got "${value}")`, EXIT.usage);
  return Number(value);
}

/** Every item of a paged list, up to `max`. */
async function allPages<T>(api: Api, path: string, what: string, query: Record<string, string | number | undefined> = {}, max = 1000): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.call<Page<T>>('GET', path, what, { query: { ...query, limit: Math.min(100, max - items.length), cursor } });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && items.length < max);
  return items.slice(0, max);
}

async function findPipeline(api: Api, ref: string): Promise<Pipeline | undefined> {
  if (UUID.test(ref)) {
    const res = await api.raw('GET', `/v1/pipelines/${ref}`, `get pipeline ${ref}`);
    if (res.status === 404) return undefined;
    return jsonOrThrow<Pipeline>(res, `get pipeline ${ref}`);
  }
  const all = await allPages<Pipeline>(api, '/v1/pipelines', 'list pipelines', {}, 10_000);
  return all.find((p) => p.name === ref);
}

/** A pipeline by id or name; unknown → exit code 5 with one line. */
async function pipelineByRef(api: Api, ref: string): Promise<Pipeline> {
  const found = await findPipeline(api, ref);
  if (!found) throw new CliError(`pipeline "${ref}" not found (no pipeline with that id or name in your tenant)`, EXIT.notFound);
  return found;
}

const PIPELINE_COLUMNS = ['id', 'name', 'version', { key: 'spec.source.table', header: 'source' }, { key: 'spec.target.table', header: 'target' }, { key: 'spec.target.mode', header: 'mode' }, 'createdAt'];
const RUN_COLUMNS = ['id', 'pipelineId', 'status', 'pipelineVersion', 'chunks', 'rowsIn', 'rowsOut', { key: 'error.message', header: 'error' }, 'createdAt'];
const APPROVAL_COLUMNS = ['runId', 'pipelineId', 'state', 'pipelineVersion', 'submittedBy', 'decidedBy', 'requestedAt'];

export function buildProgram(io: Io, version: string): Command {
  const program = new Command('aoetl');
  let settingsCache: Settings | undefined;
  const settings = (): Settings => {
    if (!settingsCache) {
      try {
        const opts = program.opts<GlobalOptions>();
        settingsCache = resolveSettings(opts, io.env);
        // Without --api-url or AOETL_API_URL, a profile talks to the gateway it logged in for.
        if (!opts.apiUrl && !io.env.AOETL_API_URL) {
          const stored = storedLogin(settingsCache);
          if (stored) settingsCache = { ...settingsCache, apiUrl: stored.apiUrl };
        }
      } catch (err) {
        throw new CliError((err as Error).message, EXIT.usage);
      }
    }
    return settingsCache;
  };
  const api = () => new Api(settings());
  const color = () => useColor(io.out, io.env, program.opts<GlobalOptions>().color !== false);
  const print = (value: unknown, opts: TableOptions = {}): void => {
    io.out.write(render(value, settings().output, { color: color(), ...opts }));
  };
  const printText = (value: unknown, text: string): void => {
    io.out.write(settings().output === 'table' ? text : render(value, settings().output));
  };

  const sub = (parent: Command, name: string, description: string, example: string) =>
    parent.command(name).description(description).addHelpText('after', `\nExample:\n  $ ${example}\n`);
  const group = (name: string, description: string, example: string) => sub(program, name, description, example);

  program
    .description('The aoetl command line: pipelines, previews, runs, approvals and the audit ledger over the public v1 API')
    .version(version, '-V, --version')
    .addOption(new Option('-o, --output <format>', 'table | json | yaml (env AOETL_OUTPUT)').choices(['table', 'json', 'yaml']))
    .option('--api-url <url>', `gateway URL (env AOETL_API_URL; default ${DEFAULTS.apiUrl})`)
    .option('--issuer <url>', `OIDC issuer for login (env AOETL_ISSUER; default ${DEFAULTS.issuer})`)
    .option('-p, --profile <name>', 'credentials profile (env AOETL_PROFILE; default "default")')
    .option('--no-color', 'no colours (also off without a terminal or with NO_COLOR)')
    .option('--debug', 'print stack traces of unexpected errors')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExample:\n  $ aoetl login --client-credentials && aoetl pipelines list -o json\n\nExit codes: see packages/cli/README.md\n');

  // --- login / logout / whoami ---
  sub(program, 'login', 'Log in: the device flow for people, or --client-credentials for automation', 'AOETL_CLIENT_ID=alice AOETL_CLIENT_SECRET=… aoetl login --client-credentials')
    .option('--client-credentials', 'client credentials grant: id from AOETL_CLIENT_ID (or --client-id), secret from AOETL_CLIENT_SECRET or --secret-file')
    .option('--client-id <id>', 'the client id (default: AOETL_CLIENT_ID; device flow: aoetl-cli)')
    .option('--secret-file <file>', 'read the client secret from this file (never pass a secret as a flag)')
    .action(async (opts: { clientCredentials?: boolean; clientId?: string; secretFile?: string }) => {
      const s = settings();
      const discovery = await discover(s.issuer);
      const store = new TokenStore(s.configDir);
      if (opts.clientCredentials) {
        const id = opts.clientId ?? io.env.AOETL_CLIENT_ID;
        if (!id) throw new CliError('no client id: set AOETL_CLIENT_ID or pass --client-id <id>', EXIT.usage);
        const secret = readClientSecret(opts.secretFile, io.env);
        const token = await clientCredentials(discovery, { id, secret }, s);
        const secretFile = opts.secretFile ? resolve(opts.secretFile) : undefined;
        store.put(s.profile, toStored({ grant: 'client_credentials', issuer: s.issuer, apiUrl: s.apiUrl, clientId: id, ...(secretFile ? { secretFile } : {}) }, token));
      } else {
        const clientId = opts.clientId ?? io.env.AOETL_DEVICE_CLIENT_ID ?? DEFAULTS.deviceClientId;
        const auth = await startDeviceAuthorization(discovery, clientId, s);
        io.err.write(
          `To log in, open ${auth.verification_uri_complete ?? auth.verification_uri}\nand confirm the code ${auth.user_code} (it expires in ${Math.round(auth.expires_in / 60)} min).\n`,
        );
        const token = await pollDeviceToken(discovery, clientId, auth, s.resource);
        store.put(s.profile, toStored({ grant: 'device_code', issuer: s.issuer, apiUrl: s.apiUrl, clientId }, token));
      }
      const claims = jwtClaims(store.get(s.profile)!.accessToken);
      const who = typeof claims.sub === 'string' ? claims.sub : typeof claims.client_id === 'string' ? claims.client_id : '?';
      const tenant = typeof claims.tenant === 'string' ? claims.tenant : '?';
      io.err.write(`logged in as ${who} (tenant ${tenant}); credentials in ${store.file}\n`);
    });

  sub(program, 'logout', 'Forget the stored tokens of the profile', 'aoetl logout --profile ci').action(() => {
    const s = settings();
    const store = new TokenStore(s.configDir);
    io.err.write(store.remove(s.profile) ? `logged out (profile ${s.profile})\n` : `not logged in (profile ${s.profile})\n`);
  });

  sub(program, 'whoami', 'Who the stored token says you are: identity, tenant, roles', 'aoetl whoami -o json').action(async () => {
    const login = await currentLogin(settings());
    const c = jwtClaims(login.accessToken);
    const roles = Array.isArray(c.roles) ? (c.roles as string[]) : [];
    print({
      identity: c.sub ?? c.client_id,
      tenant: c.tenant ?? null,
      roles,
      scope: c.scope ?? null,
      issuer: c.iss ?? login.issuer,
      expiresAt: typeof c.exp === 'number' ? new Date(c.exp * 1000).toISOString() : null,
      profile: settings().profile,
    });
  });

  // --- connections ---
  const connections = group('connections', 'Database connections of your tenant', 'aoetl connections list');
  sub(connections, 'list', 'List connections', 'aoetl connections list --limit 20')
    .option('--limit <n>', 'at most this many', '100')
    .action(async (opts: { limit: string }) => {
      print(await allPages(api(), '/v1/connections', 'list connections', {}, positiveInt(opts.limit, '--limit')), {
        columns: ['name', 'kind', 'host', 'port', 'database', 'vaultRole'],
      });
    });
  sub(connections, 'get', 'Show one connection', 'aoetl connections get warehouse')
    .argument('<name>')
    .action(async (name: string) => print(await api().call('GET', `/v1/connections/${encodeURIComponent(name)}`, `get connection ${name}`)));

  // --- pipelines ---
  const pipelines = group('pipelines', 'Pipelines: create from YAML/JSON, versions, diff, rollback', 'aoetl pipelines create -f examples/customers.pipeline.yaml');
  sub(pipelines, 'list', 'List pipelines, newest first', 'aoetl pipelines list --limit 5 -o yaml')
    .option('--limit <n>', 'at most this many', '100')
    .action(async (opts: { limit: string }) => {
      print(await allPages(api(), '/v1/pipelines', 'list pipelines', {}, positiveInt(opts.limit, '--limit')), { columns: PIPELINE_COLUMNS });
    });
  sub(pipelines, 'get', 'Show a pipeline (by id or name)', 'aoetl pipelines get demo-customers -o yaml')
    .argument('<pipeline>', 'id or name')
    .action(async (ref: string) => print(await pipelineByRef(api(), ref)));
  sub(pipelines, 'create', 'Create a pipeline from a YAML or JSON file (checked locally first)', 'aoetl pipelines create -f examples/customers.pipeline.yaml')
    .requiredOption('-f, --file <file>', 'pipeline spec (YAML or JSON); transform.file may name a Python file')
    .action(async (opts: { file: string }) => {
      const spec = readPipelineFile(opts.file);
      print(await api().call('POST', '/v1/pipelines', `create pipeline ${spec.name}`, { body: spec }), { columns: PIPELINE_COLUMNS });
    });
  sub(pipelines, 'apply', 'Create the pipeline, or update it (a new version) when one of that name exists', 'aoetl pipelines apply -f examples/customers.pipeline.yaml')
    .requiredOption('-f, --file <file>', 'pipeline spec (YAML or JSON)')
    .action(async (opts: { file: string }) => {
      const spec = readPipelineFile(opts.file);
      const a = api();
      const existing = await findPipeline(a, spec.name);
      const result = existing
        ? await a.call('PUT', `/v1/pipelines/${existing.id}`, `update pipeline ${spec.name}`, { body: spec })
        : await a.call('POST', '/v1/pipelines', `create pipeline ${spec.name}`, { body: spec });
      print(result, { columns: PIPELINE_COLUMNS });
    });
  sub(pipelines, 'delete', 'Delete a pipeline', 'aoetl pipelines delete demo-customers')
    .argument('<pipeline>', 'id or name')
    .action(async (ref: string) => {
      const a = api();
      const p = await pipelineByRef(a, ref);
      const res = await a.raw('DELETE', `/v1/pipelines/${p.id}`, `delete pipeline ${ref}`);
      if (!res.ok) await jsonOrThrow(res, `delete pipeline ${ref}`);
      io.err.write(`pipeline ${p.name} (${p.id}) deleted\n`);
    });
  sub(pipelines, 'versions', 'List the versions of a pipeline', 'aoetl pipelines versions demo-customers')
    .argument('<pipeline>', 'id or name')
    .action(async (ref: string) => {
      const a = api();
      const p = await pipelineByRef(a, ref);
      print(await allPages(a, `/v1/pipelines/${p.id}/versions`, `list versions of ${ref}`), {
        columns: ['version', 'artifactSha256', 'approvalRequired', 'rollbackOf', 'createdBy', 'createdAt'],
      });
    });
  sub(pipelines, 'diff', 'What changed between two versions (spec and code)', 'aoetl pipelines diff demo-customers 1 2')
    .argument('<pipeline>', 'id or name')
    .argument('<from>', 'version')
    .argument('<to>', 'version')
    .action(async (ref: string, from: string, to: string) => {
      const a = api();
      const p = await pipelineByRef(a, ref);
      const diff = await a.call<{ spec: unknown; code: unknown }>(
        'GET',
        `/v1/pipelines/${p.id}/versions/${positiveInt(from, 'from')}/diff/${positiveInt(to, 'to')}`,
        `diff ${ref} ${from}..${to}`,
      );
      printText(diff, `# spec\n${textOf(diff.spec)}\n# code\n${textOf(diff.code)}\n`);
    });
  sub(pipelines, 'rollback', "Restore an earlier version's spec and code as a new version", 'aoetl pipelines rollback demo-customers 1')
    .argument('<pipeline>', 'id or name')
    .argument('<version>', 'the version to restore')
    .action(async (ref: string, v: string) => {
      const a = api();
      const p = await pipelineByRef(a, ref);
      print(await a.call('POST', `/v1/pipelines/${p.id}/rollback`, `roll back ${ref}`, { body: { version: positiveInt(v, 'version') } }), { columns: PIPELINE_COLUMNS });
    });

  // --- transform preview ---
  const transform = group('transform', 'Plan and try a transform on sample rows', 'aoetl transform preview --instruction "lower-case the emails" --sample rows.jsonl');
  sub(transform, 'preview', 'Plan code from an instruction (or take code) and run it on sample rows', 'aoetl transform preview --instruction "keep rows with an email" --sample rows.jsonl')
    .option('--instruction <text>', 'what the transform should do, in words')
    .option('--code-file <file>', 'Python code defining transform(rows), instead of an instruction')
    .requiredOption('--sample <file>', 'sample rows, one JSON object per line (JSON Lines)')
    .option('--columns <list>', 'comma-separated column names of the sample (default: keys of the rows)')
    .action(async (opts: { instruction?: string; codeFile?: string; sample: string; columns?: string }) => {
      if (Boolean(opts.instruction) === Boolean(opts.codeFile)) throw new CliError('give exactly one of --instruction or --code-file', EXIT.usage);
      const rows = parseJsonLines(readText(opts.sample), opts.sample);
      const body = {
        ...(opts.instruction ? { instruction: opts.instruction } : { code: readText(opts.codeFile!) }),
        sample: { rows, ...(opts.columns ? { columns: opts.columns.split(',').map((c) => c.trim()) } : {}) },
      };
      const result = await api().call<PreviewResult>('POST', '/v1/transforms/preview', 'preview transform', { body });
      if (settings().output !== 'table') return print(result);
      io.out.write(`# code (${result.planner}, ${result.language}, sha256 ${result.sha256})\n${result.code.trimEnd()}\n\n# explanation\n${result.explanation}\n\n# output (${result.rows.length} rows)\n`);
      io.out.write(render(result.rows, 'table', { color: color(), ...(result.outputColumns?.length ? { columns: result.outputColumns } : {}) }));
    });

  // --- runs ---
  const runs = group('runs', 'Start, follow, list and cancel runs', 'aoetl runs start demo-customers --wait');
  sub(runs, 'list', 'List runs, newest first', 'aoetl runs list --status failed')
    .option('--pipeline <pipeline>', 'only runs of this pipeline (id or name)')
    .option('--status <status>', 'only runs in this status')
    .option('--limit <n>', 'at most this many', '20')
    .action(async (opts: { pipeline?: string; status?: string; limit: string }) => {
      const a = api();
      const pipelineId = opts.pipeline ? (await pipelineByRef(a, opts.pipeline)).id : undefined;
      print(await allPages(a, '/v1/runs', 'list runs', { pipelineId, status: opts.status }, positiveInt(opts.limit, '--limit')), { columns: RUN_COLUMNS });
    });
  sub(runs, 'get', 'Show a run with its status history', 'aoetl runs get 0b9c…')
    .argument('<run>', 'run id')
    .action(async (id: string) => print(await getRun(api(), assertRunId(id))));
  sub(runs, 'start', "Start a run of the pipeline's current version; --wait follows it to the end", 'aoetl runs start demo-customers --wait --output json')
    .argument('<pipeline>', 'id or name')
    .option('--wait', 'follow the run (progress bar on a terminal) and exit 0 only if it succeeded')
    .option('--idempotency-key <key>', 'the same key for the same pipeline returns the same run')
    .action(async (ref: string, opts: { wait?: boolean; idempotencyKey?: string }) => {
      const a = api();
      const p = await pipelineByRef(a, ref);
      const accepted = await a.call<{ runId: string; status: string; created: boolean }>('POST', `/v1/pipelines/${p.id}/runs`, `start a run of ${ref}`, {
        headers: opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {},
      });
      if (!opts.wait) return print(accepted);
      io.err.write(`run ${accepted.runId} ${accepted.created ? 'started' : 'found by its idempotency key'} (pipeline ${p.name} v${p.version})\n`);
      await finish(await watchRuns(a, [accepted.runId], { tty: Boolean(io.err.isTTY), stream: io.err }));
    });
  sub(runs, 'watch', 'Follow runs live until they finish; exit 0 only if all succeeded', 'aoetl runs watch 0b9c…')
    .argument('<run...>', 'run ids')
    .action(async (ids: string[]) => {
      await finish(await watchRuns(api(), ids.map(assertRunId), { tty: Boolean(io.err.isTTY), stream: io.err }));
    });
  sub(runs, 'cancel', 'Cancel a run that has not started loading', 'aoetl runs cancel 0b9c…')
    .argument('<run>', 'run id')
    .action(async (id: string) => print(await api().call('POST', `/v1/runs/${assertRunId(id)}/cancel`, `cancel run ${id}`), { columns: RUN_COLUMNS }));

  const finish = async (done: RunRecord[]) => {
    print(done.length === 1 ? done[0] : done, { columns: RUN_COLUMNS });
    const outcome = worstOutcome(done);
    for (const m of outcome.messages) io.err.write(`aoetl: ${m}\n`);
    io.exitCode = outcome.exitCode;
  };

  // --- approvals ---
  const approvals = group('approvals', 'Four-eyes approvals of runs', 'aoetl approvals list');
  sub(approvals, 'list', 'List approvals (pending by default)', 'aoetl approvals list --state all')
    .option('--state <state>', 'pending | approved | rejected | withdrawn | all', 'pending')
    .action(async (opts: { state: string }) => {
      print(await allPages(api(), '/v1/approvals', 'list approvals', { state: opts.state === 'all' ? undefined : opts.state }), { columns: APPROVAL_COLUMNS });
    });
  for (const decision of ['approve', 'reject'] as const) {
    sub(approvals, decision, `${decision === 'approve' ? 'Approve' : 'Reject'} a run waiting for approval`, `aoetl approvals ${decision} 0b9c… --comment "checked the diff"`)
      .argument('<run>', 'run id')
      .option('--comment <text>', 'why')
      .action(async (id: string, opts: { comment?: string }) => {
        const body = { decision, ...(opts.comment ? { comment: opts.comment } : {}) };
        print(await api().call('POST', `/v1/runs/${assertRunId(id)}/approval`, `${decision} run ${id}`, { body }), { columns: APPROVAL_COLUMNS });
      });
  }

  // --- artifacts ---
  const artifacts = group('artifacts', 'Versioned transform artifacts', 'aoetl artifacts diff demo-customers 2');
  sub(artifacts, 'diff', "What changed in a pipeline's artifact version (against the previous one, or --against)", 'aoetl artifacts diff demo-customers 2 --against 1')
    .argument('<pipeline>', 'id or name')
    .argument('<version>')
    .option('--against <version>', 'base version (default: version - 1)')
    .action(async (ref: string, v: string, opts: { against?: string }) => {
      const a = api();
      const p = await pipelineByRef(a, ref);
      const diff = await a.call<{ unified: string; additions: number; deletions: number }>(
        'GET',
        `/v1/pipelines/${p.id}/artifacts/${positiveInt(v, 'version')}/diff`,
        `diff artifact ${ref} v${v}`,
        { query: { against: opts.against ? positiveInt(opts.against, '--against') : undefined } },
      );
      printText(diff, `${diff.unified.trimEnd()}\n# +${diff.additions} -${diff.deletions}\n`);
    });

  // --- audit ---
  const audit = group('audit', "The tenant's hash-chained audit ledger", 'aoetl audit verify');
  sub(audit, 'list', 'List audit entries, newest first', 'aoetl audit list --action pipeline.create --limit 5')
    .option('--limit <n>', 'at most this many', '20')
    .option('--action <action>')
    .option('--object <object>')
    .option('--actor <actor>')
    .option('--since <time>', 'RFC 3339 timestamp')
    .action(async (opts: { limit: string; action?: string; object?: string; actor?: string; since?: string }) => {
      const { limit, ...filters } = opts;
      print(await allPages(api(), '/v1/audit', 'list audit entries', filters, positiveInt(limit, '--limit')), {
        columns: ['seq', 'at', 'actor', 'action', 'object', 'hash'],
      });
    });
  sub(audit, 'verify', 'Recompute the chain and check it against the signed checkpoints; exit 12 when broken', 'aoetl audit verify').action(async () => {
    const result = await api().call<{ ok: boolean; entries: number; firstBad?: { seq: number; reason: string } }>('GET', '/v1/audit/verify', 'verify the audit ledger');
    print(result);
    if (!result.ok) {
      io.err.write(`aoetl: the audit chain is broken at seq ${result.firstBad?.seq ?? '?'}: ${result.firstBad?.reason ?? 'no reason given'}\n`);
      io.exitCode = EXIT.auditBroken;
    }
  });

  // --- completion ---
  sub(program, 'completion', 'Print a shell completion script', 'aoetl completion bash > ~/.local/share/bash-completion/completions/aoetl')
    .addArgument(new Argument('<shell>').choices(['bash', 'zsh', 'fish']))
    .action((shell: 'bash' | 'zsh' | 'fish') => {
      io.out.write(completionScript(program, shell));
    });

  return program;
}

/** The profile's stored login, if readable (a problem with the file is reported by the command that needs it). */
function storedLogin(settings: Settings): StoredLogin | undefined {
  try {
    return new TokenStore(settings.configDir).get(settings.profile);
  } catch {
    return undefined;
  }
}

interface PreviewResult {
  planner: string;
  language: string;
  code: string;
  sha256: string;
  explanation: string;
  outputColumns?: string[];
  rows: Record<string, unknown>[];
}

/** A diff part: its unified text (`{additions, deletions, unified}`), or the value as JSON. */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value.trimEnd();
  const unified = (value as { unified?: unknown } | null)?.unified;
  if (typeof unified === 'string') return unified.trimEnd() || '(no change)';
  return JSON.stringify(value, null, 2);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.usage);
  }
}
