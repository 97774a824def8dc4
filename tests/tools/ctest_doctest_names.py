#!/usr/bin/env python3
"""Every doctest test case runs under CTest, as exactly one CTest entry (docs/testing.md).

doctest_discover_tests turns each line of `<binary> --list-test-cases` into a CTest entry that runs
`<binary> --test-case=<name>`. Some names do not survive that: the list of names is a CMake list, so
a name with ';' becomes several entries whose filters match no test case (CTest runs nothing and
reports a pass), an unbalanced '[' or a trailing '\\' merges names, '*' and '?' in a filter are
doctest wildcards that may match other test cases too, and the match ignores case. Rather than
guess which characters are harmful, this checks the result: for every CTest entry of a doctest
binary, the entry's own command plus --list-test-cases must list exactly one test case, and every
test case of the binary must be listed by exactly one entry. An executable that is not built is
skipped.

usage: ctest_doctest_names.py <ctest> <build dir> <doctest binary>...
"""

import json
import os
import subprocess
import sys


def listed_cases(command):
    """Test case names that `command --list-test-cases` prints (doctest's banner lines dropped)."""
    out = subprocess.run(
        command + ["--list-test-cases", "--no-version"],
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ).stdout
    return [line for line in out.split("\n") if line and not line.startswith("[doctest] ") and set(line) != {"="}]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    ctest, build_dir, binaries = sys.argv[1], sys.argv[2], [os.path.realpath(b) for b in sys.argv[3:]]
    shown = subprocess.run(
        [ctest, "--test-dir", build_dir, "--show-only=json-v1"], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    entries = {b: [] for b in binaries}
    for test in json.loads(shown)["tests"]:
        command = test.get("command") or []
        if command and os.path.realpath(command[0]) in entries:
            entries[os.path.realpath(command[0])].append((test["name"], command))

    problems = []
    for binary, tests in entries.items():
        if not os.path.exists(binary):  # a partial build (make test-tsan): nothing to check
            print(f"{os.path.basename(binary)}: not built, skipped")
            continue
        runs = {}  # test case name -> CTest entries that run it
        for ctest_name, command in tests:
            cases = listed_cases(command)
            if len(cases) != 1:
                problems.append(f"CTest entry {ctest_name!r} runs {len(cases)} test cases {cases!r}, not 1")
            for case in cases:
                runs.setdefault(case, []).append(ctest_name)
        for case in listed_cases([binary]):
            n = len(runs.get(case, []))
            if n != 1:
                problems.append(f"{os.path.basename(binary)}: test case {case!r} is run by {n} CTest entries, not 1")
        print(f"{os.path.basename(binary)}: {len(tests)} CTest entries checked")

    for p in problems:
        print(p)
    if problems:
        print(
            "A test case name that CTest cannot pass through intact (';', an unbalanced '[' or ']', a trailing "
            "'\\', a '*' or '?' that matches other names, two names equal but for case) must be renamed; "
            "see docs/testing.md."
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
