import { ConfigError } from '@aoetl/contracts';
import { OpenAiLlmClient } from './openai-client';
import { InMemoryBudgetLedger } from './testing';

const valid = {
  baseUrl: 'http://127.0.0.1:9450/v1',
  apiKey: 'k',
  model: 'aoetl-local',
  prices: { 'aoetl-local': { inputPerMillion: 0, outputPerMillion: 0 } },
  budget: new InMemoryBudgetLedger(),
};

describe('OpenAiLlmClient options', () => {
  it('names every bad option in one ConfigError', () => {
    expect(() => new OpenAiLlmClient({ ...valid, baseUrl: 'ftp://x', apiKey: '', model: 'gpt-x' })).toThrow(
      new ConfigError(
        'invalid model client options: baseUrl must be an http(s) URL; apiKey is empty; the price table has no entry for model gpt-x',
      ),
    );
  });

  it('fixes temperature 0 and takes the seed and token cap it is given', () => {
    expect(new OpenAiLlmClient({ ...valid, seed: 7, maxTokens: 512 }).parameters).toEqual({ temperature: 0, seed: 7, maxTokens: 512 });
    expect(new OpenAiLlmClient(valid).parameters).toEqual({ temperature: 0, seed: 1, maxTokens: 4096 });
  });
});
