"""aoetl sandbox harness: runs one user transform over PostgreSQL COPY text rows.

Run as `python3 -I -S /opt/aoetl/harness.py`; it blocks on stdin until the first line arrives.

stdin   line 1: JSON {"code": "<python source defining transform>", "columns": [...], "types": [...]}
        (optional "output_columns": [...]: the columns the caller expects, in its order)
        then COPY text rows (tab separated, \\N = NULL, backslash escapes), until EOF.
stdout  line 1: JSON {"columns": [...]}: output_columns if given, else OUTPUT_COLUMNS from the
        code, else the keys of the first output row; then the output rows in COPY text format,
        fields in that order (every row must have exactly those keys).
stderr  anything the user code prints; on failure, last line JSON
        {"error": {"type": ..., "message": ..., "traceback": ...}} and exit status 3.

Python 3.11 standard library only.
"""

import builtins
import datetime
import gc
import io
import json
import linecache
import operator
import os
import re
import sys
import traceback
from decimal import Decimal

EXIT_ERROR = 3
CODE_NAME = "<transform>"
MAX_TRACEBACK = 16_000
MAX_MESSAGE = 4_000
WRITE_BATCH = 20_000  # rows per write to stdout


class HarnessError(Exception):
    """A failure that is reported with its own type name instead of a Python one."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def report_error(kind, message, tb_text=""):
    """Write the structured error line to fd 2 and exit 3 (never returns)."""
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "..."
    if len(tb_text) > MAX_TRACEBACK:
        tb_text = "...\n" + tb_text[-MAX_TRACEBACK:]
    line = json.dumps({"error": {"type": kind, "message": message, "traceback": tb_text}})
    data = ("\n" + line + "\n").encode("utf-8", "replace")
    try:
        sys.stderr.flush()
    except BaseException:
        pass
    while data:
        try:
            data = data[os.write(2, data):]
        except OSError:
            break
    os._exit(EXIT_ERROR)


def report_exception(exc):
    tb = exc.__traceback__
    # Show only the frames of the user code, not the harness around it.
    while tb is not None and tb.tb_frame.f_code.co_filename != CODE_NAME:
        tb = tb.tb_next
    try:
        message = str(exc)
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:  # an exception whose __str__ fails
        message = text = f"<unprintable {type(exc).__name__}>"
    report_error(type(exc).__name__, message, text)


# ---------------------------------------------------------------- decoding COPY text

_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_CHAR_ESCAPE = re.compile(r"\\(.)", re.S)
_NUMERIC_ESCAPE = re.compile(r"\\(?:[0-7]|x[0-9A-Fa-f])")
_BYTE_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.S)
_SIMPLE_BYTES = {k.encode(): v.encode() for k, v in _SIMPLE_ESCAPES.items()}


def _char_sub(m):
    c = m.group(1)
    return _SIMPLE_ESCAPES.get(c, c)


def _byte_sub(m):
    octal, hexa, other = m.groups()
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hexa is not None:
        return bytes([int(hexa, 16)])
    return _SIMPLE_BYTES.get(other, other)


def unescape(field):
    """Undo COPY text escaping of one field (that contains a backslash)."""
    if _NUMERIC_ESCAPE.search(field):
        # \ooo and \xhh stand for bytes in the server encoding (UTF-8).
        return _BYTE_ESCAPE.sub(_byte_sub, field.encode("utf-8")).decode("utf-8", "replace")
    return _CHAR_ESCAPE.sub(_char_sub, field)


_BOOLS = {"t": True, "f": False, "true": True, "false": False}


def _to_bool(text):
    try:
        return _BOOLS[text]
    except KeyError:
        raise ValueError(f"invalid boolean {text!r}") from None


_CONVERTERS = {}
for _names, _conv in (
    (("int2", "int4", "int8", "smallint", "integer", "bigint", "int", "oid"), int),
    (("numeric", "decimal"), Decimal),
    (("float4", "float8", "real", "double precision", "float"), float),
    (("bool", "boolean"), _to_bool),
):
    for _name in _names:
        _CONVERTERS[_name] = _conv


def converter_for(type_name):
    """Python converter for a PostgreSQL type name, or None for str."""
    name = type_name.strip().lower()
    if name.startswith("pg_catalog."):
        name = name[len("pg_catalog."):]
    name = name.split("(", 1)[0].strip()  # numeric(12,2) -> numeric
    return _CONVERTERS.get(name)


def decode_field(conv, field):
    if field == "\\N":
        return None
    return conv(unescape(field) if "\\" in field else field)


def describe_bad_line(line, columns, convs):
    """Slow path for an error message: which field of a line does not decode."""
    for name, conv, field in zip(columns, convs, line.rstrip("\n").split("\t")):
        try:
            decode_field(conv, field)
        except (ValueError, ArithmeticError):
            return f"column {name!r}: invalid value {field[:100]!r}"
    return "invalid line"


def read_rows(lines, columns, types):
    """Decode COPY text lines (until EOF or a \\. line) into a list of dicts."""
    ncol = len(columns)
    convs = [converter_for(t) or str for t in types]  # str(s) is s: no copy for text
    call = operator.call
    rows = []
    append = rows.append
    lineno, line = 1, ""
    try:
        for lineno, line in enumerate(lines, 2):
            fields = line.rstrip("\n").split("\t")
            if "\\" in line:  # NULLs (\N), escaped characters or the end marker
                if fields == ["\\."]:
                    break
                values = [decode_field(conv, f) for conv, f in zip(convs, fields)]
            else:
                values = map(call, convs, fields)
            if len(fields) != ncol:
                raise HarnessError(
                    "InputError", f"input line {lineno}: expected {ncol} fields, got {len(fields)}"
                )
            append(dict(zip(columns, values)))
    except UnicodeDecodeError as exc:
        raise HarnessError("InputError", f"input after line {lineno - 1}: {exc}") from None
    except (ValueError, ArithmeticError):
        reason = describe_bad_line(line, columns, convs)
        raise HarnessError("InputError", f"input line {lineno}: {reason}") from None
    return rows


# ---------------------------------------------------------------- encoding COPY text

_ESCAPE_TABLE = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _enc_str(s):
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
        return s.translate(_ESCAPE_TABLE)
    return s


_INF = float("inf")


def _enc_float(v):
    if v != v:
        return "NaN"
    if v == _INF or v == -_INF:
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def _enc_json(v):
    return _enc_str(json.dumps(v, ensure_ascii=False, default=str))


_ENCODERS = {
    str: _enc_str,
    type(None): lambda v: "\\N",
    bool: lambda v: "t" if v else "f",
    int: int.__repr__,
    float: _enc_float,
    Decimal: Decimal.__str__,
    datetime.datetime: datetime.datetime.isoformat,
    datetime.date: datetime.date.isoformat,
    datetime.time: datetime.time.isoformat,
    bytes: lambda v: "\\\\x" + v.hex(),
    bytearray: lambda v: "\\\\x" + v.hex(),
    dict: _enc_json,
    list: _enc_json,
    tuple: _enc_json,
}


def encode_value(v):
    enc = _ENCODERS.get(type(v))
    if enc is not None:
        return enc(v)
    for base, enc in _ENCODERS.items():  # subclasses (IntEnum, str enums, ...)
        if base is not type(None) and isinstance(v, base):
            return enc(v)
    return _enc_str(str(v))


def output_columns(namespace, result, expected=None):
    declared = namespace.get("OUTPUT_COLUMNS")
    if declared is not None:
        if not isinstance(declared, (list, tuple)) or not all(isinstance(c, str) for c in declared):
            raise HarnessError("InvalidOutput", "OUTPUT_COLUMNS must be a list of column names (str)")
        if expected is not None and set(declared) != set(expected):
            raise HarnessError(
                "InvalidOutput", f"OUTPUT_COLUMNS {list(declared)!r} differ from the expected {expected!r}"
            )
    if expected is not None:
        columns = list(expected)
    elif declared is not None:
        columns = list(declared)
    elif result:
        first = result[0]
        if not isinstance(first, dict):
            raise HarnessError("InvalidOutput", f"output row 1 is {type(first).__name__}, not dict")
        columns = list(first.keys())
    else:
        columns = []
    if not all(isinstance(c, str) for c in columns):
        raise HarnessError("InvalidOutput", "output column names must be str")
    if len(set(columns)) != len(columns):
        raise HarnessError("InvalidOutput", "duplicate output column names")
    return columns


def _check_batch(batch, columns, first_rowno):
    """All rows are dicts with exactly the output columns as keys."""
    ncol = len(columns)
    bad_type = any(not issubclass(t, dict) for t in set(map(type, batch)))
    if bad_type or set(map(len, batch)) != {ncol}:
        for offset, row in enumerate(batch):
            n = first_rowno + offset
            if not isinstance(row, dict):
                raise HarnessError("InvalidOutput", f"output row {n} is {type(row).__name__}, not dict")
            if len(row) != ncol:
                raise HarnessError(
                    "InvalidOutput", f"output row {n} has keys {list(row)!r}, expected {columns!r}"
                )


def encode_column(col):
    """COPY text for one column of values."""
    kinds = set(map(type, col))
    if kinds == {str}:
        joined = "".join(col)
        if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
            return list(map(_enc_str, col))
        return col
    if len(kinds) == 1:
        enc = _ENCODERS.get(kinds.pop())
        if enc is not None:
            return list(map(enc, col))
    return [(_ENCODERS.get(type(v)) or encode_value)(v) for v in col]


def write_rows(out, columns, result, batch_rows=WRITE_BATCH):
    if not columns and result:
        raise HarnessError("InvalidOutput", "output rows have no columns")
    for start in range(0, len(result), batch_rows):
        batch = result[start:start + batch_rows]
        _check_batch(batch, columns, start + 1)
        cols = []
        for c in columns:
            try:
                cols.append(encode_column(list(map(operator.itemgetter(c), batch))))
            except KeyError:
                for offset, row in enumerate(batch):
                    if c not in row:
                        raise HarnessError(
                            "InvalidOutput",
                            f"output row {start + offset + 1} has keys {list(row)!r}, "
                            f"expected {columns!r}",
                        ) from None
                raise
        lines = list(map("\t".join, zip(*cols)))
        lines.append("")
        out.write("\n".join(lines).encode("utf-8"))


# ---------------------------------------------------------------- main

def parse_header(line):
    if not line:
        raise HarnessError("ProtocolError", "no header line on stdin")
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise HarnessError("ProtocolError", f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise HarnessError("ProtocolError", "header must be a JSON object")
    code = header.get("code")
    columns = header.get("columns")
    types = header.get("types")
    if not isinstance(code, str):
        raise HarnessError("ProtocolError", "header.code must be a string")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise HarnessError("ProtocolError", "header.columns must be a list of strings")
    if types is None:
        types = ["text"] * len(columns)
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise HarnessError("ProtocolError", "header.types must be a list of strings")
    if len(types) != len(columns):
        raise HarnessError("ProtocolError", "header.types and header.columns differ in length")
    expected = header.get("output_columns")
    if expected is not None and (
        not isinstance(expected, list) or not all(isinstance(c, str) for c in expected)
    ):
        raise HarnessError("ProtocolError", "header.output_columns must be a list of strings")
    return code, columns, types, expected


def load_transform(code):
    linecache.cache[CODE_NAME] = (len(code), None, code.splitlines(True), CODE_NAME)
    namespace = {"__name__": "__transform__", "__builtins__": builtins}
    exec(compile(code, CODE_NAME, "exec"), namespace)
    transform = namespace.get("transform")
    if not callable(transform):
        raise HarnessError("InvalidTransform", "the code does not define a callable transform(rows)")
    return transform, namespace


def main():
    # Keep private handles on the real stdin/stdout; point fds 0 and 1 away so that user
    # code (print, os.write(1, ...), input()) can neither eat input nor corrupt output.
    data_in = io.TextIOWrapper(os.fdopen(os.dup(0), "rb", buffering=1 << 20),
                               encoding="utf-8", newline="\n")
    data_out = os.fdopen(os.dup(1), "wb", buffering=1 << 20)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(2, 1)
    os.close(null_fd)
    sys.stdout = sys.stderr

    try:
        code, columns, types, expected_columns = parse_header(data_in.readline())
        try:
            transform, namespace = load_transform(code)
        except HarnessError:
            raise
        except BaseException as exc:
            report_exception(exc)
        # The cyclic GC would rescan the growing row list over and over: keep it off while
        # decoding/encoding, and freeze the input rows out of its sight during the transform.
        gc.disable()
        rows = read_rows(data_in, columns, types)
        data_in.close()
        gc.freeze()
        gc.enable()
        try:
            result = transform(rows)
        except BaseException as exc:
            report_exception(exc)
        gc.disable()
        del rows
        if not isinstance(result, list):
            raise HarnessError("InvalidOutput", f"transform returned {type(result).__name__}, not list")
        out_columns = output_columns(namespace, result, expected_columns)
        data_out.write((json.dumps({"columns": out_columns}) + "\n").encode("utf-8"))
        write_rows(data_out, out_columns, result)
        data_out.flush()
    except HarnessError as exc:
        report_error(exc.kind, str(exc))
    except BrokenPipeError:
        os._exit(EXIT_ERROR)  # the reader went away (e.g. output limit): nothing to report
    except UnicodeError as exc:
        report_error("InputError" if "decode" in str(exc) else "InvalidOutput", str(exc))
    except BaseException as exc:
        report_exception(exc)
    os._exit(0)


if __name__ == "__main__":
    main()
