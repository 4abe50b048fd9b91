"""Lists the system calls the harness makes, to generate the sandbox's seccomp allowlist.

Run: python3 docker/sandbox-python/seccomp_trace.py   (needs strace; traces this host's python3)

Runs harness.py under `strace -f` over representative workloads (identity, every allowed module, an error,
a refused import, the built-in policy check, a large output) and prints the sorted union of the system
calls seen. packages/sandbox/src/container-spec.ts (HARNESS_SYSCALLS) holds that list plus what runc's
exec path, the dynamic loader and Debian's python3 need on other kernels and libc versions.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
WORKLOADS = [
    ("def transform(rows):\n    return rows\n", ["a", "b"], ["int8", "text"], ["1\tx", "2\t\\N", "3\ttab\\there"]),
    (
        "import collections, datetime, json, zoneinfo, hashlib, decimal, statistics, uuid, random\n"
        "P = collections.namedtuple('P', 'a b')\n"
        "def transform(rows):\n"
        "    d = datetime.datetime.strptime('2024-02-03', '%Y-%m-%d')\n"
        "    z = zoneinfo.ZoneInfo('UTC')\n"
        "    return [{'a': json.dumps([str(d), str(z), P(1, 2)._replace(a=3).a, str(uuid.uuid4())[:1],"
        " random.random() > 2, statistics.mean([1, 2]), hashlib.sha256(b'x').hexdigest()[:2],"
        " str(decimal.Decimal('1.5') * 2)])} for r in rows]\n",
        ["a"], ["numeric"], ["1.5"] * 5000,
    ),
    ("def transform(rows):\n    raise ValueError('x')\n", [], [], []),
    ("import os\ndef transform(rows):\n    return rows\n", [], [], []),
    ("#!aoetl:policy-check\n{}", ["idx", "code"], ["int4", "text"], ["1\timport os\\ndef transform(rows):\\n    return rows\\n"]),
    ("def transform(rows):\n    return [{'x': 'y' * 1000} for _ in range(50000)]\n", [], [], []),
]


def main():
    seen = set()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (code, columns, types, rows) in enumerate(WORKLOADS):
            data = json.dumps({"code": code, "columns": columns, "types": types}) + "\n" + "".join(r + "\n" for r in rows)
            out = os.path.join(tmp, f"trace.{i}")
            subprocess.run(["strace", "-f", "-qq", "-o", out, sys.executable, "-I", "-S", HARNESS],
                           input=data.encode(), capture_output=True, check=False)
            with open(out, encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = re.match(r"(?:\d+\s+)?([a-z_0-9]+)\(", line)
                    if m:
                        seen.add(m.group(1))
    print(" ".join(sorted(seen)))


if __name__ == "__main__":
    main()
