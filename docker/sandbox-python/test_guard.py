"""The harness's second layer on its own (no static policy check): restricted builtins and the audit hook.

Run: python3 -m unittest discover -s docker/sandbox-python -p 'test_*.py'
"""

import os
import unittest

from test_harness import error_of, run

# Real builtins, reached around the restricted mapping by walking subclasses (what the static policy refuses):
# what is left to stop the code is the audit hook alone.
REAL_BUILTINS = (
    "def real_builtins():\n"
    "    for c in ().__class__.__base__.__subclasses__():\n"
    "        try:\n"
    "            b = c.__init__.__globals__['__builtins__']\n"
    "        except (AttributeError, KeyError):\n"
    "            continue\n"
    "        b = b if isinstance(b, dict) else b.__dict__\n"
    "        if 'open' in b and b['__import__'].__module__ == 'builtins':\n"
    "            return b\n"
)


def attempt(body):
    return REAL_BUILTINS + "def transform(rows):\n    b = real_builtins()\n" + "".join(f"    {line}\n" for line in body) + "    return [{'a': 'escaped'}]\n"


class RestrictedBuiltins(unittest.TestCase):
    def assertRefused(self, code, kind, text):
        status, out, err = run(code)
        self.assertEqual(status, 3, err)
        self.assertEqual(out, "")
        error = error_of(err)
        self.assertEqual(error["type"], kind, error)
        self.assertIn(text, error["message"])

    def test_imports_outside_the_allowlist_are_refused(self):
        for module in ("os", "socket", "subprocess", "ctypes", "sys", "importlib", "posix"):
            with self.subTest(module=module):
                self.assertRefused(f"import {module}\ndef transform(rows):\n    return rows\n", "SandboxViolation", repr(module))

    def test_the_import_function_is_the_guarded_one(self):
        self.assertRefused("def transform(rows):\n    __import__('os')\n    return rows\n", "SandboxViolation", "'os'")

    def test_a_module_reached_through_an_allowed_one_is_refused(self):
        self.assertRefused("from uuid import os\ndef transform(rows):\n    return rows\n", "SandboxViolation", "'os'")

    def test_code_running_builtins_are_absent(self):
        for call in ("open('/etc/passwd')", "eval('1')", "exec('x = 1')", "compile('1', 'x', 'eval')", "globals()",
                     "vars()", "locals()", "breakpoint()", "input()"):
            with self.subTest(call=call):
                self.assertRefused(f"def transform(rows):\n    {call}\n    return rows\n", "NameError", "is not defined")

    def test_getattr_refuses_dunder_and_private_names(self):
        for name in ("__class__", "__globals__", "_compile"):
            with self.subTest(name=name):
                self.assertRefused(f"def transform(rows):\n    return getattr(rows, {name!r})\n", "SandboxViolation", name)

    def test_get_type_hints_with_a_runtime_assembled_annotation(self):
        # Finding 1 of issue 13: the checker accepted this shape; the annotation string is built at run time.
        code = (
            "import typing\n"
            "def f(x: ''.join(['__imp', 'ort__(\"os\").listdir(\"/\")'])):\n"
            "    pass\n"
            "def transform(rows):\n"
            "    return [{'a': str(typing.get_type_hints(f))}]\n"
        )
        self.assertRefused(code, "SandboxViolation", "compile")

    def test_allowed_modules_and_public_getattr_still_work(self):
        code = (
            "import collections, datetime, json, typing\n"
            "from decimal import Decimal\n"
            "P = collections.namedtuple('P', 'a b')\n"
            "class Q(typing.NamedTuple):\n"
            "    a: int\n"
            "def transform(rows):\n"
            "    d = datetime.datetime.strptime('2024-02-03', '%Y-%m-%d').date()\n"
            "    p = P(1, 2)._replace(b=3)\n"
            "    return [{'a': json.dumps([str(d), p.b, Q(4).a, str(getattr(Decimal('1.5'), 'real'))])}]\n"
        )
        status, out, err = run(code)
        self.assertEqual(status, 0, err)
        self.assertEqual(out.splitlines()[1], '["2024-02-03", 3, 4, "1.5"]')

    @unittest.skipUnless(os.path.exists("/usr/share/zoneinfo/UTC"), "no time-zone database on this host")
    def test_zoneinfo_reads_the_time_zone_database(self):
        code = "import zoneinfo\ndef transform(rows):\n    return [{'a': str(zoneinfo.ZoneInfo('UTC'))}]\n"
        status, out, err = run(code)
        self.assertEqual(status, 0, err)
        self.assertEqual(out.splitlines()[1], "UTC")


class AuditHookAlone(unittest.TestCase):
    """Real builtins in hand (the restricted mapping bypassed): the hook still stops every escape."""

    def assertStopped(self, body, event):
        status, out, err = run(attempt(body))
        self.assertEqual(status, 3, err)
        self.assertNotIn("escaped", out)
        error = error_of(err)
        self.assertEqual(error["type"], "SandboxViolation", error)
        self.assertIn(repr(event), error["message"])

    def test_the_bypass_itself_works_without_the_guard(self):
        # Proves the probes below would escape if the hook were absent.
        status, out, err = run(attempt(["b['__import__']('os').listdir('/')"]), guard=False)
        self.assertEqual(status, 0, err)
        self.assertIn("escaped", out)

    def test_os_calls(self):
        self.assertStopped(["b['__import__']('os').listdir('/')"], "os.listdir")
        self.assertStopped(["b['__import__']('os').system('id')"], "os.system")
        self.assertStopped(["b['__import__']('os').open('/etc/passwd', 0)"], "open")

    def test_open(self):
        self.assertStopped(["b['open']('/etc/passwd').read()"], "open")
        self.assertStopped(["b['open']('/tmp/x', 'w').write('x')"], "open")

    def test_sockets(self):
        self.assertStopped(["b['__import__']('socket')"], "import")
        self.assertStopped(["b['__import__']('_socket')"], "import")

    def test_subprocess(self):
        self.assertStopped(["b['__import__']('subprocess').run(['id'])"], "import")
        self.assertStopped(["b['__import__']('os').posix_spawn('/bin/id', ['id'], {})"], "os.posix_spawn")

    def test_exec_and_compile(self):
        self.assertStopped(["b['exec']('x = 1')"], "compile")
        self.assertStopped(["b['exec'](real_builtins.__code__)"], "exec")
        self.assertStopped(["b['compile']('1', 'x', 'eval')"], "compile")
        self.assertStopped(["b['eval']('1')"], "compile")

    def test_ctypes(self):
        self.assertStopped(["b['__import__']('ctypes')"], "import")


if __name__ == "__main__":
    unittest.main()
