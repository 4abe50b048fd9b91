"""Tests of policy_check.py (the static code policy), directly and as the harness's built-in transform.

Run: python3 -m unittest discover -s docker/sandbox-python -p 'test_*.py'
"""

import hashlib
import json
import os
import re
import unittest

import policy_check
from test_harness import run

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY_TS = os.path.join(HERE, "..", "..", "packages", "sandbox", "src", "policy.ts")


def rules(code):
    return [rule for rule, _line, _message in policy_check.check(code)]


def wrap(*body):
    return "def transform(rows):\n" + "".join(f"    {line}\n" for line in body) + "    return rows\n"


class BypassClasses(unittest.TestCase):
    """The bypasses of issue 13, finding 1: each was accepted by the checker before."""

    def assertRefused(self, code, rule):
        self.assertIn(rule, rules(code), policy_check.check(code))

    def test_get_type_hints_with_a_runtime_assembled_string_annotation(self):
        code = (
            "import typing\n"
            "def f(x: ''.join(['__imp', 'ort__(\"os\").listdir(\"/\")'])):\n"
            "    pass\n"
            "def transform(rows):\n"
            "    return [{'a': str(typing.get_type_hints(f))}]\n"
        )
        self.assertRefused(code, "forbidden_attribute")
        self.assertRefused("from typing import get_type_hints\n" + wrap(), "forbidden_attribute")
        self.assertRefused("import typing\n" + wrap("h = typing.get_type_hints"), "forbidden_attribute")

    def test_forward_ref(self):
        self.assertRefused("from typing import ForwardRef\n" + wrap("ForwardRef('x')"), "forbidden_attribute")
        self.assertRefused("import typing\n" + wrap("typing.ForwardRef('x')"), "forbidden_attribute")

    def test_singledispatch_register(self):
        code = (
            "import functools\n"
            "@functools.singledispatch\n"
            "def g(x):\n"
            "    return x\n"
            "@g.register\n"
            "def _(x: 'int'):\n"
            "    return x\n"
            + wrap()
        )
        found = rules(code)
        for rule in ("forbidden_attribute", "string_annotation"):
            self.assertIn(rule, found)
        self.assertRefused("from functools import singledispatch\n" + wrap(), "forbidden_attribute")

    def test_string_annotations(self):
        self.assertRefused("def transform(rows: 'list'):\n    return rows\n", "string_annotation")
        self.assertRefused("def transform(rows) -> 'list':\n    return rows\n", "string_annotation")
        self.assertRefused(wrap("x: 'int' = 1"), "string_annotation")
        self.assertRefused("import typing\ndef transform(rows: typing.List['int']):\n    return rows\n", "string_annotation")

    def test_nested_format_spec_fields(self):
        self.assertRefused("import typing\n" + wrap("x = '{0:{1.sys.modules}}'.format(0, typing)"), "format_string")
        self.assertRefused(wrap("x = '{0:{1}}'.format(0, rows)"), "format_string")

    def test_type_through_an_alias(self):
        self.assertRefused(wrap("t = type", "t('C', (object,), {'x': 1})"), "type_alias")
        self.assertRefused(wrap("f = [type][0]"), "type_alias")
        self.assertRefused(wrap("C = type(type)('C', (object,), {})"), "type_alias")
        self.assertRefused(wrap("T = type('T', (), {})"), "forbidden_name")


class EarlierRules(unittest.TestCase):
    def test_still_refused(self):
        cases = [
            ("import os\n" + wrap(), "import"),
            (wrap("eval('1')"), "forbidden_name"),
            (wrap("().__class__.__bases__"), "dunder_attribute"),
            (wrap("x = '{0.__class__}'.format(rows)"), "format_string"),
            ("import typing\n" + wrap("typing.sys.modules"), "forbidden_attribute"),
            (wrap("k = '__globals__'"), "dunder_string"),
            ("x = 1\n", "no_transform"),
            ("def transform(rows:\n", "syntax"),
        ]
        for code, rule in cases:
            with self.subTest(rule=rule):
                self.assertIn(rule, rules(code))

    def test_limits(self):
        self.assertEqual(rules(wrap("x = 1"), ), [])
        self.assertEqual([r for r, _, _ in policy_check.check(wrap("x = 'aaaa'"), max_bytes=10)], ["size"])
        self.assertEqual([r for r, _, _ in policy_check.check(wrap("x = 1"), max_nodes=3)], ["too_complex"])
        self.assertIn("import", [r for r, _, _ in policy_check.check("import json\n" + wrap(), allowed_modules=("re",))])


class Accepted(unittest.TestCase):
    def test_legitimate_transforms(self):
        examples = os.path.join(HERE, "..", "..", "examples", "customers_transform.py")
        codes = [
            wrap(),
            "import typing\nfrom decimal import Decimal\n"
            "def transform(rows: typing.List[dict]) -> list:\n    n: int = len(rows)\n"
            "    return [{'n': n, 't': type(r) is dict, 's': '{0:>5}|{1:.2f}'.format('a', Decimal('1.5'))} for r in rows]\n",
            "import collections\nP = collections.namedtuple('P', 'a b')\n" + wrap("p = P(1, 2)._replace(a=3)"),
        ]
        if os.path.exists(examples):
            with open(examples, encoding="utf-8") as f:
                codes.append(f.read())
        for code in codes:
            with self.subTest(code=code[:40]):
                self.assertEqual(policy_check.check(code), [])


class AsTheHarnessBuiltin(unittest.TestCase):
    def test_the_harness_runs_the_check_over_rows_and_never_runs_the_code(self):
        config = json.dumps({"allowedModules": ["json"], "maxBytes": 65536, "maxNodes": 20000})
        bad = "import os\nos.system('echo ran >&2')\ndef transform(rows):\n    return rows\n"
        good = "import json\ndef transform(rows):\n    return rows\n"
        rows = [f"1\t{bad.replace(chr(10), chr(92) + 'n')}", f"2\t{good.replace(chr(10), chr(92) + 'n')}"]
        status, out, err = run(policy_check_marker() + config, ["idx", "code"], ["int4", "text"], rows)
        self.assertEqual(status, 0, err)
        self.assertNotIn("ran", err)
        lines = [line.split("\t") for line in out.splitlines()[1:]]
        self.assertEqual(json.loads(out.splitlines()[0]), {"columns": ["idx", "rule", "line", "message"]})
        self.assertEqual(lines[0][:3], ["1", "#sha256", "0"])
        self.assertEqual(lines[0][3], hashlib.sha256(bad.encode()).hexdigest())
        self.assertIn("import", [l[1] for l in lines if l[0] == "1"][1:])
        self.assertEqual([l[1] for l in lines if l[0] == "2"], ["#sha256"])


def policy_check_marker():
    import harness  # noqa: PLC0415 (imported here: it installs nothing at import time)
    return harness.POLICY_CHECK_MARKER


class SameAllowlistAsTypeScript(unittest.TestCase):
    @unittest.skipUnless(os.path.exists(POLICY_TS), "packages/sandbox is not beside this folder")
    def test_default_allowed_modules_match_policy_ts(self):
        with open(POLICY_TS, encoding="utf-8") as f:
            text = f.read()
        block = re.search(r"DEFAULT_ALLOWED_MODULES[^=]*= Object\.freeze\(\[([^\]]*)\]", text).group(1)
        self.assertEqual(sorted(re.findall(r"'([^']+)'", block)), sorted(policy_check.DEFAULT_ALLOWED_MODULES))


if __name__ == "__main__":
    unittest.main()
