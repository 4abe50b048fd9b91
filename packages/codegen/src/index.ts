export type { AggregateFunction, CastTarget, Column, CompareOperator, Condition, DatePart, KeepRule, Literal, MaskStyle, Measure, Operation, PlanOk, PlanRefusal, PlanResult } from './types.js';
export { MAX_INSTRUCTION_CHARS, PLANNER_VERSION, planFromInstruction } from './plan.js';
export { compilePlan, type CompiledPlan } from './compile.js';
export { explainOperation } from './explain.js';
export { outputSchema } from './schema.js';
export { quoteIdent, sqlFromPlan } from './sql.js';
