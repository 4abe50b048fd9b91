"""Tests of harness.py as a process, the way the sandbox runs it (python3 -I -S, stdin/stdout).

Run: python3 -m unittest discover -s docker/sandbox-python -p 'test_*.py'
"""

import json
import os
import subprocess
import sys
import unittest

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")


def run(code, columns=(), types=None, rows=(), raw_input=None, output_columns=None, guard=True):
    header = {"code": code, "columns": list(columns)}
    if types is not None:
        header["types"] = list(types)
    if output_columns is not None:
        header["output_columns"] = output_columns
    data = raw_input if raw_input is not None else (
        json.dumps(header) + "\n" + "".join(r + "\n" for r in rows)
    ).encode("utf-8")
    proc = subprocess.run(
        [sys.executable, "-I", "-S", HARNESS] + ([] if guard else ["--no-guard"]),
        input=data, capture_output=True, timeout=60,
    )
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def error_of(stderr):
    return json.loads(stderr.strip().splitlines()[-1])["error"]


IDENTITY = "def transform(rows):\n    return rows\n"


class RoundTrip(unittest.TestCase):
    def test_copy_text_survives_a_round_trip(self):
        rows = [
            "1\tplain\t1.50\t0.25\tt",
            "2\t\\N\t\\N\t\\N\t\\N",
            "3\ttab\\there, newline\\n, cr\\r, backslash\\\\\t-0.01\tNaN\tf",
            "4\tunicode é ☃\t1e3\tInfinity\tt",
        ]
        code, out, err = run(IDENTITY, ["id", "s", "n", "f", "b"], ["int8", "text", "numeric", "float8", "bool"], rows)
        self.assertEqual(code, 0, err)
        lines = out.split("\n")
        self.assertEqual(json.loads(lines[0]), {"columns": ["id", "s", "n", "f", "b"]})
        self.assertEqual(lines[1:-1], [r.replace("1e3", "1E+3") for r in rows])
        self.assertEqual(lines[-1], "")

    def test_values_are_decoded_to_python_types(self):
        code = (
            "from decimal import Decimal\n"
            "def transform(rows):\n"
            "    r = rows[0]\n"
            "    return [{k: type(v).__name__ + ':' + repr(v) for k, v in r.items()}]\n"
        )
        status, out, err = run(
            code,
            ["i", "n", "f", "b", "t", "z", "e"],
            ["int4", "numeric(12,2)", "double precision", "boolean", "varchar", "int8", "text"],
            ["7\t2.50\t1.5\tf\tx\\ty\t\\N\t\\101\\xe2\\x98\\x83"],
        )
        self.assertEqual(status, 0, err)
        self.assertEqual(
            out.split("\n")[1].split("\t"),
            ["int:7", "Decimal:Decimal('2.50')", "float:1.5", "bool:False", "str:'x\\\\ty'", "NoneType:None", "str:'A☃'"],
        )

    def test_output_types_are_encoded_for_copy(self):
        code = (
            "import datetime\n"
            "from decimal import Decimal\n"
            "def transform(rows):\n"
            "    return [{'d': datetime.date(2024, 1, 2), 'ts': datetime.datetime(2024, 1, 2, 3, 4, 5),\n"
            "             'b': True, 'n': None, 'dec': Decimal('1.10'), 'j': {'k': ['a\\tb']}, 'by': b'\\x01\\xff',\n"
            "             'f': float('-inf')}]\n"
        )
        status, out, err = run(code)
        self.assertEqual(status, 0, err)
        self.assertEqual(
            out.split("\n")[1],
            '2024-01-02\t2024-01-02T03:04:05\tt\t\\N\t1.10\t{"k": ["a\\\\tb"]}\t\\\\x01ff\t-Infinity',
        )

    def test_declared_output_columns_and_empty_output(self):
        status, out, _ = run("OUTPUT_COLUMNS = ['a', 'b']\ndef transform(rows):\n    return []\n", ["x"], ["int4"], ["1"])
        self.assertEqual((status, out), (0, '{"columns": ["a", "b"]}\n'))
        status, out, _ = run("def transform(rows):\n    return []\n")
        self.assertEqual((status, out), (0, '{"columns": []}\n'))

    def test_output_follows_the_column_order_of_the_first_row(self):
        code = "def transform(rows):\n    return [{'b': 1, 'a': 2}, {'a': 3, 'b': 4}]\n"
        self.assertEqual(run(code)[1], '{"columns": ["b", "a"]}\n1\t2\n4\t3\n')

    def test_expected_output_columns_set_the_order(self):
        code = "def transform(rows):\n    return [{'b': 1, 'a': 2}, {'a': 3, 'b': 4}]\n"
        self.assertEqual(run(code, output_columns=["a", "b"])[1], '{"columns": ["a", "b"]}\n2\t1\n3\t4\n')
        self.assertEqual(run("def transform(rows):\n    return []\n", output_columns=["x"])[1], '{"columns": ["x"]}\n')

    def test_end_marker_and_missing_final_newline(self):
        header = json.dumps({"code": IDENTITY, "columns": ["a"], "types": ["int4"]})
        status, out, _ = run(None, raw_input=f"{header}\n1\n2".encode())
        self.assertEqual((status, out), (0, '{"columns": ["a"]}\n1\n2\n'))
        status, out, _ = run(None, raw_input=f"{header}\n1\n\\.\ngarbage\n".encode())
        self.assertEqual((status, out), (0, '{"columns": ["a"]}\n1\n'))

    def test_user_output_goes_to_stderr(self):
        # fd 1 itself points to stderr: shown with the guard off (with it on, os is not importable).
        code = "import os, sys\ndef transform(rows):\n    print('hi')\n    os.write(1, b'raw\\n')\n    return [{'a': 1}]\n"
        status, out, err = run(code, guard=False)
        self.assertEqual(status, 0)
        self.assertEqual(out, '{"columns": ["a"]}\n1\n')
        self.assertIn("hi", err)
        self.assertIn("raw", err)

    def test_cpu_time_is_reported_last_on_stderr(self):
        # A forged usage line printed by the transform comes before the harness's own, which is always last.
        code = ("def transform(rows):\n    print('{\"usage\": {\"cpuMs\": 0}}')\n    n = 0\n"
                "    for i in range(3_000_000):\n        n += i\n    return [{'n': n}]\n")
        status, out, err = run(code)
        self.assertEqual(status, 0, err)
        usage = json.loads(err.strip().splitlines()[-1])["usage"]
        self.assertGreater(usage["cpuMs"], 50)

    def test_many_rows(self):
        rows = [f"{i}\tname-{i}\t\\N" for i in range(50_000)]
        status, out, err = run(IDENTITY, ["a", "b", "c"], ["int8", "text", "numeric"], rows)
        self.assertEqual(status, 0, err)
        self.assertEqual(out.split("\n")[1:-1], rows)


class Errors(unittest.TestCase):
    def assertError(self, result, kind, message_part):
        status, out, err = result
        self.assertEqual(status, 3, (out, err))
        error = error_of(err)
        self.assertEqual(error["type"], kind)
        self.assertIn(message_part, error["message"])
        return error

    def test_exception_in_transform(self):
        code = "def transform(rows):\n    x = 1\n    raise KeyError('missing')\n"
        error = self.assertError(run(code), "KeyError", "missing")
        self.assertIn('File "<transform>", line 3, in transform', error["traceback"])
        self.assertIn("raise KeyError('missing')", error["traceback"])
        self.assertNotIn("harness.py", error["traceback"])

    def test_exception_at_module_level(self):
        self.assertError(run("import json\n1 / 0\n"), "ZeroDivisionError", "division by zero")

    def test_system_exit_is_an_error(self):
        self.assertError(run("def transform(rows):\n    raise SystemExit(0)\n"), "SystemExit", "0")

    def test_syntax_error(self):
        self.assertError(run("def transform(rows:\n"), "SyntaxError", "never closed")

    def test_missing_transform(self):
        self.assertError(run("transform = 3\n"), "InvalidTransform", "callable transform")

    def test_bad_results(self):
        cases = [
            ("return None", "returned NoneType, not list"),
            ("return ({'a': 1},)", "returned tuple, not list"),
            ("return [{'a': 1}, ['a']]", "row 2 is list, not dict"),
            ("return [{'a': 1}, {'a': 1, 'b': 2}]", "row 2 has keys ['a', 'b']"),
            ("return [{'a': 1}, {'b': 1}]", "row 2 has keys ['b']"),
            ("return [{1: 'x'}]", "column names must be str"),
        ]
        for body, message in cases:
            with self.subTest(body=body):
                self.assertError(run(f"def transform(rows):\n    {body}\n"), "InvalidOutput", message)

    def test_rows_must_match_the_expected_output_columns(self):
        code = "def transform(rows):\n    return [{'a': 1, 'c': 2}]\n"
        self.assertError(run(code, output_columns=["a", "b"]), "InvalidOutput", "row 1 has keys ['a', 'c'], expected ['a', 'b']")
        code = "OUTPUT_COLUMNS = ['a']\ndef transform(rows):\n    return []\n"
        self.assertError(run(code, output_columns=["b"]), "InvalidOutput", "differ from the expected ['b']")

    def test_bad_input(self):
        self.assertError(run(IDENTITY, ["a", "b"], ["int4", "text"], ["1\tx", "2"]), "InputError", "line 3: expected 2 fields")
        self.assertError(run(IDENTITY, ["a"], ["numeric"], ["x1"]), "InputError", "column 'a': invalid value 'x1'")
        self.assertError(run(IDENTITY, ["a"], ["bool"], ["maybe"]), "InputError", "line 2")

    def test_bad_header(self):
        self.assertError(run(None, raw_input=b""), "ProtocolError", "no header")
        self.assertError(run(None, raw_input=b"{}\n"), "ProtocolError", "header.code")
        self.assertError(run(None, raw_input=b'{"code": "", "columns": ["a"], "types": []}\n'), "ProtocolError", "differ")
        self.assertError(run(None, raw_input=b'{"code": "", "columns": [], "output_columns": "a"}\n'), "ProtocolError", "output_columns")


if __name__ == "__main__":
    unittest.main()
