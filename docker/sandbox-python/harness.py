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

Policy check: a header whose code is POLICY_CHECK_MARKER followed by a JSON configuration runs the built-in
static policy check (policy_check.py, beside this file) over rows (idx, code) instead of user code.

Second layer (the static policy is the first, the container the last): user code runs with restricted
builtins (no eval, exec, compile, open, breakpoint, input, globals, vars, locals; __import__ only of the
allowed modules; getattr/setattr/delattr/hasattr refuse private and dunder names) under an audit hook,
armed just before the user's module runs, that refuses imports outside the allowlist, open (except
reading the time-zone database), exec/compile (except the harness's own exec of the user code and
collections.namedtuple's), and every os.*, socket.*, subprocess.*, ctypes.* event. The hook cannot be
removed; the argument --no-guard (given only by the driver's test option, never reachable from user
code) leaves both off so that the container layer can be tested on its own.

Python 3.11 standard library only.
"""

import builtins
import collections
import datetime
import gc
import io
import json
import linecache
import operator
import os
import re
import resource
import sys
import traceback
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import policy_check
finally:
    del sys.path[0]

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
    write_line_to_fd2(json.dumps({"error": {"type": kind, "message": message, "traceback": tb_text}}))
    os._exit(EXIT_ERROR)


def write_line_to_fd2(line):
    """Write one line of the harness's own to fd 2, on a line of its own after what user code printed."""
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


def report_usage():
    """After a successful run: the CPU time the process used, as the last line of fd 2
    ({"usage": {"cpuMs": N}}), which the agent adds to the run's CPU budget."""
    try:
        usage = resource.getrusage(resource.RUSAGE_SELF)
    except OSError:
        return  # a sandbox that refuses getrusage: the run is not counted, it does not fail
    write_line_to_fd2(json.dumps({"usage": {"cpuMs": int((usage.ru_utime + usage.ru_stime) * 1000)}}))


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


# ---------------------------------------------------------------- the second layer: restricted builtins + audit hook

POLICY_CHECK_MARKER = "#!aoetl:policy-check\n"
ALLOWED_MODULES = frozenset(policy_check.DEFAULT_ALLOWED_MODULES)
# Modules that the allowed ones import only when called (datetime.strptime).
LAZY_DEPENDENCIES = ("_strptime",)
REMOVED_BUILTINS = frozenset({
    "__import__", "__loader__", "__spec__", "eval", "exec", "compile", "open", "breakpoint", "input",
    "globals", "vars", "locals", "help", "exit", "quit", "memoryview", "copyright", "credits", "license",
})
REFUSED_EVENT_PREFIXES = (
    "os.", "socket.", "subprocess.", "ctypes.", "shutil.", "pty.", "fcntl.", "mmap.", "resource.",
    "signal.", "_posixsubprocess.", "winreg.", "webbrowser.", "urllib.", "http.", "ftplib.", "smtplib.",
)
REFUSED_EVENTS = frozenset({
    "code.__new__", "function.__new__", "sys.settrace", "sys.setprofile", "sys._current_frames",
    "sys.addaudithook", "cpython.run_command", "cpython.run_file", "cpython.run_module", "cpython.run_startup",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "builtins.input", "import", "open", "exec", "compile",
})
ZONEINFO_DIR = "/usr/share/zoneinfo/"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class SandboxViolation(PermissionError):
    """Something the sandbox does not allow (raised by the restricted builtins and the audit hook)."""


def _check_attribute_name(name):
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name.startswith("_") and name not in policy_check.ALLOWED_PRIVATE_ATTRIBUTES:
        raise SandboxViolation(f"attribute {name!r}: private and double-underscore attributes are not allowed")


def _safe_getattr(obj, name, *default):
    _check_attribute_name(name)
    return getattr(obj, name, *default)


def _safe_hasattr(obj, name):
    _check_attribute_name(name)
    return hasattr(obj, name)


def _safe_setattr(obj, name, value):
    _check_attribute_name(name)
    setattr(obj, name, value)


def _safe_delattr(obj, name):
    _check_attribute_name(name)
    delattr(obj, name)


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    # (C modules import through the caller's builtins too: datetime.strptime imports _strptime.)
    if level != 0 or (name not in ALLOWED_MODULES and name not in LAZY_DEPENDENCIES):
        raise SandboxViolation(f"import of {name!r} is not allowed")
    module = builtins.__import__(name, globals, locals, fromlist, level)
    for item in fromlist or ():
        value = getattr(module, item, None)
        if type(value) is type(sys) and value.__name__ not in ALLOWED_MODULES:
            raise SandboxViolation(f"import of {value.__name__!r} (from {name!r}) is not allowed")
    return module


def restricted_builtins():
    """The builtins mapping that user code gets."""
    safe = {k: v for k, v in vars(builtins).items() if k not in REMOVED_BUILTINS}
    safe.update(
        __import__=_guarded_import, getattr=_safe_getattr, hasattr=_safe_hasattr,
        setattr=_safe_setattr, delattr=_safe_delattr,
    )
    return safe


class AuditGuard:
    """sys.addaudithook callback; refuses nothing until armed (the harness's own start-up is not user code)."""

    def __init__(self):
        self.armed = False
        self.allowed_code = None  # the code object of the user's module, which the harness execs itself
        self.trusted_callers = (collections.namedtuple.__code__,)  # compiles and execs its __new__
        self.busy = False

    def __call__(self, event, args):
        if not self.armed or self.busy:
            return
        if event not in REFUSED_EVENTS and not event.startswith(REFUSED_EVENT_PREFIXES):
            return
        self.busy = True  # what the checks below do (frame access) raises audit events of its own
        try:
            if self.allowed(event, args):
                return
        finally:
            self.busy = False
        raise SandboxViolation(f"the sandbox does not allow {event!r}")

    def allowed(self, event, args):
        if event == "import":
            return args[0] in ALLOWED_MODULES or args[0] in LAZY_DEPENDENCIES
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            return (
                isinstance(path, str) and mode in ("r", "rb") and isinstance(flags, int)
                and not flags & _WRITE_FLAGS and os.path.normpath(path).startswith(ZONEINFO_DIR)
            )
        if event == "exec" and args and args[0] is self.allowed_code:
            return True
        if event in ("exec", "compile"):
            try:
                caller = sys._getframe(2).f_code  # 0 = allowed, 1 = __call__, 2 = the Python caller of the event
            except ValueError:
                return False
            return caller in self.trusted_callers
        return False


GUARD = AuditGuard()


NO_GUARD_ARGUMENT = "--no-guard"


def guard_enabled():
    return NO_GUARD_ARGUMENT not in sys.argv[1:]


def install_guard():
    """Imports the allowed modules (their own imports happen now, unguarded), then installs the hook."""
    for name in sorted(ALLOWED_MODULES) + list(LAZY_DEPENDENCIES):
        __import__(name)
    sys.addaudithook(GUARD)


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


def load_transform(code, guarded=True):
    if code.startswith(POLICY_CHECK_MARKER):
        # The built-in policy check: trusted code from the image; the user's code is only parsed, never run.
        return policy_check.transform_for(code[len(POLICY_CHECK_MARKER):]), {"OUTPUT_COLUMNS": policy_check.OUTPUT_COLUMNS}
    linecache.cache[CODE_NAME] = (len(code), None, code.splitlines(True), CODE_NAME)
    namespace = {"__name__": "__transform__", "__builtins__": restricted_builtins() if guarded else builtins}
    compiled = compile(code, CODE_NAME, "exec")
    if guarded:
        GUARD.allowed_code = compiled
        GUARD.armed = True
    exec(compiled, namespace)
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
    guarded = guard_enabled()
    if guarded:
        install_guard()

    try:
        code, columns, types, expected_columns = parse_header(data_in.readline())
        try:
            transform, namespace = load_transform(code, guarded)
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
        report_usage()
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
