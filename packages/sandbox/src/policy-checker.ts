// The static policy check, run as a transform inside the sandbox so that the code is parsed by the
// same CPython (ast.parse) that would run it, with no network and the sandbox's limits.
// Input rows: idx (int4), code (text). Output rows: idx, rule, line, message; the first row of
// every idx is rule "#sha256" with the digest of the code as received. __CONFIG_JSON__ is
// replaced by a Python string literal holding the JSON configuration (see policy.ts).
export const POLICY_CHECKER_SOURCE = String.raw`import ast
import hashlib
import json
import string

CONFIG = json.loads(__CONFIG_JSON__)
ALLOWED_MODULES = frozenset(CONFIG["allowedModules"])
MAX_BYTES = CONFIG["maxBytes"]
MAX_NODES = CONFIG["maxNodes"]
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
}
# getattr and friends are allowed only with a literal, public attribute name.
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "delattr", "hasattr"}
# Attributes that lead to frames, code objects, modules, the import system or attribute lookup by string.
FORBIDDEN_ATTRIBUTES = {
    "mro", "format", "format_map", "vformat", "get_field", "Formatter",
    "modules", "system", "popen", "spawnv", "spawnl", "execv", "execl", "fork", "kill",
    "load_module", "exec_module", "find_spec", "import_module", "get_objects", "get_referrers", "get_referents",
    "eval", "exec", "open", "globals", "locals", "getattr", "setattr", "delattr",
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
    def __init__(self):
        self.reasons = []
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
            if alias.name not in ALLOWED_MODULES:
                self.refuse("import", node, f"import of {alias.name!r} is not allowed; allowed modules: {', '.join(sorted(ALLOWED_MODULES))}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level:
            self.refuse("import", node, "relative imports are not allowed")
        elif node.module not in ALLOWED_MODULES:
            self.refuse("import", node, f"import from {node.module!r} is not allowed; allowed modules: {', '.join(sorted(ALLOWED_MODULES))}")
        else:
            for alias in node.names:
                if alias.name == "*":
                    self.refuse("import", node, "star imports are not allowed")
                elif f"{node.module}.{alias.name}" in ALLOWED_MODULES:
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
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) > 1:
            self.refuse("forbidden_name", node, "type() with more than one argument creates classes dynamically")
        if isinstance(func, ast.Attribute) and func.attr in ("format", "format_map"):
            receiver = func.value
            if isinstance(receiver, ast.Constant) and isinstance(receiver.value, str):
                self.literal_format_receivers.add(id(func))
                self.check_format_string(receiver.value, node)
        self.generic_visit(node)

    def check_format_string(self, text, node):
        try:
            fields = [f for _, f, spec, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            self.refuse("format_string", node, f"invalid format string: {exc}")
            return
        for field in fields:
            if "." in field or "[" in field:
                self.refuse("format_string", node, f"format field {field!r} looks up attributes or items")

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


def check(code):
    size = len(code.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        return [("size", 0, f"the code is {size} bytes; the limit is {MAX_BYTES}")]
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
            if count > MAX_NODES:
                return [("too_complex", 0, f"the code has more than {MAX_NODES} syntax nodes")]
        checker = Checker()
        checker.visit(tree)
    except RecursionError:
        return [("too_complex", 0, "the code is nested too deeply to check")]
    reasons = checker.reasons
    if not any(isinstance(n, ast.FunctionDef) and n.name == "transform" for n in tree.body):
        reasons.append(("no_transform", 0, "the code must define transform(rows) at top level"))
    return reasons


OUTPUT_COLUMNS = ["idx", "rule", "line", "message"]


def transform(rows):
    out = []
    for row in rows:
        code = row["code"]
        # What this check saw, so that the caller can prove it is the code it sent.
        digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
        out.append({"idx": row["idx"], "rule": "#sha256", "line": 0, "message": digest})
        for rule, line, message in check(code):
            out.append({"idx": row["idx"], "rule": rule, "line": line, "message": message})
    return out
`;
