import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { InputError } from './errors.js';

const cache = new WeakMap<TSchema, TypeCheck<TSchema>>();

function compiled<T extends TSchema>(schema: T): TypeCheck<T> {
  let check = cache.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    cache.set(schema, check);
  }
  return check as TypeCheck<T>;
}

/** Checks `value` against `schema`; throws an InputError naming every bad field. */
export function parse<T extends TSchema>(schema: T, value: unknown, what = 'value'): Static<T> {
  const check = compiled(schema);
  if (check.Check(value)) return value;
  const details = [...check.Errors(value)].slice(0, 20).map((e) => ({ field: e.path || '/', message: e.message }));
  const first = details[0];
  throw new InputError(`invalid ${what}: ${first ? `${first.field} ${first.message}` : 'does not match its schema'}`, {
    details,
  });
}

export function isValid<T extends TSchema>(schema: T, value: unknown): value is Static<T> {
  return compiled(schema).Check(value);
}
