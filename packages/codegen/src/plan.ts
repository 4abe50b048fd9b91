import { InputError } from '@aoetl/contracts';
import { compilePlan } from './compile.js';
import { explainOperation } from './explain.js';
import { parseInstruction } from './parse.js';
import type { Column, PlanResult } from './types.js';

/** Bumped whenever the same instruction could plan or compile differently. */
export const PLANNER_VERSION = 'rules-1';
export const MAX_INSTRUCTION_CHARS = 4096;

/**
 * The offline planner: parses a plain-language cleaning instruction into a typed plan and compiles
 * it to Python for the sandbox harness. Deterministic (no network, no clock, no randomness). A
 * clause it cannot map, or a column that does not exist, is refused naming the clause, never guessed.
 * Throws InputError only for invalid input columns (duplicate or empty names): a caller's bug.
 */
export function planFromInstruction(text: string, inputColumns: readonly Column[]): PlanResult {
  const names = inputColumns.map((c) => c.name);
  if (names.some((n) => typeof n !== 'string' || n === '') || new Set(names).size !== names.length)
    throw new InputError('input columns must have unique, non-empty names', { details: [{ field: 'columns', message: 'duplicate or empty column name' }] });
  if (typeof text !== 'string' || text.trim() === '') return { ok: false, clause: '', reason: 'the instruction is empty' };
  if (text.length > MAX_INSTRUCTION_CHARS) return { ok: false, clause: text.slice(0, 80), reason: `the instruction is longer than ${MAX_INSTRUCTION_CHARS} characters` };
  const parsed = parseInstruction(text, inputColumns);
  if (!parsed.ok) return parsed;
  const { code, outputColumns } = compilePlan(parsed.plan, inputColumns);
  return {
    ok: true,
    plan: parsed.plan,
    code,
    language: 'python',
    explanation: parsed.plan.map(explainOperation).join(' '),
    outputColumns,
    plannerVersion: PLANNER_VERSION,
  };
}
