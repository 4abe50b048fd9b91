"""aoetl static code policy: parses a transform with CPython's own ast (never runs it) and lists what it refuses.

A filter in front of the sandbox, not the boundary: the harness (harness.py) also runs every transform with
restricted builtins under an audit hook, and the container is the last wall. The harness runs this module as a
built-in transform (see harness.py, POLICY_CHECK_MARKER): input rows are (idx int4, code text); output rows are
(idx, rule, line, message), and the first row of every idx is rule "#sha256" with the digest of the code as received.

Python 3.11 standard library only.
"""

import ast
import hashlib
import json
import string

# Modules a transform may import: data handling only (no I/O, processes, network or introspection).
# packages/sandbox/src/policy.ts (DEFAULT_ALLOWED_MODULES) holds the same list; a test keeps them equal.
DEFAULT_ALLOWED_MODULES = (
    "base64", "bisect", "calendar", "collections", "collections.abc", "datetime", "decimal", "fractions",
    "functools", "hashlib", "heapq", "hmac", "itertools", "json", "math", "numbers", "random", "re",
    "statistics", "string", "textwrap", "typing", "unicodedata", "uuid", "zoneinfo",
)
DEFAULT_MAX_BYTES = 64 * 1024
DEFAULT_MAX_NODES = 20_000
MAX_REASONS = 50

# Builtins that run code, reach the interpreter's internals, the file system or the terminal.
FORBIDDEN_NAMES = {
    "eval": "runs a string as code",
    "exec": "runs a string as code",
    "compile": "turns a string into code",
    "open": "opens files",
    "input": "reads the terminal",
    "breakpoint": "starts a debugger",
    "help": "starts the interactive help",
    "globals": "exposes the module namespace",
    "locals": "exposes a namespace",
    "vars": "exposes an object's namespace",
    "memoryview": "gives raw memory access",
    "exit": "ends the interpreter",
    "quit": "ends the interpreter",
    # annotation strings are evaluated as code against the function's globals (and real builtins)
    "get_type_hints": "evaluates annotation strings as code",
    "ForwardRef": "evaluates a string as code",
    "singledispatch": "evaluates annotation strings as code (register)",
    "singledispatchmethod": "evaluates annotation strings as code (register)",
}
# getattr and friends are allowed only with a literal, public attribute name.
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "delattr", "hasattr"}
# Attributes that lead to frames, code objects, modules, the import system or attribute lookup by string.
FORBIDDEN_ATTRIBUTES = {
    "mro", "format", "format_map", "vformat", "get_field", "Formatter",
    "modules", "system", "popen", "spawnv", "spawnl", "execv", "execl", "fork", "kill",
    "load_module", "exec_module", "find_spec", "import_module", "get_objects", "get_referrers", "get_referents",
    "eval", "exec", "open", "globals", "locals", "getattr", "setattr", "delattr",
    # evaluation of annotation strings (typing.get_type_hints, functools.singledispatch().register)
    "get_type_hints", "ForwardRef", "singledispatch", "singledispatchmethod", "register", "evaluate",
    # modules reachable as attributes of allowed modules (typing.sys, uuid.os, json.codecs, re.enum ...)
    "sys", "os", "posix", "nt", "platform", "builtins", "bltns", "codecs", "copyreg", "inspect", "types",
    "warnings", "contextlib", "operator", "enum", "subprocess", "importlib", "ctypes", "socket", "pickle",
    "marshal", "shutil", "io", "gc", "threading", "signal", "resource", "mmap", "multiprocessing", "pathlib",
    "tempfile", "linecache", "traceback", "weakref", "code", "codeop", "runpy", "site", "sysconfig", "pty",
    "fcntl", "select", "asyncio", "urllib", "http", "ssl", "zipimport", "pkgutil",
}
FORBIDDEN_ATTRIBUTE_PREFIXES = ("f_", "gi_", "cr_", "ag_", "tb_", "co_")
# Public names of namedtuple that start with an underscore.
ALLOWED_PRIVATE_ATTRIBUTES = {"_asdict", "_replace", "_fields", "_field_defaults", "_make"}
# Special methods a class in a transform may define.
ALLOWED_DUNDER_METHODS = {
    "__init__", "__repr__", "__str__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__",
    "__len__", "__iter__", "__next__", "__contains__", "__getitem__", "__bool__", "__post_init__",
}
IDENTIFIER_FIELDS = ("id", "name", "arg", "asname", "attr", "rest")


def is_dunder(name):
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def contains_dunder(text):
    i = text.find("__")
    while i >= 0:
        j = text.find("__", i + 2)
        if j < 0:
            return False
        inner = text[i + 2:j]
        if inner and (inner.isidentifier() or inner.replace(".", "").isidentifier()):
            return True
        i = j
    return False


class Checker(ast.NodeVisitor):
    def __init__(self, allowed_modules):
        self.allowed_modules = allowed_modules
        self.reasons = []
        self.type_calls = set()
        self.allowed_dunder_defs = set()
        self.literal_attribute_calls = set()
        self.literal_format_receivers = set()

    def refuse(self, rule, node, message):
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append((rule, getattr(node, "lineno", 0) or 0, message))

    # --- identifiers (names, arguments, definitions, aliases, attributes) ---
    def check_identifier(self, name, node, where):
        if name.startswith("__") and id(node) not in self.allowed_dunder_defs:
            self.refuse("dunder_name", node, f"{where} {name!r}: names with a double underscore reach interpreter internals")
        elif name in FORBIDDEN_NAMES and where != "attribute":
            self.refuse("forbidden_name", node, f"{name!r} is not allowed: it {FORBIDDEN_NAMES[name]}")
        elif name in ATTRIBUTE_FUNCTIONS and where != "attribute" and id(node) not in self.literal_attribute_calls:
            self.refuse("dynamic_attribute", node, f"{name}() is allowed only with a literal, public attribute name")

    def check_attribute_name(self, name, node):
        if name.startswith("__"):
            self.refuse("dunder_attribute", node, f"attribute {name!r}: double-underscore attributes reach interpreter internals")
        elif name.startswith("_") and name not in ALLOWED_PRIVATE_ATTRIBUTES:
            self.refuse("private_attribute", node, f"attribute {name!r}: private attributes are not allowed")
        elif name in ("format", "format_map") and id(node) in self.literal_format_receivers:
            pass
        elif name in FORBIDDEN_ATTRIBUTES or name.startswith(FORBIDDEN_ATTRIBUTE_PREFIXES):
            self.refuse("forbidden_attribute", node, f"attribute {name!r} is not allowed (frames, code, modules or lookups by string)")

    def generic_visit(self, node):
        for field in IDENTIFIER_FIELDS:
            value = getattr(node, field, None)
            if isinstance(value, str):
                if field == "attr":
                    self.check_attribute_name(value, node)
                elif not (isinstance(node, ast.alias) and field == "name"):
                    self.check_identifier(value, node, "name")
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                self.check_identifier(name, node, "name")
        super().generic_visit(node)

    # --- imports ---
    def visit_Import(self, node):
        for alias in node.names:
            if alias.name not in self.allowed_modules:
                self.refuse("import", node, f"import of {alias.name!r} is not allowed; allowed modules: {', '.join(sorted(self.allowed_modules))}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level:
            self.refuse("import", node, "relative imports are not allowed")
        elif node.module not in self.allowed_modules:
            self.refuse("import", node, f"import from {node.module!r} is not allowed; allowed modules: {', '.join(sorted(self.allowed_modules))}")
        else:
            for alias in node.names:
                if alias.name == "*":
                    self.refuse("import", node, "star imports are not allowed")
                elif f"{node.module}.{alias.name}" in self.allowed_modules:
                    pass
                else:
                    self.check_attribute_name(alias.name, node)
        self.generic_visit(node)

    # --- calls ---
    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name) and func.id in ATTRIBUTE_FUNCTIONS:
            name = node.args[1] if len(node.args) >= 2 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and not node.keywords:
                self.literal_attribute_calls.add(id(func))
                self.check_attribute_name(name.value, node)
        if isinstance(func, ast.Name) and func.id == "type":
            self.type_calls.add(id(func))
            if len(node.args) != 1 or node.keywords:
                self.refuse("forbidden_name", node, "type() with more than one argument creates classes dynamically")
        if isinstance(func, ast.Call) and isinstance(func.func, ast.Name) and func.func.id == "type":
            self.refuse("type_alias", node, "calling what type() returns can create classes dynamically")
        if isinstance(func, ast.Attribute) and func.attr in ("format", "format_map"):
            receiver = func.value
            if isinstance(receiver, ast.Constant) and isinstance(receiver.value, str):
                self.literal_format_receivers.add(id(func))
                self.check_format_string(receiver.value, node)
        self.generic_visit(node)

    def check_format_string(self, text, node):
        try:
            fields = [(f, spec) for _, f, spec, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            self.refuse("format_string", node, f"invalid format string: {exc}")
            return
        for field, spec in fields:
            if "." in field or "[" in field:
                self.refuse("format_string", node, f"format field {field!r} looks up attributes or items")
            if spec and ("{" in spec or "}" in spec):
                self.refuse("format_string", node, f"format spec {spec!r} has nested fields (they look up values too)")

    # --- type: only ever called with one argument ---
    def visit_Name(self, node):
        if node.id == "type" and id(node) not in self.type_calls:
            self.refuse("type_alias", node, "type may only be called as type(x): an alias or other use can create classes dynamically")
        self.generic_visit(node)

    # --- annotations: a string annotation is code that typing.get_type_hints and friends evaluate ---
    def check_annotation(self, annotation):
        if annotation is None:
            return
        for sub in ast.walk(annotation):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, (str, bytes)):
                self.refuse("string_annotation", sub, "string annotations are not allowed: they are evaluated as code")
                return

    def visit_arg(self, node):
        self.check_annotation(node.annotation)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.check_annotation(node.returns)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node):
        self.check_annotation(node.annotation)
        self.generic_visit(node)

    # --- definitions ---
    def visit_ClassDef(self, node):
        for keyword in node.keywords:
            if keyword.arg == "metaclass":
                self.refuse("metaclass", node, "metaclasses are not allowed")
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name in ALLOWED_DUNDER_METHODS:
                self.allowed_dunder_defs.add(id(item))
        self.generic_visit(node)

    def visit_MatchClass(self, node):
        for name in node.kwd_attrs:
            self.check_attribute_name(name, node)
        self.generic_visit(node)

    # --- literals ---
    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and contains_dunder(value):
            self.refuse("dunder_string", node, "strings naming double-underscore attributes are not allowed")


def check(code, allowed_modules=DEFAULT_ALLOWED_MODULES, max_bytes=DEFAULT_MAX_BYTES, max_nodes=DEFAULT_MAX_NODES):
    """The reasons (rule, line, message) why `code` is refused; empty when it is accepted."""
    size = len(code.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return [("size", 0, f"the code is {size} bytes; the limit is {max_bytes}")]
    try:
        tree = ast.parse(code, "<transform>", "exec")
    except SyntaxError as exc:
        return [("syntax", exc.lineno or 0, f"syntax error: {exc.msg}")]
    except (ValueError, TypeError) as exc:
        return [("syntax", 0, f"cannot parse: {exc}")]
    except (RecursionError, MemoryError):
        return [("too_complex", 0, "the code is nested too deeply to parse")]
    try:
        count = 0
        for _ in ast.walk(tree):
            count += 1
            if count > max_nodes:
                return [("too_complex", 0, f"the code has more than {max_nodes} syntax nodes")]
        checker = Checker(frozenset(allowed_modules))
        checker.visit(tree)
    except RecursionError:
        return [("too_complex", 0, "the code is nested too deeply to check")]
    reasons = checker.reasons
    if not any(isinstance(n, ast.FunctionDef) and n.name == "transform" for n in tree.body):
        reasons.append(("no_transform", 0, "the code must define transform(rows) at top level"))
    return reasons


OUTPUT_COLUMNS = ["idx", "rule", "line", "message"]


def transform_for(config):
    """The built-in transform of the harness for a JSON configuration
    {"allowedModules": [...], "maxBytes": n, "maxNodes": n} (missing keys: the defaults)."""
    settings = json.loads(config) if isinstance(config, str) else dict(config)
    allowed = tuple(settings.get("allowedModules", DEFAULT_ALLOWED_MODULES))
    max_bytes = int(settings.get("maxBytes", DEFAULT_MAX_BYTES))
    max_nodes = int(settings.get("maxNodes", DEFAULT_MAX_NODES))

    def transform(rows):
        out = []
        for row in rows:
            code = row["code"]
            # What this check saw, so that the caller can prove it is the code it sent.
            digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
            out.append({"idx": row["idx"], "rule": "#sha256", "line": 0, "message": digest})
            for rule, line, message in check(code, allowed, max_bytes, max_nodes):
                out.append({"idx": row["idx"], "rule": rule, "line": line, "message": message})
        return out

    return transform
