import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { ConfigError, classifyError } from '@aoetl/contracts';
import { costUsd, estimateTokens, type BudgetLedger, type ModelPrice, type PriceTable } from './budget.js';
import { LlmAnswerError, LlmRequestError } from './errors.js';
import { PLAN_SCHEMA_NAME, parsePlan, planJsonSchema } from './plan.js';
import { retryAfterMs, withRetries } from './retry.js';
import type { LlmClient, LlmParameters, PlanRequest, PlanResult, TokenUsage } from './types.js';

export interface OpenAiLlmOptions {
  /** Any OpenAI-compatible endpoint, e.g. `http://127.0.0.1:9450/v1`. */
  baseUrl: string;
  apiKey: string;
  model: string;
  /** Must hold `model` (a local model is priced at 0). */
  prices: PriceTable;
  /** Checked before and charged after every request. */
  budget: BudgetLedger;
  /** Fixed sampling seed (default 1). Temperature is always 0. */
  seed?: number;
  /** Max tokens of one answer (default 4096). */
  maxTokens?: number;
  /** Per request (default 60 s). */
  timeoutMs?: number;
  /** Requests at most per plan (default 3). */
  maxAttempts?: number;
  /** Backoff base without Retry-After (default 500 ms). */
  retryBaseMs?: number;
  /** Longest wait between attempts, Retry-After included (default 30 s). */
  maxRetryDelayMs?: number;
  /** Largest answer content accepted, in bytes (default 96 KiB). The response body may be 16 KiB more. */
  maxAnswerBytes?: number;
}

const BODY_OVERHEAD_BYTES = 16 * 1024;

/** Thrown inside fetch when a response body passes the cap; the SDK wraps it as a connection error's cause. */
class BodyTooLarge extends Error {}

/** A fetch that reads the whole body, and stops reading (and fails) past `maxBytes`. */
function cappedFetch(maxBytes: number): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init).catch((err: unknown) => {
      // Keep an abort recognisable as one (the SDK's timeout) even when fetch lives in another realm (jest's vm).
      const name = (err as { name?: unknown } | null)?.name;
      if (name === 'AbortError') throw Object.assign(new Error('the request was aborted', { cause: err }), { name });
      throw err;
    });
    if (!response.body) return response;
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
      if (done || !value) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new BodyTooLarge(`response body over ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
    return new Response(Buffer.concat(chunks), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** The SDK's failure as a typed error: what a retry may fix, and what Retry-After said. */
function requestError(err: unknown): Error {
  if (err instanceof APIConnectionTimeoutError) return new LlmRequestError('the model endpoint timed out', { reason: 'timeout', cause: err });
  if (err instanceof APIConnectionError) {
    if (err.cause instanceof BodyTooLarge) return new LlmAnswerError(`the model answer is too large: ${err.cause.message}`, { reason: 'too_large' });
    return new LlmRequestError('the model endpoint is unreachable', { reason: 'connection', cause: err });
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    const headers = err.headers as { get(name: string): string | null } | undefined;
    const after = headers ? retryAfterMs((name) => headers.get(name)) : undefined;
    const reason = status === 429 ? 'rate_limited' : status >= 500 || status === 408 ? 'server_error' : 'rejected';
    return new LlmRequestError(`the model endpoint answered HTTP ${status}`, { reason, status, retryAfterMs: after, cause: err });
  }
  return classifyError(err);
}

/**
 * `LlmClient` over the `openai` SDK (the only module that imports it), against any OpenAI-compatible endpoint:
 * temperature 0, a fixed seed, strict JSON-schema output, a max-token cap, a timeout per request, bounded retries
 * honouring Retry-After (the SDK's own retries are off), a cap on the answer's size, token usage and cost, and
 * the tenant's token budget checked before and charged after.
 */
export class OpenAiLlmClient implements LlmClient {
  readonly model: string;
  readonly parameters: LlmParameters;
  private readonly sdk: OpenAI;
  private readonly price: ModelPrice;
  private readonly maxAnswerBytes: number;

  constructor(private readonly options: OpenAiLlmOptions) {
    const problems: string[] = [];
    if (!/^https?:\/\/\S+$/.test(options.baseUrl)) problems.push('baseUrl must be an http(s) URL');
    if (!options.apiKey) problems.push('apiKey is empty');
    if (!options.model) problems.push('model is empty');
    const price = options.prices[options.model];
    if (!price) problems.push(`the price table has no entry for model ${options.model}`);
    if (problems.length > 0 || !price) throw new ConfigError(`invalid model client options: ${problems.join('; ')}`);
    this.model = options.model;
    this.price = price;
    this.parameters = { temperature: 0, seed: options.seed ?? 1, maxTokens: options.maxTokens ?? 4096 };
    this.maxAnswerBytes = options.maxAnswerBytes ?? 96 * 1024;
    this.sdk = new OpenAI({
      baseURL: options.baseUrl,
      apiKey: options.apiKey,
      timeout: options.timeoutMs ?? 60_000,
      maxRetries: 0,
      fetch: cappedFetch(this.maxAnswerBytes + BODY_OVERHEAD_BYTES),
    });
  }

  async plan(request: PlanRequest): Promise<PlanResult> {
    const { budget } = this.options;
    const promptText = request.messages.map((m) => m.content).join('\n');
    await budget.check(request.tenant, estimateTokens(promptText) + this.parameters.maxTokens);
    const started = performance.now();
    const { value, attempts } = await withRetries(
      {
        maxAttempts: this.options.maxAttempts ?? 3,
        baseDelayMs: this.options.retryBaseMs ?? 500,
        maxDelayMs: this.options.maxRetryDelayMs ?? 30_000,
      },
      () =>
        this.sdk.chat.completions
          .create({
            model: this.model,
            messages: request.messages,
            temperature: this.parameters.temperature,
            seed: this.parameters.seed,
            max_tokens: this.parameters.maxTokens,
            response_format: {
              type: 'json_schema',
              json_schema: { name: PLAN_SCHEMA_NAME, strict: true, schema: planJsonSchema() },
            },
          })
          .catch((err: unknown) => {
            throw requestError(err);
          }),
    );
    const latencyMs = performance.now() - started;

    const choice = value.choices[0];
    const content = choice?.message.content ?? '';
    const usage: TokenUsage = value.usage
      ? { promptTokens: value.usage.prompt_tokens, completionTokens: value.usage.completion_tokens, totalTokens: value.usage.total_tokens }
      : (() => {
          const promptTokens = estimateTokens(promptText);
          const completionTokens = estimateTokens(content);
          return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, estimated: true };
        })();
    const cost = costUsd(usage, this.price);
    await budget.charge(request.tenant, { model: this.model, usage, costUsd: cost });

    if (!choice) throw new LlmAnswerError('the model answered with no choice', { reason: 'empty', usage });
    if (choice.message.refusal) throw new LlmAnswerError('the model refused to answer', { reason: 'refused', usage });
    if (Buffer.byteLength(content) > this.maxAnswerBytes) {
      throw new LlmAnswerError(`the model answer is over ${this.maxAnswerBytes} bytes`, { reason: 'too_large', usage });
    }
    if (choice.finish_reason === 'length') {
      throw new LlmAnswerError(`the model answer was cut at the ${this.parameters.maxTokens}-token cap`, { reason: 'truncated', usage });
    }
    if (!content) throw new LlmAnswerError('the model answered with empty content', { reason: 'empty', usage });
    const plan = parsePlan(content, usage);
    return { plan, model: this.model, parameters: this.parameters, usage, costUsd: cost, attempts, latencyMs };
  }
}
