/** A Redis reply of alternating names and values (a stream entry's fields, an XINFO record) as an object. */
export function fieldMap(flat: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** The field holding the JSON message in every entry the bus writes. */
export const MESSAGE_FIELD = 'm';
