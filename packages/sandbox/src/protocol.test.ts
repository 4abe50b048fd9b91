import {
  encodeInputHeader,
  HeaderSplitter,
  parseHarnessError,
  parseOutputHeader,
  ProtocolViolation,
  RowCounter,
  TailBuffer,
} from './protocol.js';

describe('encodeInputHeader', () => {
  it('writes exactly one JSON line, even for multi-line code', () => {
    const line = encodeInputHeader({ code: 'def transform(rows):\n\treturn rows\n', columns: ['a'], types: ['int4'] });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({ code: 'def transform(rows):\n\treturn rows\n', columns: ['a'], types: ['int4'] });
  });

  it('adds the expected output columns only when given', () => {
    const line = encodeInputHeader({ code: 'c', columns: [], types: [], outputColumns: ['x', 'y'] });
    expect(JSON.parse(line)).toEqual({ code: 'c', columns: [], types: [], output_columns: ['x', 'y'] });
    expect(encodeInputHeader({ code: 'c', columns: [], types: [] })).not.toContain('output_columns');
  });

  it('rejects columns and types of different lengths', () => {
    expect(() => encodeInputHeader({ code: '', columns: ['a', 'b'], types: ['int4'] })).toThrow(RangeError);
  });
});

describe('parseOutputHeader', () => {
  it('returns the column list', () => {
    expect(parseOutputHeader('{"columns": ["a", "b"]}')).toEqual(['a', 'b']);
    expect(parseOutputHeader('{"columns": []}')).toEqual([]);
  });

  it('checks the columns against the expected ones', () => {
    expect(parseOutputHeader('{"columns": ["a", "b"]}', ['a', 'b'])).toEqual(['a', 'b']);
    expect(() => parseOutputHeader('{"columns": ["b", "a"]}', ['a', 'b'])).toThrow(/differ from the expected/);
    expect(() => parseOutputHeader('{"columns": ["a"]}', ['a', 'b'])).toThrow(ProtocolViolation);
  });

  it.each(['not json', '{"cols": []}', '{"columns": [1]}', 'null', '[]'])('rejects %s', (line) => {
    expect(() => parseOutputHeader(line)).toThrow(ProtocolViolation);
  });
});

describe('parseHarnessError', () => {
  const error = { type: 'ValueError', message: 'boom', traceback: 'Traceback ...' };

  it('finds the last error line after user output', () => {
    const stderr = `debug output\n{"error": {"type": "Old", "message": "x"}}\nmore\n\n${JSON.stringify({ error })}\n`;
    expect(parseHarnessError(stderr)).toEqual(error);
  });

  it('defaults a missing traceback to an empty string', () => {
    expect(parseHarnessError('{"error": {"type": "InvalidOutput", "message": "m"}}')).toEqual({
      type: 'InvalidOutput',
      message: 'm',
      traceback: '',
    });
  });

  it('skips truncated or malformed lines', () => {
    expect(parseHarnessError('{"error": {"type": "A", "message": "ok"}}\n{"error": {"type": "B", "mess')).toEqual({
      type: 'A',
      message: 'ok',
      traceback: '',
    });
    expect(parseHarnessError('{"error": {"type": 3}}')).toBeUndefined();
    expect(parseHarnessError('')).toBeUndefined();
  });
});

describe('HeaderSplitter', () => {
  it('splits the header from rows across chunk boundaries', () => {
    const splitter = new HeaderSplitter();
    expect(splitter.push(Buffer.from('{"colu'))).toHaveLength(0);
    expect(splitter.header).toBeUndefined();
    expect(splitter.push(Buffer.from('mns": ["a"]}\n1\n2')).toString()).toBe('1\n2');
    expect(splitter.header).toBe('{"columns": ["a"]}');
    expect(splitter.push(Buffer.from('\n3\n')).toString()).toBe('\n3\n');
  });

  it('handles a header split in the middle of a multi-byte character', () => {
    const bytes = Buffer.from('{"columns": ["é"]}\nx');
    const splitter = new HeaderSplitter();
    const cut = bytes.indexOf(0xa9); // second byte of é
    splitter.push(bytes.subarray(0, cut));
    expect(splitter.push(bytes.subarray(cut)).toString()).toBe('x');
    expect(parseOutputHeader(splitter.header!)).toEqual(['é']);
  });

  it('gives up on an endless header', () => {
    const splitter = new HeaderSplitter(10);
    splitter.push(Buffer.from('0123456789'));
    expect(() => splitter.push(Buffer.from('a'))).toThrow(ProtocolViolation);
  });
});

describe('TailBuffer', () => {
  it('keeps only the last bytes', () => {
    const tail = new TailBuffer(5);
    tail.push(Buffer.from('abc'));
    tail.push(Buffer.from('defg'));
    expect(tail.toString()).toBe('cdefg');
    tail.push(Buffer.from('0123456789'));
    expect(tail.toString()).toBe('56789');
  });
});

describe('RowCounter', () => {
  it('counts newline-terminated rows', () => {
    const counter = new RowCounter();
    expect(counter.rows).toBe(0);
    counter.push(Buffer.from('1\ta\n2\t'));
    counter.push('b\n');
    counter.push(Buffer.alloc(0));
    expect(counter.rows).toBe(2);
  });

  it('counts a last row without newline', () => {
    const counter = new RowCounter();
    counter.push(Buffer.from('1\n2'));
    expect(counter.rows).toBe(2);
  });
});
