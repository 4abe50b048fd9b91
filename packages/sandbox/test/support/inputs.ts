// Test-only inputs for sandbox runs (the stack's settings and the output Collector come from @aoetl/testing).
import { PassThrough, Readable } from 'node:stream';

/** COPY text input from rows of already-encoded fields. */
export function copyInput(rows: string[][]): Readable {
  return Readable.from(rows.map((r) => r.join('\t') + '\n'));
}

/** `count` generated rows `i \t name-i \t i.5`, produced lazily in chunks. */
export function generatedInput(count: number, chunkRows = 5_000): Readable {
  let next = 0;
  return new Readable({
    read() {
      if (next >= count) return void this.push(null);
      const end = Math.min(count, next + chunkRows);
      let chunk = '';
      for (let i = next; i < end; i++) chunk += `${i}\tname-${i}\t${i}.5\n`;
      next = end;
      this.push(chunk);
    },
  });
}

export function emptyInput(): Readable {
  const input = new PassThrough();
  input.end();
  return input;
}
