import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import { requirePermission } from '@aoetl/auth';
import { InputError, UpstreamError, type ColumnSpec } from '@aoetl/contracts';
import { sha256Hex } from '@aoetl/store';
import type { RouteOptions } from '../app.js';
import { planFromInstruction } from '@aoetl/codegen';
import { planOrRefuse } from '../planning.js';
import { PreviewBody, PreviewResponse, problems } from '../schemas.js';

type SampleValue = string | number | boolean | null;
type Sample = Static<typeof PreviewBody>['sample'];

/** Requests per identity per minute to the preview (each runs a sandbox). */
export const DEFAULT_PREVIEW_PER_MINUTE = 60;

function typeOf(values: SampleValue[]): string {
  const present = values.filter((v) => v !== null);
  if (present.length > 0 && present.every((v) => typeof v === 'boolean')) return 'boolean';
  if (present.length > 0 && present.every((v) => typeof v === 'number')) return present.every((v) => Number.isSafeInteger(v)) ? 'bigint' : 'numeric';
  return 'text';
}

/** The sample's columns: as given (every row key must be one), or the rows' keys in first-seen order with inferred types. */
export function sampleColumns(sample: Sample): ColumnSpec[] {
  if (sample.columns) {
    const names = new Set(sample.columns.map((c) => c.name));
    if (names.size !== sample.columns.length) throw new InputError('body/sample/columns: column names repeat', { details: [{ field: 'body/sample/columns', message: 'column names repeat' }] });
    sample.rows.forEach((row, i) => {
      const unknown = Object.keys(row).find((k) => !names.has(k));
      if (unknown !== undefined) {
        const message = `row ${i} has a column '${unknown}' that sample.columns does not name`;
        throw new InputError(`body/sample/rows/${i}: ${message}`, { details: [{ field: `body/sample/rows/${i}`, message }] });
      }
    });
    return sample.columns;
  }
  const names: string[] = [];
  for (const row of sample.rows) for (const k of Object.keys(row)) if (!names.includes(k)) names.push(k);
  return names.map((name) => ({ name, type: typeOf(sample.rows.map((r) => r[name] ?? null)) }));
}

/** A JSON value as the text PostgreSQL would give the sandbox: booleans t/f, numbers as written. */
const asText = (v: SampleValue | undefined): string | null => (v === null || v === undefined ? null : typeof v === 'boolean' ? (v ? 't' : 'f') : String(v));

export const transformRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { previews, previewPerMinute, modelPlanner, defaultPlanner, plannerMetrics }) => {
  app.post(
    '/v1/transforms/preview',
    {
      preHandler: requirePermission('read'),
      bodyLimit: 2 * 1024 * 1024,
      config: { rateLimit: { max: previewPerMinute, timeWindow: 60_000 } },
      schema: {
        operationId: 'previewTransform',
        summary: 'Plan an instruction (or take code) and run it on a sample in the sandbox, without writing anything',
        description:
          'Exactly one of `instruction` and `code`. The output rows are what a run would produce from these rows: the ' +
          'same policy check and sandbox, run by an etl-agent. An instruction the planner cannot fully map answers 422 ' +
          'naming the clause. Code the policy refuses, or that fails on the sample, answers 400 naming `code`.',
        tags: ['transforms'],
        body: PreviewBody,
        response: { 200: PreviewResponse, ...problems(413, 415, 422) },
      },
    },
    async (request) => {
      const { instruction, code: given, sample, planner: asked } = request.body;
      if ((instruction === undefined) === (given === undefined)) {
        const message = 'give exactly one of instruction and code';
        throw new InputError(`body/instruction: ${message}`, { details: [{ field: 'body/instruction', message }] });
      }
      const columns = sampleColumns(sample);
      // Checked when a sandbox is needed: an instruction the planner refuses is answered 422 without one.
      const sandbox = () => {
        if (!previews) throw new UpstreamError('previews are not available on this gateway (no bus)', { retryable: false });
        return previews;
      };
      const tenant = request.principal!.tenant;
      const ctx = { requestId: request.id };
      const fallbacks: { from: string; to: string; code: string; reason: string }[] = [];
      const fallBack = (code: string, reason: string) => {
        fallbacks.push({ from: 'llm', to: 'rules', code, reason });
        plannerMetrics?.fallback('llm', 'rules', code);
      };

      if (instruction !== undefined && (asked ?? defaultPlanner) === 'llm') {
        if (!modelPlanner) fallBack('llm_not_configured', 'no model planner is configured');
        else {
          const offline = planFromInstruction(instruction, columns);
          const textRows = sample.rows.map((r) => Object.fromEntries(columns.map((c) => [c.name, asText(r[c.name])])));
          const outcome = await modelPlanner.plan({
            tenant,
            requestedBy: request.principal!.subject,
            requestId: request.id,
            instruction,
            columns,
            rows: textRows,
            target: {},
            ...(offline.ok ? { expectedColumns: offline.outputColumns.map((c) => c.name) } : {}),
          });
          if (outcome.status === 'rejected') {
            const message = `${outcome.reason.code}: ${outcome.reason.message}`;
            throw new InputError(`body/instruction: ${message}`, { details: [{ field: 'body/instruction', message }] });
          }
          if (outcome.status === 'fallback') fallBack(outcome.reason.code, outcome.reason.message);
          else {
            const { plan } = outcome;
            // a fresh plan was dry-run on the masked sample already; a cached one runs on it now
            let output = outcome.output;
            if (!output) {
              const rows = outcome.maskedRows.map((r) => columns.map((c) => r[c.name] ?? null));
              const ran = await sandbox().run({ tenant, code: plan.code, sha256: plan.sha256, columns, rows }, ctx);
              if (!ran.ok) throw new UpstreamError(`the cached model plan did not run on the sample: ${ran.error.code}: ${ran.error.message}`, { retryable: false });
              output = ran;
            }
            const types = new Map(plan.outputColumns.map((c) => [c.name, c.type]));
            request.log.info({ sha256: plan.sha256, cached: outcome.cached, rowsOut: output.rows.length, planner: 'llm' }, 'transform previewed');
            return {
              planner: 'llm' as const,
              language: 'python' as const,
              code: plan.code,
              sha256: plan.sha256,
              explanation: plan.explanation,
              outputColumns: output.columns.map((name) => ({ name, type: types.get(name) ?? null })),
              rows: output.rows.map((r) => Object.fromEntries(output.columns.map((c, i) => [c, r[i] ?? null]))),
              provenance: { ...plan.provenance, cached: outcome.cached },
            };
          }
        }
      }

      const planned = instruction === undefined ? null : planOrRefuse(instruction, columns, 'body/instruction');
      const code = planned?.code ?? given!;
      const sha256 = sha256Hex(code);
      const rows = sample.rows.map((r) => columns.map((c) => asText(r[c.name])));
      const result = await sandbox().run({ tenant, code, sha256, columns, rows }, ctx);
      if (!result.ok) {
        const field = planned ? 'body/instruction' : 'body/code';
        if (planned) throw new UpstreamError(`the planned code did not run on the sample: ${result.error.code}: ${result.error.message}`, { retryable: false });
        const message = `${result.error.code}: ${result.error.message}`;
        throw new InputError(`${field}: ${message}`, { details: [{ field, message }] });
      }
      const types = new Map((planned?.outputColumns ?? []).map((c) => [c.name, c.type]));
      request.log.info({ sha256, rowsIn: rows.length, rowsOut: result.rows.length, planner: planned ? 'rules' : 'none' }, 'transform previewed');
      return {
        planner: planned ? ('rules' as const) : ('none' as const),
        language: 'python' as const,
        code,
        sha256,
        explanation: planned?.explanation ?? '',
        outputColumns: result.columns.map((name) => ({ name, type: types.get(name) ?? null })),
        rows: result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c, r[i] ?? null]))),
        ...(fallbacks.length > 0 ? { fallbacks } : {}),
      };
    },
  );
};
